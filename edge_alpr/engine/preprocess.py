"""The one place where pixels are prepared for a model.

Training, evaluation and serving all call these functions, so a model always sees exactly the
preprocessing it was trained with.  Models take raw uint8 RGB (the /255 scaling is inside the
model), so preprocessing is geometry only: letterbox for the detector, crop+resize for the
reader, crop+shrink for the vehicle box around a plate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np
from PIL import Image

from ..types import Box
from . import halving

# Bilinear keeps small plate strokes; it is what training used, so do not change it alone.
_RESAMPLE = Image.Resampling.BILINEAR
_BAND_PIXELS = 4_000_000  # a large image is box-averaged a band of rows at a time (see ``_shrink``)
REDUCING_GAP = 2.0  # the least shrink left to the bilinear pass after box-averaging


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed on the detector canvas, to map boxes back."""

    scale: float
    pad_x: int
    pad_y: int

    def to_image(self, x: float, y: float) -> tuple[float, float]:
        """Canvas coordinates -> original image coordinates."""
        return (x - self.pad_x) / self.scale, (y - self.pad_y) / self.scale

    def to_canvas(self, x: float, y: float) -> tuple[float, float]:
        """Original image coordinates -> canvas coordinates."""
        return x * self.scale + self.pad_x, y * self.scale + self.pad_y


def letterbox(image: np.ndarray, size: int, fill: int = 114) -> tuple[np.ndarray, Letterbox]:
    """Fit ``image`` (HxWx3 uint8) into a ``size`` x ``size`` canvas keeping the aspect ratio."""
    return letterbox_to(image, size, size, fill)


