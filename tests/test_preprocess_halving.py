"""The detector canvas made in numpy (``halving``) holds exactly PIL's pixels.

The reference is PIL itself: one ``resize(..., reducing_gap=2.0)`` of the whole image (the
shrink the detector was trained with), never the numpy code.  Sizes that the numpy path takes
(16:9 frames to the 320 px canvas, both pass orders Pillow picks) and sizes it leaves to PIL
(other scales, odd sizes, grey and RGBA) must all come out the same; the real scenes in
tests/data are shrunk at their own size and as camera frames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_alpr.engine import halving, preprocess

SCENES = sorted((Path(__file__).parent / "data" / "detection").glob("*/images/*.jpg"))


def pil_resize(image: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(
        (w, h), Image.Resampling.BILINEAR, reducing_gap=2.0))


def pil_letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """The canvas as PIL alone makes it: the image's shrink, centred on grey 114."""
    h, w = image.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = Image.new("RGB", (size, size), (114, 114, 114))
    canvas.paste(Image.fromarray(pil_resize(image, nw, nh)), ((size - nw) // 2, (size - nh) // 2))
    return np.asarray(canvas)


def noise(height: int, width: int, seed: int) -> np.ndarray:
    """Noise over a hard black/white edge and a smooth ramp: every rounding case shows."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image[: height // 4] = 255
    image[height // 4 : height // 3] = 0
    image[:, : width // 5] = np.linspace(0, 255, height, dtype=np.uint8)[:, None, None]
    return image


def taken(image: np.ndarray, out_w: int, out_h: int) -> bool:
    """Whether ``preprocess._shrink`` gives this shrink to the numpy path."""
    h, w = image.shape[:2]
    kx, ky = max(1, int(w / out_w / 2.0)), max(1, int(h / out_h / 2.0))
    return halving.shrink(image, kx, ky, out_w, out_h, preprocess._pil_shrinker(kx, ky, out_w, out_h)) is not None


@pytest.mark.parametrize(("height", "width", "out_w", "out_h", "numpy_path"), [
    (720, 1280, 320, 180, True),    # the common camera frame: reduce 2, then halve
    (1080, 1920, 320, 180, True),   # reduce 3 (PIL's multiplier rounding)
    (1440, 2560, 320, 180, True),   # reduce 4
    (2160, 3840, 320, 180, False),  # over 4 MP: PIL, in bands
    (480, 640, 320, 240, True),     # no reduce, a plain halving
    (960, 1280, 320, 240, True),    # 4:3 reduce 2
    (80, 20, 10, 40, True),         # tall: Pillow halves the columns first
    (600, 200, 50, 150, True),      # tall, with a reduce
    (4, 4, 2, 2, True),             # the smallest: two outputs, no inner one
    (1200, 1600, 320, 240, False),  # 2.5x after the reduce: PIL
    (721, 1281, 320, 180, False),   # odd sizes: PIL
    (7, 5, 3, 2, False),            # tiny and odd: PIL
    (288, 512, 320, 180, False),    # a tile: enlarged, PIL
])
def test_shrink_is_pils_at_every_size(height: int, width: int, out_w: int, out_h: int, numpy_path: bool) -> None:
    image = noise(height, width, height * width)
    assert taken(image, out_w, out_h) is numpy_path
    assert np.array_equal(preprocess._shrink(image, out_w, out_h), pil_resize(image, out_w, out_h))
    view = noise(height + 3, width + 5, 1)[3:, 2:-3]  # a tile of a larger frame: not contiguous
    assert np.array_equal(preprocess._shrink(view, out_w, out_h), pil_resize(view, out_w, out_h))


@pytest.mark.parametrize(("kx", "ky"), [
    (2, 2), (3, 3), (4, 4), (5, 5), (7, 7), (16, 16), (1, 3), (3, 1), (2, 3), (1, 1),
])
def test_every_reduce_factor_rounds_as_pil(kx: int, ky: int) -> None:
    """PIL rounds a block sum by a shift or by a multiplier, per factor: both, and uneven factors."""
    out_w, out_h = 9, 7
    image = noise(2 * out_h * ky, 2 * out_w * kx, kx * 31 + ky)
    want = np.asarray(Image.fromarray(image).reduce((kx, ky)).resize(
        (out_w, out_h), Image.Resampling.BILINEAR, box=(0, 0, 2 * out_w, 2 * out_h)))
    got = halving.shrink(image, kx, ky, out_w, out_h, preprocess._pil_shrinker(kx, ky, out_w, out_h))
    assert got is not None and np.array_equal(got, want)


@pytest.mark.parametrize("size", [None, (1280, 720), (1920, 1080), (640, 480), (1600, 1200), (1279, 719)])
def test_the_real_scenes_get_pils_canvas(size: tuple[int, int] | None) -> None:
    assert SCENES, "the detection fixtures are missing"
    for path in SCENES:
        im = Image.open(path).convert("RGB")
        image = np.asarray(im if size is None else im.resize(size, Image.Resampling.BILINEAR))
        canvas, _ = preprocess.letterbox(image, 320)
        assert np.array_equal(canvas, pil_letterbox(image, 320)), path.name


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grey_and_rgba_are_left_to_pil(mode: str) -> None:
    """Only RGB takes the numpy path; other images keep PIL's own handling (alpha premultiplied)."""
    image = np.asarray(Image.fromarray(noise(720, 1280, 5)).convert(mode))
    if mode == "RGBA":
        image = image.copy()
        image[..., 3] = np.arange(1280, dtype=np.uint16)[None, :] % 256
    assert halving.shrink(image, 2, 2, 320, 180, preprocess._pil_shrinker(2, 2, 320, 180)) is None
    want = Image.fromarray(image).reduce(2).resize((320, 180), Image.Resampling.BILINEAR, box=(0, 0, 640, 360))
    assert np.array_equal(preprocess._shrink(image, 320, 180), np.asarray(want))


@pytest.mark.parametrize("change", [
    lambda out: np.where(out == 128, 129, out).astype(np.uint8),  # a mid-grey rounded the other way
    lambda out: np.minimum(out, 254),                             # white clipped
    lambda out: np.maximum(out, 1),                               # black lifted
])
def test_a_pillow_it_does_not_match_gets_pils_path(change: Callable[[np.ndarray], np.ndarray]) -> None:
    """The numpy path checks itself once per size against the PIL path it stands for; a PIL whose
    pixels it cannot make (here one that rounds some values differently) keeps PIL's path."""
    image = noise(720, 1280, 9)

    def other_pil(img: np.ndarray) -> np.ndarray:
        return change(pil_resize(img, 320, 180))

    assert halving.shrink(image, 2, 2, 320, 180, other_pil) is None
    assert halving.shrink(image, 2, 2, 320, 180, preprocess._pil_shrinker(2, 2, 320, 180)) is not None
