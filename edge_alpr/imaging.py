"""Image decoding for requests and files: formats, EXIF orientation, a pixel limit, a budget.

The pixel limit is checked from the header before any pixel is decoded, so a small file that
declares a huge image (a decompression bomb) costs nothing: over ``max_pixels`` is a 413,
whatever the size (PIL's own bomb check, at 89 Mpx, would otherwise answer first and less
clearly).  A PNG must end with its IEND chunk: PIL decodes one cut short after its last pixel
row without complaint, and such a file is refused as truncated.  A file whose structure would
cost far more than its pixels (a JPEG of hundreds of scans, a PNG of millions of chunks) is
refused before it is opened (``image_structure``).

Memory: a decoded image costs 3 bytes a pixel, and decoding briefly takes up to 8 (PIL's own
4-byte pixels beside the array, made a band at a time), so an image at the default 20 Mpx limit
is 60 MB held and ~150 MB at its peak; the detector shrinks it a band at a time too
(``engine.preprocess``), so reading it adds little.  Many of them in parallel would exhaust a
1 GB board, so the server decodes and reads images under a ``PixelBudget``
(``api.decode_budget_pixels``, default 24 Mpx: one image at the limit and a camera-size one
beside it, or two 12 Mpx photos), and decodes one image larger than ``_BAND_PIXELS`` at a time,
so the 5 extra bytes a pixel of decoding are paid for one large image only (two 12 Mpx photos
decoded together peaked at +169 MiB, one after the other +127 MiB).  A request whose image does
not fit, or waits for the decoding of another large one, waits up to ``wait_s`` and is then
answered 503 with ``Retry-After``.  Measured, the service peaks at ~250 MiB under every attack at
once (``tests/test_api_bounded.py``).
"""

from __future__ import annotations

import io
import re
import struct
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import InputError
from .exif_orientation import upright_turn
from .image_structure import too_costly

FORMATS = ("JPEG", "PNG", "BMP", "WEBP")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_BAND_PIXELS = 4_000_000  # larger images are turned into arrays a band of rows at a time


@dataclass(frozen=True)
class Origin:
    """Where image bytes came from, as a decoding error calls them and what it asks for instead.

    Why: the API's client sends an upload, so its errors say "the upload" and "send"; ``edge-alpr
    read`` reads files a person named on the command line (which it names before each error),
    so its errors speak of the file and ask for another one, not for something to be sent.
    """

    name: str  # the bytes
    image: str  # the bytes opened as an image
    png: str  # the bytes opened as a PNG image
    fix: str  # the verb of the remedy


UPLOAD = Origin("the upload", "the image", "the PNG image", "send")
FILE = Origin("the file", "the file", "the PNG file", "use")


class PixelBudget:
    """At most ``limit`` pixels of images decoded or in use at once, over all threads.

    An image larger than the whole budget (possible only when the budget is configured below
    the pixel limit) runs when nothing else holds any.  Waiters are not queued in order: a
    small image may pass a large one that does not fit yet, which is what keeps camera frames
    flowing while a large upload is read.
    """

    def __init__(self, limit: int, wait_s: float = 1.0) -> None:
        self.limit, self.wait_s = limit, wait_s
        self.used = 0
        self._cond = threading.Condition()
        self._large = threading.Lock()  # held while an image over _BAND_PIXELS is decoded

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Hold ``pixels`` of the budget; ``InputError`` 503 if it cannot within ``wait_s``."""
        end = time.monotonic() + self.wait_s
        with self._cond:
            while self.used and self.used + pixels > self.limit:
                left = end - time.monotonic()
                if left <= 0:
                    raise InputError(
                        f"busy: images of {self.used} pixels are being read and this one has "
                        f"{pixels}, over the budget of {self.limit} (api.decode_budget_pixels); "
                        "retry in a moment", status=503)
                self._cond.wait(left)
            self.used += pixels
        try:
            yield
        finally:
            with self._cond:
                self.used -= pixels
                self._cond.notify_all()

    @contextmanager
    def decode_slot(self, pixels: int) -> Iterator[None]:
        """Decode an image over ``_BAND_PIXELS`` only when no other large one is being decoded.

        Why: decoding costs 8 bytes a pixel against 3 once done; two large decodes at once would
        pay the difference twice.  Small images (camera frames) never wait here.
        """
        if pixels <= _BAND_PIXELS:
            yield
            return
        if not self._large.acquire(timeout=self.wait_s):
            raise InputError(f"busy: another large image is being decoded and this one has "
                             f"{pixels} pixels; retry in a moment", status=503)
        try:
            yield
        finally:
            self._large.release()


def _too_large(w: int, h: int, max_pixels: int, setting: str) -> InputError:
    return InputError(f"image is {w}x{h} = {w * h} pixels, over the limit of {max_pixels}; "
                      f"resize it or raise {setting} in the config", status=413)


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, read without PIL."""
    if data[:8] == _PNG_MAGIC and data[12:16] == b"IHDR" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    return None


