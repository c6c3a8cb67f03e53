"""The EXIF orientation of a photo: the turn that shows its pixels upright.

Read here, not with ``ImageOps.exif_transpose``, which writes the whole EXIF block out again
for its turned copy (see ``upright_turn``); beside it, the filter that keeps PIL's words on each
EXIF tag it skips out of the journal.
"""

from __future__ import annotations

import numbers
import struct
import warnings
from collections.abc import Callable

import numpy as np
from PIL import Image

# PIL warns of each odd EXIF tag it skips (one whose data lies past the file's end, ...), in
# words of its own for each tag, and Python prints each distinct warning once to stderr (the
# journal): an 850 KB PNG of 60,000 such tags wrote 120,000 lines (12 MB) there and took 0.73 s
# to read instead of 0.24.  What PIL cannot read either raises (a 400) or is skipped, so these
# say nothing an operator could act on.  Only these messages of its TIFF directory reader are
# ignored, and behind the filters already set (append): PIL's other warnings are shown, and a
# -W or PYTHONWARNINGS of the user's still decides.  Why not ``warnings.catch_warnings`` around
# the read: before Python 3.14 it swaps the process's one filter list, and two requests decoded
# at once could each restore the other's list, leaving a filter set for good or dropping one.
warnings.filterwarnings(
    "ignore", r"(Possibly corrupt|Corrupt) EXIF data|Tag data larger than file|Tag offset too large|"
    r"Metadata Warning|Truncated File Read", UserWarning, r"PIL\.TiffImagePlugin\Z", append=True)
_EXIF_ORIENTATION = 0x0112  # the EXIF tag that says how to turn the stored pixels upright
# each orientation's turn of the pixel rows and columns, as ImageOps.exif_transpose turns them
# (1 and any other value: none)
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1)}


def upright_turn(im: Image.Image) -> Callable[[np.ndarray], np.ndarray] | None:
    """The turn that shows ``im`` upright, from its EXIF orientation (None: as stored).

    Why not ``ImageOps.exif_transpose``: it also writes the EXIF block out again for the turned
    copy, which fails on tags of an unexpected type (an XResolution stored as bytes raised a
    TypeError: a 1 KB photo was a 500), and only the pixels are used here.  An EXIF block that
    cannot be read at all (a bad TIFF header) leaves the image as stored: its pixels are whole,
    as viewers show them, and the metadata is not what was sent to be read.
    """
    try:
        orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, TypeError, KeyError, IndexError):
        return None
    turn = _whole(orientation)
    return None if turn is None else _UPRIGHT.get(turn)


def _whole(value: object) -> int | None:
    """``value`` as a whole number (an orientation stored as a SHORT, or as a FLOAT or RATIONAL
    ``6.0``, which ``ImageOps.exif_transpose`` turned too); None for anything else (text, a tuple,
    ``6.5``, a rational over 0)."""
    if not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return int(number) if number.is_integer() else None
