"""The files ``edge-alpr read`` is given, judged before any model loads.

Why: loading the models takes seconds on a Pi, and the usual mistakes (a folder instead of its
images, a video, a file of another user) deserve a sentence that names the fix, not ``no such
file`` or a raw ``[Errno 13] Permission denied: '...'``.  A FIFO or a device is never opened for
reading: a FIFO with no writer would block ``read`` for ever.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

# a video is read by a camera of kind video (docs/cameras.md), not by ``read``
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".ts"})
_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_HEADER_BYTES = 12
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM")  # JPEG, PNG, BMP (WebP: RIFF....WEBP)
# ISO base media brands of video files (MP4, QuickTime, 3GP, DASH, Flash): images share the
# container (AVIF, HEIF, JPEG XL), so only a video brand makes a file a video
_VIDEO_BRANDS = frozenset((b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"qt  ", b"M4V ",
                           b"M4VP", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"avc1", b"dash", b"MSNV", b"f4v ",
                           b"mmp4"))


def problem(name: str, max_bytes: int | None = None) -> str | None:
    """Why ``read`` cannot read the image file ``name`` (the text after ``NAME: error: ``), or
    None when it can try: it exists, is a regular file this user may open, is no video, and has
    at most ``max_bytes`` (a file larger than any image of the allowed pixels would be read
    whole into memory before the decoder could refuse it)."""
    path = Path(name)
    try:
        st = path.stat()
    except OSError as e:
        return os_error_text(e, name)
    if stat.S_ISDIR(st.st_mode):
        return _directory(name)
    if not stat.S_ISREG(st.st_mode):
        kind = next((what for test, what in _NOT_REGULAR if test(st.st_mode)), "not a file")
        return f"not a regular file ({kind}): give an image file (JPEG, PNG, BMP or WebP)"
    if max_bytes is not None and st.st_size > max_bytes:
        return (f"{st.st_size} bytes, more than any image of the allowed pixels takes ({max_bytes} bytes; "
                f"api.max_pixels): give a smaller image")
    try:  # O_NONBLOCK: should it have become a FIFO since the stat, the open still returns
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        return os_error_text(e, name)
    try:
        header = os.read(fd, _HEADER_BYTES) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError as e:
        return os_error_text(e, name)
    finally:
        os.close(fd)
    if header.startswith(_IMAGE_MAGIC) or (header[:4] == b"RIFF" and header[8:12] == b"WEBP"):
        return None  # an image, whatever its name says: the decoder takes it from here
    video = _video_container(header) or (path.suffix.lower() if path.suffix.lower() in VIDEO_SUFFIXES else None)
    if video:
        return (f"a video ({video}), not an image: `read` reads images; a camera reads a video "
                f"(stream.cameras[].source: {{kind: video, path: {name}}}, docs/cameras.md)")
    return None


def os_error_text(e: OSError, name: str) -> str:
    """An ``OSError`` from reading ``name`` as one plain clause with its fix, without Python's
    ``[Errno N] ...: 'name'`` (the line already starts with the name)."""
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return "no such file"
    if e.errno in (errno.EACCES, errno.EPERM):
        return (f"cannot read: permission denied (give this user read access to {name} and "
                f"search access to each folder above it, e.g. chmod o+r, or run as a user who can)")
    if e.errno == errno.EISDIR:
        return _directory(name)
    return f"cannot read: {(e.strerror or str(e)).lower()}"


def _directory(name: str) -> str:
    """A folder given where images were meant: the glob that gives its images."""
    return f"is a directory (give image files, e.g. {name.rstrip('/')}/*.jpg)"


def _video_container(header: bytes) -> str | None:
    """The video container a file's first bytes announce (MP4/QuickTime, Matroska/WebM, AVI),
    so that a video is named as such whatever its suffix."""
    if header[4:8] == b"ftyp" and header[8:12] in _VIDEO_BRANDS:
        return "MP4/QuickTime"
    if header[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska/WebM"
    if header[:4] == b"RIFF" and header[8:12] == b"AVI ":
        return "AVI"
    return None