def _open(data: bytes, max_pixels: int, setting: str = "api.max_pixels", origin: Origin = UPLOAD) -> Image.Image:
    """The image (header read, no pixels yet), its size checked against ``max_pixels``."""
    if not data:
        raise InputError(f"{origin.name} is empty; {origin.fix} a JPEG, PNG, BMP or WebP image")
    png = _png_size(data)
    if png is not None and png[0] * png[1] > max_pixels:
        raise _too_large(png[0], png[1], max_pixels, setting)
    costly = too_costly(data)
    if costly is not None:
        raise InputError(f"{origin.image} {costly[0]}; {origin.fix} {costly[1]}")
    try:
        with warnings.catch_warnings():
            # our own limit applies, just below; PIL's error past 2x its own one still may fire
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as e:
        raise _bomb(e, max_pixels, setting) from e
    except UnidentifiedImageError as e:
        raise _unsupported(origin) from e
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise _corrupt(origin, e) from e
    w, h = im.size
    if w * h > max_pixels:
        raise _too_large(w, h, max_pixels, setting)
    if im.format == "PNG" and data.rfind(_PNG_IEND) < 0:
        raise InputError(f"{origin.png} is truncated (no IEND chunk at its end); {origin.fix} the "
                         "complete file")
    return im


def _bomb(error: Image.DecompressionBombError, max_pixels: int, setting: str) -> InputError:
    """PIL's refusal of a header past twice its own limit (~179 Mpx: a JPEG, WebP or BMP; a
    PNG's size is read before), said with this server's limit alone.  Why: quoted whole, it
    named PIL's 178956970 pixels as "the limit" beside this server's, and a "DOS attack"."""
    said = re.search(r"\((\d+) pixels\)", str(error))
    size = f"{said[1]} pixels" if said else "too large"
    return InputError(f"image is {size}, over the limit of {max_pixels}; resize it or raise "
                      f"{setting} in the config", status=413)


def _unsupported(origin: Origin) -> InputError:
    return InputError(f"{origin.name} is not a supported image; {origin.fix} JPEG, PNG, BMP or WebP")


def _corrupt(origin: Origin, error: BaseException) -> InputError:
    return InputError(f"{origin.image} is corrupt or truncated ({error}); {origin.fix} a complete JPEG, "
                      "PNG, BMP or WebP")


def _pixels(im: Image.Image, origin: Origin) -> np.ndarray:
    try:
        im.load()
        turn = upright_turn(im)
        arr = _as_rgb_array(im)
        if turn is not None:
            # Turned as an array, after PIL's copy (4 bytes a pixel) is freed: PIL's own turn
            # made a second such copy beside the first, and a 20 Mpx photo peaked at 220 MB
            # instead of 144 (the copy here, 3 bytes a pixel, keeps it at 144).
            im.close()
            arr = np.ascontiguousarray(turn(arr))
    except (Image.DecompressionBombError, UnidentifiedImageError) as e:
        raise _unsupported(origin) from e
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise _corrupt(origin, e) from e
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"{origin.image} has no pixels")
    return arr


def _as_rgb_array(im: Image.Image) -> np.ndarray:
    """``im`` as an RGB array, made a band of rows at a time when large.

    Whole, a conversion copies the image once in PIL and ``np.asarray`` again through a bytes
    object and a join (up to four times the image at once); in bands, only the array and one
    band are extra.
    """
    w, h = im.size
    if w * h <= _BAND_PIXELS:
        return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
    out = np.empty((h, w, 3), np.uint8)
    rows = max(1, _BAND_PIXELS // (4 * w))
    for top in range(0, h, rows):
        band = im.crop((0, top, w, min(h, top + rows)))
        out[top:top + rows] = np.asarray(band if band.mode == "RGB" else band.convert("RGB"))
    return out


def _decoded(im: Image.Image, origin: Origin = UPLOAD) -> np.ndarray:
    """The pixels, the PIL image closed (its own copy freed) as soon as they are out."""
    try:
        return _pixels(im, origin)
    finally:
        im.close()


def largest_file(max_pixels: int) -> int:
    """The most bytes an image file of at most ``max_pixels`` can take (16-bit RGBA stored
    uncompressed, and headers): a larger file is refused before it is read into memory."""
    return 8 * max_pixels + (1 << 20)


def decode(data: bytes, max_pixels: int, setting: str = "api.max_pixels", origin: Origin = UPLOAD) -> np.ndarray:
    """Decode JPEG/PNG/BMP/WebP bytes to RGB uint8, upright per EXIF; raise ``InputError``
    (``setting``: the config key of ``max_pixels``, named in the error; ``origin``: what the
    error calls the bytes)."""
    return _decoded(_open(data, max_pixels, setting, origin), origin)


@contextmanager
def decoding(data: bytes, max_pixels: int, budget: PixelBudget | None) -> Iterator[np.ndarray]:
    """``decode`` under ``budget``: its pixels stay held until the block ends."""
    im = _open(data, max_pixels)
    if budget is None:
        yield _decoded(im)
        return
    w, h = im.size
    try:
        with budget.hold(w * h):
            with budget.decode_slot(w * h):
                pixels = _decoded(im)
            yield pixels
    finally:
        im.close()  # also when the budget was not granted


def encode_jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    """RGB uint8 pixels as JPEG bytes (a camera frame sent where an API read sends its upload)."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(out, format="JPEG", quality=quality)
    return out.getvalue()
