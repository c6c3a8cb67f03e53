"""Images are shrunk for the detector band by band, to exactly PIL's own pixels.

``preprocess._shrink`` must give the detector the very canvas that one whole-image PIL
``resize(..., reducing_gap=2.0)`` gives (box-average by whole factors, then bilinear), for
factors on one axis or both, for views that are not contiguous (tiles), for sizes that the
factors do not divide, and for small images and enlargements (done whole).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edge_alpr.engine import preprocess
from edge_alpr.types import Box


def pil_resize(image: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(
        (w, h), Image.Resampling.BILINEAR, reducing_gap=2.0))


@pytest.mark.parametrize(("height", "width", "out_w", "out_h"), [
    (3000, 4000, 640, 480),    # a factor of 3 both ways, many bands
    (720, 1280, 320, 180),     # a camera frame to the detector canvas: 2 both ways, one band
    (5703, 7001, 320, 261),    # factors the sizes do not divide, partial last band
    (4000, 1001, 321, 1283),   # a factor on the height only
    (6000, 2000, 1999, 100),   # height shrunk 60x, width kept
    (2000, 6000, 100, 1999),   # width shrunk 60x, height kept
    (2100, 2000, 17, 5),       # factors far larger than a band is tall
    (1500, 3000, 3000, 1400),  # under 2x both ways: one bilinear resize
    (100, 100, 640, 640),      # small and enlarged: whole
])
def test_shrink_gives_pils_own_pixels(height: int, width: int, out_w: int, out_h: int) -> None:
    rng = np.random.default_rng(height * width)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image[: height // 2] = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    assert np.array_equal(preprocess._shrink(image, out_w, out_h), pil_resize(image, out_w, out_h))
    view = image[3:, 7:-3]  # a tile: not contiguous
    assert np.array_equal(preprocess._shrink(view, out_w, out_h), pil_resize(view, out_w, out_h))


def test_letterbox_of_a_large_image_is_unchanged() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (2500, 3000, 3), dtype=np.uint8)
    canvas, placed = preprocess.letterbox(image, 640)
    nh = round(2500 * placed.scale)
    expected = pil_resize(image, 640, nh)
    assert np.array_equal(canvas[placed.pad_y:placed.pad_y + nh], expected)


def test_a_vehicle_box_is_shrunk_as_pil_shrinks_its_crop() -> None:
    """``crop_shrink`` (the vehicle classifier's input): the clipped crop, PIL's own reduced pixels."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    box = Box(300, 100, 900, 600)
    shrunk = preprocess.crop_shrink(image, box, 64, 64)
    assert np.array_equal(shrunk, pil_resize(image[100:600, 300:900], 64, 64))
    assert not np.array_equal(shrunk, preprocess.crop_resize(image, box, 64, 64)), "a 9x shrink is box-averaged first"
    past_edge = preprocess.crop_shrink(image, Box(1000, 500, 1500, 900), 64, 64)
    assert np.array_equal(past_edge, pil_resize(image[500:720, 1000:1280], 64, 64)), "clipped to the image"


def _views(image: np.ndarray) -> list[np.ndarray]:
    """Windows of ``image`` as the pipeline cuts them, and views PIL cannot read row by row."""
    return [
        image,                      # contiguous
        image[40:95, 30:101],       # an inner tile
        image[60:, 90:],            # the bottom-right tile: its last row ends the buffer
        image[:1, 5:6],             # one pixel
        image[17:18],               # one whole row
        image[:, 119:],             # one column
        image[::-1],                # rows upside down: copied first
        image[:, :, ::-1],          # channels reversed: copied first
        image[::2, ::3],            # every other row and third column: copied first
    ]


def test_a_view_becomes_a_pil_image_of_its_very_pixels() -> None:
    """``_pil`` reads a window's rows in place; what it cannot read so it copies first."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)
    for view in _views(image):
        im = preprocess._pil(view)
        assert im.mode == "RGB" and im.size == (view.shape[1], view.shape[0])
        assert np.array_equal(np.asarray(im), view)


def test_a_plate_crop_at_the_image_edge_is_pils_resize_of_that_crop() -> None:
    """``crop_resize`` (the reader's input) of windows read in place: PIL's own bilinear pixels."""
    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for box in (Box(500, 400, 640, 480), Box(0, 0, 50, 20), Box(300, 200, 301, 201), Box(600, 470, 900, 900)):
        crop = image[box.ymin:min(box.ymax, 480), box.xmin:min(box.xmax, 640)]
        want = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((128, 40), Image.Resampling.BILINEAR))
        assert np.array_equal(preprocess.crop_resize(image, box, 128, 40), want)
