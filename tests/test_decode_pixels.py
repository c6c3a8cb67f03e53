"""Decoded pixels are PIL's own, however they are packed into the array.

``imaging.decode`` packs a large image a band of rows at a time (to bound the memory it holds
at once) and converts other modes band by band; every path must give exactly what
``np.asarray(Image.open(...).convert("RGB"))`` gives, upright.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from edge_alpr import imaging

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.mark.parametrize("orientation", range(2, 9))
@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_every_orientation_is_turned_as_pils_own(orientation: int, size: tuple[int, int]) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encoded(scene(*size, seed=orientation), "PNG", exif=exif.tobytes())  # lossless
    assert np.array_equal(imaging.decode(data, 40_000_000), pil_pixels(data))


_PEAK = """
import io, resource, sys
from PIL import Image
from edge_alpr import imaging
exif = Image.Exif()
exif[0x0112] = int(sys.argv[1])
out = io.BytesIO()
Image.new("RGB", (5000, 4000), (80, 90, 100)).save(out, "JPEG", quality=30, exif=exif.tobytes())
data = out.getvalue()
start = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
imaging.decode(data, 40_000_000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the memory in /proc")
def test_a_turned_photo_takes_no_more_memory_than_an_upright_one() -> None:
    """Each in a fresh process, the peak above the start in KB: a 20 Mpx photo to be turned
    peaked 76 MB higher (PIL's turned copy beside its first, 4 bytes a pixel each)."""
    def peak(orientation: int) -> int:
        run = subprocess.run([sys.executable, "-c", _PEAK, str(orientation)], capture_output=True,
                             text=True, timeout=120, cwd=ROOT, check=True)
        return int(run.stdout.split()[-1])
    upright = peak(1)
    assert peak(6) < upright + 20_000, upright
