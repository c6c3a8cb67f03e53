"""Decoded pixels are PIL's own, however they are packed into the array.

``imaging.decode`` packs a large image a band of rows at a time (to bound the memory it holds
at once) and converts other modes band by band; every path must give exactly what
``np.asarray(Image.open(...).convert("RGB"))`` gives, upright.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from edge_alpr import imaging


def scene(width: int, height: int, seed: int) -> Image.Image:
    """Noise over a ramp: every byte matters and no two rows are alike."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    pixels[: height // 3] = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    return Image.fromarray(pixels)


def encoded(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def pil_pixels(data: bytes) -> np.ndarray:
    """PIL's own upright RGB pixels of ``data``: the reference."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


# over the band size: several bands and a partial last one; under it: one piece
LARGE = (2311, imaging._BAND_PIXELS // 2311 + 777)
SMALL = (641, 359)


@pytest.mark.parametrize(("size", "mode", "fmt"), [
    (LARGE, "RGB", "JPEG"),
    (SMALL, "RGB", "JPEG"),
    (LARGE, "L", "JPEG"),     # grey: converted band by band
    (SMALL, "RGBA", "PNG"),
    (LARGE, "RGBA", "PNG"),
    (SMALL, "RGB", "BMP"),
])
def test_decoded_pixels_are_pils_own(size: tuple[int, int], mode: str, fmt: str) -> None:
    data = encoded(scene(*size, seed=size[0]).convert(mode), fmt)
    pixels = imaging.decode(data, 40_000_000)
    assert pixels.shape == (size[1], size[0], 3) and pixels.dtype == np.uint8
    assert np.array_equal(pixels, pil_pixels(data))


def test_a_large_rotated_photo_is_packed_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    data = encoded(scene(*LARGE, seed=5), "JPEG", exif=exif.tobytes())
    pixels = imaging.decode(data, 40_000_000)
    assert pixels.shape == (LARGE[0], LARGE[1], 3)
    assert np.array_equal(pixels, pil_pixels(data))
