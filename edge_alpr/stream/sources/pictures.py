"""A folder camera's file read into a picture: the checks before it is opened, its bytes read
once, and a JPEG still being filled in told from a whole one.

Why a module apart from ``paths.py``: these need the decoder (PIL, numpy), which ``check-config``
(it imports ``paths``) must not load.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from ...errors import InputError
from ...imaging import FILE, decode, largest_file


class PictureError(InputError):
    """A file that is no picture to read now (``read_picture``); ``st``: the size and times of
    what was read, for its mark."""

    def __init__(self, message: str, st: os.stat_result) -> None:
        super().__init__(message)
        self.st = st


def not_to_open(st: os.stat_result, max_pixels: int) -> str | None:
    """Why a file (``st``: stat-ed by its path) is skipped unopened, None where it is opened: not a
    regular file (a FIFO named ``x.jpg`` would block the capture thread for ever), or larger than
    an image of at most ``max_pixels`` can be (read into memory for nothing)."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size > largest_file(max_pixels):
        return f"{st.st_size} bytes, too large for an image of at most {max_pixels} pixels (max_pixels)"
    return None


def read_picture(path: Path, max_pixels: int) -> tuple[np.ndarray, os.stat_result]:
    """A file's picture (``imaging.decode``: at most ``max_pixels``), with the size and times of
    what was read (``read_once``); a file that cannot be decoded, or a JPEG still being filled
    in (``zero_filled``), is a ``PictureError``."""
    data, st = read_once(path, largest_file(max_pixels))
    body = zero_filled(data)
    try:
        # the zeros but 16 (the decoder's look-ahead: without them a whole picture reads as cut short)
        whole = data if body is None else data[:len(body) + 16]
        return decode(whole, max_pixels, "the folder source's max_pixels", FILE), st
    except InputError as e:
        if body is None:
            raise PictureError(str(e), st) from e
        raise PictureError(f"a JPEG whose last {len(data) - len(body)} bytes are zeros, cut short before "
                           f"them: still being written (its size set first, as a copy over SMB does), or "
                           f"cut short", st) from e


def read_once(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """A file's bytes (at most ``limit`` + 1), with the size and times of what was read: those of
    the open descriptor, not of the path.  Why: a file stat-ed by its path, then read, and
    replaced between the two (an uploader renaming a new picture over it) was recorded read with
    the old file's size and time though its bytes were the new one's, and that new picture was
    read again at the next scan.  Opened non-blocking: a FIFO put there since is no wait."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        data = f.read(limit + 1) if stat.S_ISREG(st.st_mode) else b""
    return data, st


def zero_filled(data: bytes) -> bytes | None:
    """The bytes before the zeros that end ``data``, a JPEG, where it may be one still being
    written: it ends in 16 zero bytes or more, and no end marker (FFD9) follows its last scan
    (FFDA); None where it is not so.  Why: a copy from Windows over SMB sets the file's size first
    and fills it in (the rest reads as zeros), and a decoder takes zeros for picture data: a copy
    that paused for two scans gave half a picture, then the whole one once its time changed.
    Decoded without the zeros (but 16), such a file is cut short (``imaging.decode`` refuses it),
    while a whole picture whose writer left out the end marker and padded it decodes (a
    progressive one does not: PIL needs its end marker).  Zeros after the end marker, or after
    data appended past it (a trailer), are no sign: such files were never read."""
    if not data.startswith(b"\xff\xd8") or len(data) < 16 or any(data[-16:]):
        return None
    body = data.rstrip(b"\0")
    scan = body.rfind(b"\xff\xda")
    if scan < 0 or body.find(b"\xff\xd9", scan) >= 0:
        return None
    return body
