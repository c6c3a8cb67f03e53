"""What an image file's structure would cost to open and decode, bounded before it is opened.

Why: some costs grow with a file's structure, not with its pixels, and a small or ordinary-size
file can ask for minutes of a worker:

* libjpeg decodes each scan of a progressive JPEG over the whole image, and a scan that codes
  nothing takes a few bytes: 10 MB of them (170,000 scans) kept a core busy for most of an hour
  at 20 Mpx (17 ms a scan), 33 s at 1280x720.  Encoders write 10 (libjpeg, jpegtran) to a few
  dozen; at most ``MAX_JPEG_SCANS`` are accepted.  The markers are counted in the bytes
  (entropy-coded data never holds one: its 0xFF bytes are stuffed), which also counts those of
  an EXIF thumbnail or of images appended after the first (a phone's gain map).
* PIL walks a JPEG's markers up to its first scan, and every chunk of a PNG, in Python, holding
  the interpreter's lock: 10 MB of empty comment segments took 5 s, 3 MB of 0xFF fill bytes 3 s,
  10 MB of empty PNG chunks 3.8 s.  Encoders write a few dozen segments before the first scan,
  and PNG chunks of 8 KB or more (libpng's IDAT size), so ``MAX_JPEG_STEPS`` and
  ``png_chunk_limit`` leave room to spare; the walk here stops at the bound, so it costs
  little more than a millisecond.
* PIL decodes a run-length-encoded BMP in Python, padding each row's end a pixel at a time: a
  21 KB file of 4000x5000 pixels, every row ended at once, took 8 s.  Such a BMP is read up to
  ``MAX_RLE_BMP_PIXELS`` (0.4 s); uncompressed ones, which cameras write, are decoded in C.
"""

from __future__ import annotations

MAX_JPEG_SCANS = 100
MAX_JPEG_STEPS = 10_000  # marker segments and 0xFF fill bytes before a JPEG's first scan
PNG_CHUNK_BYTES = 2048  # a PNG may hold one chunk per this many bytes, beyond ``MIN_PNG_CHUNKS``
MIN_PNG_CHUNKS = 2000
MAX_RLE_BMP_PIXELS = 1_000_000
_BMP_RLE = (1, 2)  # BI_RLE8, BI_RLE4
_JPEG_SOI, _JPEG_SOS = b"\xff\xd8", b"\xff\xda"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def too_costly(data: bytes) -> tuple[str, str] | None:
    """Why opening ``data`` would cost far more than its pixels, and what to do about it (each
    to follow "the image" and "send"/"use" in a message); None when it would not."""
    if data[:2] == _JPEG_SOI:
        scans = data.count(_JPEG_SOS)
        if scans > MAX_JPEG_SCANS:
            return (f"is a progressive JPEG of more than {MAX_JPEG_SCANS} scans ({scans} start-of-scan "
                    "markers), each a pass over every pixel",
                    "it saved as a baseline JPEG (or with the usual 10 scans)")
        if jpeg_steps(data) > MAX_JPEG_STEPS:
            return (f"has more than {MAX_JPEG_STEPS} marker segments or fill bytes before its first scan "
                    "(an encoder writes a few dozen)", "it saved again by an ordinary encoder")
    elif data[:8] == _PNG_MAGIC:
        limit = png_chunk_limit(len(data))
        if png_chunks(data, limit) > limit:
            return (f"is a PNG of more than {limit} chunks for its {len(data)} bytes (an encoder writes "
                    f"one per 8 KB or more)", "it saved again by an ordinary encoder")
    elif data[:2] == b"BM" and len(data) >= 34 and int.from_bytes(data[14:18], "little") >= 40:
        width = abs(int.from_bytes(data[18:22], "little", signed=True))
        height = abs(int.from_bytes(data[22:26], "little", signed=True))
        if int.from_bytes(data[30:34], "little") in _BMP_RLE and width * height > MAX_RLE_BMP_PIXELS:
            return (f"is a run-length-encoded BMP of {width}x{height} pixels, over the {MAX_RLE_BMP_PIXELS} "
                    "read of such a BMP (its decoder runs a pixel at a time)",
                    "it as PNG, JPEG or an uncompressed BMP")
    return None


def jpeg_steps(data: bytes) -> int:
    """The steps of PIL's walk of a JPEG's markers up to its first scan: one per segment and per
    0xFF fill byte, counted up to ``MAX_JPEG_STEPS`` + 1 (a run of other bytes counts once: PIL
    skips it at once)."""
    pos, steps, end = 2, 0, len(data)
    while pos + 1 < end and steps <= MAX_JPEG_STEPS:
        if data[pos] != 0xFF:
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
            steps += 1
            continue
        marker = data[pos + 1]
        steps += 1
        if marker == 0xFF:  # fill
            pos += 1
        elif marker in (0xDA, 0xD9):  # the first scan, or the end
            break
        elif 0xD0 <= marker <= 0xD8 or marker in (0x00, 0x01):  # no length
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return steps


def png_chunk_limit(size: int) -> int:
    """The most chunks a PNG of ``size`` bytes may hold."""
    return MIN_PNG_CHUNKS + size // PNG_CHUNK_BYTES


def png_chunks(data: bytes, limit: int) -> int:
    """A PNG's chunks up to IEND, counted up to ``limit`` + 1."""
    pos, count, end = len(_PNG_MAGIC), 0, len(data)
    while pos + 8 <= end and count <= limit:
        count += 1
        if data[pos + 4:pos + 8] == b"IEND":
            break
        pos += 12 + int.from_bytes(data[pos:pos + 4], "big")
    return count
