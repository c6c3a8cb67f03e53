"""Image decoding for requests and files: formats, EXIF orientation, a pixel limit.

The pixel limit is checked from the header before any pixel is decoded, so a small file that
declares a huge image (a decompression bomb) costs nothing.
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError

FORMATS = ("JPEG", "PNG", "BMP", "WEBP")
_EXIF_ORIENTATION = 0x0112  # the EXIF tag ImageOps.exif_transpose acts on


def decode(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode JPEG/PNG/BMP/WebP bytes to RGB uint8, upright per EXIF; raise ``InputError``."""
    if not data:
        raise InputError("the upload is empty; send a JPEG, PNG, BMP or WebP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=FORMATS)
            w, h = im.size
            if w * h > max_pixels:
                raise InputError(
                    f"image is {w}x{h} = {w * h} pixels, over the limit of {max_pixels}; "
                    "resize it or raise api.max_pixels in the config",
                    status=413,
                )
            im.load()
            # Each of these copies a camera frame (about 0.5 ms at 1280x720), so only when needed.
            upright: Image.Image = im
            if im.getexif().get(_EXIF_ORIENTATION, 1) != 1:
                upright = ImageOps.exif_transpose(im)
            rgb = upright if upright.mode == "RGB" else upright.convert("RGB")
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InputError(f"the upload is not a supported image ({e}); send JPEG, PNG, BMP or WebP") from e
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise InputError(f"the image is corrupt or truncated ({e}); send a complete JPEG, PNG, BMP or WebP") from e
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError("the image has no pixels")
    return arr
