"""The detector canvas of a camera frame in numpy: PIL's own pixels, without PIL's per-pixel cost.

Why: the whole-image letterbox of a 16:9 frame (1280x720, 1920x1080, 2560x1440 ...) to the
320 px canvas is PIL's ``reduce`` by a whole factor to twice the canvas, then a bilinear halving
(``preprocess._shrink``).  In PIL that is about 3 ms of a 1280x720 frame (a copy to 4 bytes a
pixel, the reduce, the resample), the largest cost of a frame after the models.  Both steps are
fixed-point integer arithmetic whose every rounding is known, so they can be done on whole rows
at once and give the very same bytes:

* ``reduce`` by (kx, ky): the sum of each block, then ``((sum + n // 2) * m) >> 24`` with PIL's
  multiplier ``m`` (a shift where n = kx * ky is a power of two);
* bilinear halving with an exact box: every inner output is ``(a + 3b + 3c + d + 4) >> 3`` of its
  four inputs, the first and last ``(3/7, 3/7, 1/7)`` in PIL's 22-bit fixed point; along the
  rows and along the columns, each pass rounded to 8 bits, in the order this Pillow takes
  (checked once per size against PIL itself: ``_order``).

Pixels are carried as one 64-bit word of four 16-bit lanes (R, G, B and a spare), so one numpy
operation adds, scales and shifts all three channels of a pixel: no sum here exceeds 16 bits.
Anything else (other scales, grey or RGBA, sizes the factors do not divide, images over
``MAX_PIXELS``) returns ``None`` and is left to PIL.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

MAX_PIXELS = 4_000_000  # larger images are shrunk in bands by PIL (preprocess._BAND_PIXELS)
_FIX = 1 << 22  # PIL's fixed-point one for 8-bit resampling (PRECISION_BITS)
# PIL's weights of the first output of a bilinear halving: taps 0, 1, 2 weigh 0.75, 0.75, 0.25 of 1.75
_EDGE_NEAR = int(0.5 + 0.75 / 1.75 * _FIX)
_EDGE_FAR = int(0.5 + 0.25 / 1.75 * _FIX)


def _lanes(*values: int) -> np.uint64:
    """A 64-bit word holding ``values`` in its four 16-bit lanes, in memory order (any byte order)."""
    return np.array(values, np.uint16).view(np.uint64)[0]


_LOW8 = _lanes(0xFF, 0xFF, 0xFF, 0xFF)
_FOUR = _lanes(4, 4, 4, 4)


def shrink(image: np.ndarray, kx: int, ky: int, out_w: int, out_h: int,
           pil: Callable[[np.ndarray], np.ndarray]) -> np.ndarray | None:
    """PIL's ``reduce((kx, ky))`` then bilinear ``resize((out_w, out_h), box=whole)`` of ``image``,
    or ``None`` where this is not exactly a whole-factor reduce to twice ``out_w`` x ``out_h``, or
    where this Pillow's pixels were not matched (``pil``: that PIL path, for the check)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        return None
    h, w = image.shape[:2]
    if (h * w > MAX_PIXELS or w % kx or h % ky or w // kx != 2 * out_w or h // ky != 2 * out_h
            or min(out_w, out_h) < 2 or kx * ky > 256):
        return None
    rows_first = _order(h, w, kx, ky, pil)
    return None if rows_first is None else _run(image, kx, ky, rows_first)