def letterbox_to(image: np.ndarray, width: int, height: int, fill: int = 114) -> tuple[np.ndarray, Letterbox]:
    """Fit ``image`` into a ``width`` x ``height`` canvas keeping the aspect ratio, centred."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = _shrink(image, nw, nh)
    canvas = np.full((height, width, 3), fill, dtype=np.uint8)
    px, py = (width - nw) // 2, (height - nh) // 2
    canvas[py : py + nh, px : px + nw] = resized
    return canvas, Letterbox(scale=scale, pad_x=px, pad_y=py)


def _shrink(image: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """``image`` resized to ``out_w`` x ``out_h`` (the detector canvas, a vehicle box).

    A bilinear downscale by a large factor is slow (PIL widens the filter with the factor: from
    a 1280x720 frame to 320 px each output pixel weighs 8 inputs per axis), so the image is first
    box-averaged by the whole factors (one per axis) that leave at least ``REDUCING_GAP`` of the
    shrink to the bilinear pass (``Image.reduce``), which then maps the exact reduced box: the
    same pixels as PIL's ``resize(..., reducing_gap=2.0)``, 0.3 grey levels (mean) from a plain
    bilinear, and a 1280x720 frame's letterbox in 3.0 instead of 3.7 ms (1600x1200: 5.6 instead
    of 7.1 ms).  The averaging runs on bands of whole row blocks, so a large upload never has a
    whole-image PIL copy (4 bytes a pixel) beside its array; the result is the same as one
    ``reduce``.  An image that fits one band stays in PIL between the two passes (a 1280x720
    frame's shrink in 2.0 instead of 2.3 ms).  Without a factor (under 4x the canvas each way) it
    is one bilinear ``resize``.  Where the reduce leaves exactly twice the output (a 16:9 frame
    to the detector canvas: 1280x720, 1920x1080, 2560x1440), ``halving`` makes the same pixels
    in numpy in about two thirds of the time (1280x720: 2.4 against 3.6 ms on one x86 thread).
    """
    h, w = image.shape[:2]
    kx, ky = max(1, int(w / out_w / REDUCING_GAP)), max(1, int(h / out_h / REDUCING_GAP))
    fast = halving.shrink(image, kx, ky, out_w, out_h, _pil_shrinker(kx, ky, out_w, out_h))
    return _pil_shrink(image, kx, ky, out_w, out_h) if fast is None else fast


@lru_cache(maxsize=32)
def _pil_shrinker(kx: int, ky: int, out_w: int, out_h: int) -> Callable[[np.ndarray], np.ndarray]:
    """``_pil_shrink`` at these factors and size, one function per size (``halving`` checks
    itself against it once per size)."""
    return partial(_pil_shrink, kx=kx, ky=ky, out_w=out_w, out_h=out_h)


def _pil_shrink(image: np.ndarray, kx: int, ky: int, out_w: int, out_h: int) -> np.ndarray:
    """``_shrink`` by PIL: box-average by (kx, ky), then bilinear (see ``_shrink``)."""
    h, w = image.shape[:2]
    if kx == ky == 1:
        return np.asarray(_pil(image).resize((out_w, out_h), _RESAMPLE))
    step = max(1, _BAND_PIXELS // (4 * w) // ky) * ky
    if step >= h:  # one band: the reduced image stays in PIL for the bilinear pass (no array trip)
        reduced_im = _pil(image).reduce((kx, ky))
    else:
        reduced = np.empty((-(-h // ky), -(-w // kx), 3), np.uint8)
        for top in range(0, h, step):
            band = _pil(image[top : top + step]).reduce((kx, ky))
            reduced[top // ky : top // ky + band.height] = np.asarray(band)
        reduced_im = Image.fromarray(reduced)
    box = (0.0, 0.0, w / kx, h / ky)
    return np.asarray(reduced_im.resize((out_w, out_h), _RESAMPLE, box=box))


def _pil(image: np.ndarray) -> Image.Image:
    """``image`` (HxWx3 uint8, a whole image or a view of a window of one) as a PIL image, read
    straight from its rows.

    Why: ``Image.fromarray`` needs contiguous pixels, so a tile, band or crop (a view into the
    frame) was first copied whole into a contiguous array, then into the image; PIL's raw decoder
    steps over the frame's rows itself, so each pixel is copied once (the new image is still
    zero-filled first: that much is the same both ways).  A 1538x1153 tile of a 4000x3000 photo
    took 1.3 ms that way against 0.9 ms here (one x86 thread), the very same pixels.
    """
    h, w = image.shape[:2]
    step = image.strides[0]
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or not h * w or (
            image.strides[1:] != (3, 1) or step < 3 * w):
        return Image.fromarray(np.ascontiguousarray(image))
    # a colour of None is no fill of Pillow's own, yet its allocator hands over zeroed memory:
    # every pixel is written below all the same
    im = Image.new("RGB", (w, h), None)
    # the bytes from the first pixel to the last, rows ``step`` apart (within the frame's buffer)
    rows = np.lib.stride_tricks.as_strided(image, shape=((h - 1) * step + 3 * w,), strides=(1,), writeable=False)
    im.frombytes(rows, "raw", "RGB", step)
    return im


def expand(box: Box, margin_x: float, margin_y: float, width: int, height: int) -> Box:
    """Grow ``box`` by a fraction of its size on each side, clipped to the image."""
    mx, my = box.width * margin_x, box.height * margin_y
    return Box(
        max(0, int(round(box.xmin - mx))),
        max(0, int(round(box.ymin - my))),
        min(width, int(round(box.xmax + mx))),
        min(height, int(round(box.ymax + my))),
    )


def crop_resize(image: np.ndarray, box: Box, out_w: int, out_h: int) -> np.ndarray:
    """Crop ``box`` (clipped) and stretch it to ``out_w`` x ``out_h`` (uint8 RGB)."""
    return np.asarray(_pil(_cut(image, box)).resize((out_w, out_h), _RESAMPLE))


def _cut(image: np.ndarray, box: Box) -> np.ndarray:
    """The pixels of ``box`` clipped to the image (at least one pixel)."""
    h, w = image.shape[:2]
    x1, y1 = max(0, min(box.xmin, w - 1)), max(0, min(box.ymin, h - 1))
    x2, y2 = max(x1 + 1, min(box.xmax, w)), max(y1 + 1, min(box.ymax, h))
    return image[y1:y2, x1:x2]


def crop_shrink(image: np.ndarray, box: Box, out_w: int, out_h: int) -> np.ndarray:
    """``crop_resize`` for a box many times the output size, as ``_shrink`` makes the detector canvas.

    Why: the vehicle box around a plate in a camera frame is hundreds of pixels across and a
    64 px input; one bilinear pass over it weighs every output pixel on dozens of inputs per axis
    (about 1.9 ms per 1280x720 frame's vehicle), box-averaging first gives the same low-pass
    picture in a fraction of it.
    """
    return _shrink(_cut(image, box), out_w, out_h)


def resize(image: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Stretch a whole crop to the model size (training reads ready-made crops)."""
    return np.asarray(Image.fromarray(image).resize((out_w, out_h), _RESAMPLE))
