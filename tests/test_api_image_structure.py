"""Image files whose structure costs far more than their pixels: refused before they are opened,
over the real server.

Each scan of a progressive JPEG is decoded over the whole image, and a scan that codes nothing
takes a few bytes: a 100 KB file of 400 scans at 20 Mpx kept a core busy for ~6 s (a 10 MB one
for most of an hour), a worker and the decoding slot of large images held all along.  PIL walks
a JPEG's markers before its first scan and a PNG's chunks in Python: 10 MB of empty segments or
chunks took 4-5 s, fill bytes ~3 s a MB; a 21 KB run-length-encoded BMP padded a pixel at a
time 8 s.  Each is answered 400 at once, naming what is wrong and
what to send; ordinary files (a progressive JPEG of 10 scans) are read as before.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

READ = "/v1/plate-reader/"


def _segments(data: bytes) -> list[tuple[int, bytes]]:
    """A JPEG's marker segments after SOI (marker, bytes), a scan with its entropy-coded data."""
    pos, found = 2, []
    while pos < len(data):
        marker = data[pos + 1]
        if marker == 0xD9:
            found.append((marker, data[pos:pos + 2]))
            break
        end = pos + 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker == 0xDA:  # the scan's data runs to the next marker (not stuffing, not RSTn)
            while True:
                end = data.index(b"\xff", end)
                if data[end + 1] != 0 and not 0xD0 <= data[end + 1] <= 0xD7:
                    break
                end += 2
        found.append((marker, data[pos:end]))
        pos = end
    return found


def many_scans(width: int, height: int, scans: int) -> bytes:
    """A flat grey progressive JPEG whose last scan (with its Huffman tables) is repeated until
    the file has ``scans`` of them: libjpeg decodes each (a warning, no error)."""
    out = io.BytesIO()
    Image.new("L", (width, height), 128).save(out, "JPEG", progressive=True, quality=50)
    segments = _segments(out.getvalue())
    last = max(i for i, (marker, _) in enumerate(segments) if marker == 0xDA)
    first = last
    while segments[first - 1][0] == 0xC4:
        first -= 1
    head = b"\xff\xd8" + b"".join(s for _, s in segments[:last + 1])
    unit = b"".join(s for _, s in segments[first:last + 1])
    have = sum(1 for marker, _ in segments if marker == 0xDA)
    return head + unit * (scans - have) + b"\xff\xd9"


def test_a_jpeg_of_hundreds_of_scans_is_a_prompt_400(api: Any) -> None:
    data = many_scans(4000, 5000, 400)
    assert len(data) < 120_000  # 20 Mpx and 400 scans: far below any upload limit
    started = time.monotonic()
    r = requests.post(api.url + READ, files={"upload": ("scans.jpg", data)}, timeout=30)
    took = time.monotonic() - started
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "400 start-of-scan markers" in detail and "baseline" in detail, detail
    assert took < 2.0, took
    usage = requests.get(api.url + "/v1/statistics/", timeout=10).json()
    assert usage["usage"]["calls"] == 0  # refused: not counted


def test_an_ordinary_progressive_jpeg_is_still_read(api: Any, sample_images: list[Path]) -> None:
    out = io.BytesIO()
    Image.open(sample_images[0]).save(out, "JPEG", progressive=True, quality=90)
    r = requests.post(api.url + READ, files={"upload": ("car.jpg", out.getvalue())}, timeout=30)
    assert r.status_code == 201, r.text
    assert r.json()["results"], r.json()


def _tiny_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG")
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_of_empty_chunks(count: int) -> bytes:
    """A 1x1 PNG with ``count`` empty ancillary chunks before its pixels."""
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + _png_chunk(b"abCd", b"") * count + _png_chunk(b"IDAT", zlib.compress(b"\0\0\0\0"))
            + _png_chunk(b"IEND", b""))


def _rle_bmp(width: int, height: int, payload: bytes) -> bytes:
    """An 8-bit run-length-encoded BMP (BI_RLE8) with a grey palette."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(payload), 0, 0, 256, 0)
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(payload), 0, 0, offset) + info + palette + payload


JPEG = _tiny_jpeg()
COSTLY = {  # a file of about 1 MB each, and a word of the answer
    "empty comment segments": (JPEG[:2] + b"\xff\xfe\x00\x02" * 250_000 + JPEG[2:], "marker segments"),
    "fill bytes": (JPEG[:2] + b"\xff" * 1_000_000 + JPEG[2:], "saved again by an ordinary encoder"),
    "empty PNG chunks": (_png_of_empty_chunks(80_000), "chunks for its"),
    # 21 KB: each row one grey pixel and its end, which PIL pads to the width a pixel at a time
    "a run-length-encoded BMP": (_rle_bmp(4000, 5000, b"\x01\x80\x00\x00" * 5000 + b"\x00\x01"), "uncompressed BMP"),
}


@pytest.mark.parametrize("case", sorted(COSTLY))
def test_a_file_of_a_million_tiny_parts_is_a_prompt_400(api: Any, case: str) -> None:
    data, words = COSTLY[case]
    started = time.monotonic()
    r = requests.post(api.url + READ, files={"upload": ("many.img", data)}, timeout=30)
    took = time.monotonic() - started
    assert r.status_code == 400, r.text
    assert words in r.json()["detail"], r.json()
    assert took < 1.0, took