@lru_cache(maxsize=32)
def _order(h: int, w: int, kx: int, ky: int, pil: Callable[[np.ndarray], np.ndarray]) -> bool | None:
    """Whether PIL halves along rows first (True) or columns first (False) at this size; ``None``
    where neither order gives PIL's pixels.

    Why: Pillow picks the order of its two passes by the sizes (and has changed the rule between
    versions), and the rounding between the passes makes the order show in the pixels.  One
    noise image of the very size, shrunk both ways and by PIL, settles it once per size.
    """
    noise = np.frombuffer(np.random.default_rng(h * 65_537 + w).bytes(h * w * 3), np.uint8).reshape(h, w, 3).copy()
    noise[: h // 4] = 255  # saturated and black bands and a ramp: the rounding at both ends
    noise[h // 4 : h // 3] = 0
    noise[:, : w // 5] = np.linspace(0, 255, h, dtype=np.uint8)[:, None, None]
    want = pil(noise)
    matches = [order for order in (True, False) if np.array_equal(_run(noise, kx, ky, order), want)]
    return matches[0] if len(matches) == 1 else None


def _run(image: np.ndarray, kx: int, ky: int, rows_first: bool) -> np.ndarray:
    """The shrink in numpy: reduce, then halve along the rows (each row's pixels) and the columns."""
    packed = _reduced(image, kx, ky)
    packed = _halve(_halve(packed, axis=1), axis=0) if rows_first else _halve(_halve(packed, axis=0), axis=1)
    out_h, out_w = packed.shape
    return packed.view(np.uint16).reshape(out_h, out_w, 4)[..., :3].astype(np.uint8)


def _reduced(image: np.ndarray, kx: int, ky: int) -> np.ndarray:
    """PIL's ``reduce((kx, ky))`` of ``image`` (sizes divisible), packed: (h / ky, w / kx) words."""
    h, w = image.shape[:2]
    rows = h // ky
    buf = np.zeros(rows * w * 3 + 4, np.uint16)  # the spare lane of the last pixel reads past the end
    sums = buf[: rows * w * 3].reshape(rows, w, 3)
    if ky == 1:
        np.copyto(sums, image, casting="safe")
    else:
        np.add(image[0::ky], image[1::ky], out=sums, dtype=np.uint16)
        for j in range(2, ky):
            sums += image[j::ky]
    cols = w // kx

    def column(j: int) -> np.ndarray:
        """Pixel kx*i + j of each row as one word read from its R (its spare lane: the next pixel's R)."""
        return np.ndarray((rows, cols), np.uint64, buf, offset=6 * j, strides=(6 * w, 6 * kx))

    packed = column(0) + column(1) if kx > 1 else column(0).copy()
    for j in range(2, kx):
        packed += column(j)
    n = kx * ky
    if n == 1:
        packed &= _LOW8
    elif n & (n - 1) == 0:
        packed += _lanes(*(n // 2,) * 4)
        packed >>= np.uint64(n.bit_length() - 1)
        packed &= _LOW8
    else:
        lanes = packed.view(np.uint16)
        lanes[:] = _rounding(n)[lanes]
    return packed


@lru_cache(maxsize=16)
def _rounding(n: int) -> np.ndarray:
    """PIL's ``reduce`` result for every block sum of ``n`` pixels: ``((sum + n // 2) * m) >> 24``,
    ``m`` = 2**32 / (256 n) divided in single precision and truncated, as PIL computes it."""
    m = int(np.float32(2.0**32) / np.float32(256 * n))
    sums = np.arange(255 * n + 1, dtype=np.uint64)
    return (((sums + np.uint64(n // 2)) * np.uint64(m)) >> np.uint64(24)).astype(np.uint16)


def _halve(packed: np.ndarray, axis: int) -> np.ndarray:
    """PIL's bilinear halving of ``packed`` along ``axis`` (its box the whole image), rounded to 8 bits."""
    def at(index: int | slice) -> tuple[int | slice, ...]:
        return (index,) if axis == 0 else (slice(None), index)

    # Along the rows the words are taken as one flat run: a sum that crosses into the next row
    # lands on a row's first or last output, which the edge weights below replace.
    src = packed if axis == 0 else packed.reshape(-1)
    even, odd = src[0::2], src[1::2]
    out = even + odd
    out *= np.uint64(3)
    out += _FOUR
    out[1:] += odd[:-1]
    out[:-1] += even[1:]
    out >>= np.uint64(3)
    out &= _LOW8
    if axis == 1:
        out = out.reshape(packed.shape[0], -1)
    lanes = out.view(np.uint16).reshape(*out.shape, 4)
    lanes[at(0)] = _edge(packed[at(0)], packed[at(1)], packed[at(2)])
    lanes[at(-1)] = _edge(packed[at(-1)], packed[at(-2)], packed[at(-3)])
    return out


def _edge(near: np.ndarray, next_: np.ndarray, far: np.ndarray) -> np.ndarray:
    """An outermost output: its two nearest inputs at 3/7, the third at 1/7 (PIL's fixed point)."""
    def lanes(p: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(p).view(np.uint16).reshape(-1, 4).astype(np.int64)

    acc = (lanes(near) + lanes(next_)) * _EDGE_NEAR + lanes(far) * _EDGE_FAR + _FIX // 2
    return np.clip(acc >> 22, 0, 255).astype(np.uint16)
