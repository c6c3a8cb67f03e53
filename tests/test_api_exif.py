"""Photos whose EXIF block is odd but whose pixels are whole, over the real server.

The orientation tag says how to turn the stored pixels upright; the rest of the block is not
read.  PIL's ``ImageOps.exif_transpose`` wrote the whole block out again for the turned copy,
and a tag of an unexpected type (an XResolution stored as bytes, which some encoders and any
hostile client write) made that fail: a 1 KB photo was answered 500 (a TypeError) or 400
"corrupt or truncated" (a struct error), and a block with a bad TIFF header was "corrupt" too,
though viewers show all these photos.  Each is read now, turned as its orientation says.
Beside them, what else of a photo's header PIL read in words of its own: the tags it skipped
(printed to the journal) and a size past its own limit (quoted in the 413).
"""

from __future__ import annotations

import io
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from edge_alpr import config, imaging
from edge_alpr.api.server import free_port
from tests.test_cli_server import start_serve

READ = "/v1/plate-reader/"
ROTATE_CW = 6  # EXIF orientation: "turn 90 degrees clockwise to display"


def tiff_block(entries: list[tuple[int, int, int, bytes]], header: bytes = b"II*\x00") -> bytes:
    """An EXIF block (TIFF, little-endian) of one IFD: each entry (tag, type, count, value)."""
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI4s", tag, kind, count, value) for tag, kind, count, value in entries)
    return header + struct.pack("<I", 8) + ifd + b"\0\0\0\0"


def rotated_with(extra: list[tuple[int, int, int, bytes]], header: bytes = b"II*\x00") -> bytes:
    return tiff_block([(0x0112, 3, 1, struct.pack("<HH", ROTATE_CW, 0)), *extra], header)


ODD_BLOCKS = {
    # XResolution (a RATIONAL) stored as 4 BYTEs: exif_transpose raised TypeError (a 500)
    "resolution as bytes": rotated_with([(0x011A, 1, 4, b"abcd")]),
    # ImageWidth (a SHORT or LONG) stored as 4 BYTEs: exif_transpose raised struct.error
    "width as bytes": rotated_with([(0x0100, 1, 4, b"abcd")]),
}


def photo(fmt: str, exif: bytes) -> bytes:
    """A small flat photo in ``fmt`` carrying ``exif`` (a JPEG's block behind its Exif header)."""
    out = io.BytesIO()
    Image.new("RGB", (160, 120), (90, 110, 130)).save(
        out, fmt, exif=b"Exif\0\0" + exif if fmt == "JPEG" else exif)
    return out.getvalue()


def read(api: Any, data: bytes) -> requests.Response:
    return requests.post(api.url + READ, files={"upload": ("car", data)}, timeout=30)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("block", sorted(ODD_BLOCKS))
def test_an_odd_tag_beside_the_orientation_is_read(api: Any, fmt: str, block: str) -> None:
    r = read(api, photo(fmt, ODD_BLOCKS[block]))
    assert r.status_code == 201, r.text
    assert r.json()["results"] == []  # a flat photo: read, nothing found


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_an_exif_block_with_a_bad_header_is_ignored(api: Any, fmt: str) -> None:
    r = read(api, photo(fmt, rotated_with([], header=b"II*\x15")))
    assert r.status_code == 201, r.text


def test_the_orientation_still_turns_the_pixels_beside_an_odd_tag() -> None:
    """The pixels come out turned a quarter clockwise, compared with numpy's own turn of the
    stored pixels (a PNG: lossless, so equal to the byte)."""
    stored = np.random.default_rng(7).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(stored).save(out, "PNG", exif=ODD_BLOCKS["resolution as bytes"])
    pixels = imaging.decode(out.getvalue(), 1_000_000)
    assert np.array_equal(pixels, np.rot90(stored, k=-1))


def test_a_bad_exif_block_leaves_the_pixels_as_stored() -> None:
    stored = np.random.default_rng(8).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(stored).save(out, "PNG", exif=rotated_with([], header=b"II*\x15"))
    assert np.array_equal(imaging.decode(out.getvalue(), 1_000_000), stored)


def orientation_as(kind: int, value: bytes, data: bytes = b"") -> bytes:
    """An EXIF block whose one tag, the orientation, is of TIFF type ``kind`` (its ``value``, or
    an offset to ``data`` behind the block)."""
    after = 8 + 2 + 12 + 4  # the header, the count, one entry, the next block's offset
    return tiff_block([(0x0112, kind, 1, value or struct.pack("<I", after))]) + data


@pytest.mark.parametrize(("kind", "value", "data"), [
    (11, struct.pack("<f", 6.0), b""),  # FLOAT
    (5, b"", struct.pack("<II", 12, 2)),  # RATIONAL 12/2
    (10, b"", struct.pack("<ii", -6, -1)),  # SRATIONAL -6/-1
    (4, struct.pack("<I", 6), b"")], ids=["float", "rational", "srational", "long"])  # LONG
def test_an_orientation_stored_as_another_number_type_turns_the_pixels(kind: int, value: bytes, data: bytes) -> None:
    """6.0 said as a FLOAT or a RATIONAL was left as stored (only an integer was read), where
    PIL's ``ImageOps.exif_transpose``, used before, turned it."""
    stored = np.random.default_rng(9).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(stored).save(out, "PNG", exif=orientation_as(kind, value, data))
    assert np.array_equal(imaging.decode(out.getvalue(), 1_000_000), np.rot90(stored, k=-1))


@pytest.mark.parametrize("ratio", [(13, 2), (6, 0), (-6, 1)])
def test_an_orientation_that_is_no_whole_number_1_to_8_leaves_the_pixels_as_stored(ratio: tuple[int, int]) -> None:
    stored = np.random.default_rng(10).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(stored).save(out, "PNG", exif=orientation_as(10, b"", struct.pack("<ii", *ratio)))
    assert np.array_equal(imaging.decode(out.getvalue(), 1_000_000), stored)


def skipped_tags(count: int) -> bytes:
    """An EXIF block of ``count`` tags, each saying its 100 KB of data lie past the block's end:
    PIL skips each, with a warning naming the tag."""
    past = 8 + 2 + 12 * count + 4
    return tiff_block([(0x1000 + i, 1, 100_000, struct.pack("<I", past)) for i in range(count)])


def test_skipped_exif_tags_write_nothing_to_the_log(tmp_path: Path) -> None:
    """The real server as a process, its stderr (the journal) read after a photo of 3,000 odd
    tags: before, it held two lines for each tag (PIL's warning and its source line)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nlog_level: WARNING\nmqtt: {{enabled: false}}\n")
    port = free_port()
    proc = start_serve(cfg, port)
    try:
        r = requests.post(f"http://127.0.0.1:{port}{READ}",
                          files={"upload": ("car", photo("PNG", skipped_tags(3000)))}, timeout=30)
        assert r.status_code == 201, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "Skipping tag" not in err, err[:500]
    assert len(err.splitlines()) < 20, err[:2000]


def decoded_in_python(data: bytes, *options: str) -> subprocess.CompletedProcess[bytes]:
    """``data`` decoded by a Python of its own (run with ``options``), its warnings as Python
    shows them: pytest resets the warning filters around each test, so only a program of its
    own sees the filters the decoder sets as it is imported."""
    script = ("import sys, edge_alpr.imaging as i\n"
              "try: i.decode(sys.stdin.buffer.read(), 10**6)\n"
              "except UserWarning as e: print('raised:', e)\n")
    return subprocess.run([sys.executable, *options, "-c", script], input=data, capture_output=True,
                          timeout=60, cwd=Path(__file__).parent.parent)


def test_pils_other_warnings_are_still_shown() -> None:
    """Only the skipped tags' words are kept out of the journal: every other warning of PIL's
    (here a palette's transparency that RGB cannot hold) was hidden too, in every program
    importing the decoder."""
    palette = Image.new("P", (8, 8))
    palette.putpalette(bytes(range(48)))
    palette.putdata([i % 4 for i in range(64)])
    out = io.BytesIO()
    palette.save(out, "PNG", transparency=bytes([0, 64, 128, 255]))  # an alpha per colour
    ran = decoded_in_python(out.getvalue())
    assert ran.returncode == 0 and b"UserWarning: Palette images with Transparency" in ran.stderr, ran.stderr
    quiet = decoded_in_python(photo("PNG", skipped_tags(3)))
    assert quiet.returncode == 0 and quiet.stderr == b"", quiet.stderr  # the skipped tags' words are not


def test_the_users_own_warning_filter_still_decides() -> None:
    """``python -W error::UserWarning`` makes a skipped tag an error: the decoder's filter was
    put before the user's and hid it."""
    ran = decoded_in_python(photo("PNG", skipped_tags(3)), "-W", "error::UserWarning")
    assert ran.returncode == 0, ran.stderr
    assert b"raised: Tag data larger than file" in ran.stdout, ran.stdout


def sized_jpeg(width: int, height: int) -> bytes:
    """A small JPEG whose frame header says ``width`` x ``height``."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_a_header_past_pils_own_limit_is_told_with_the_servers_limit_alone(api: Any) -> None:
    """PIL refuses a header past ~179 Mpx before the server's own check; its words were quoted
    whole: its 178956970 pixels named as a limit beside the server's, and a 'DOS attack'."""
    r = read(api, sized_jpeg(65_500, 65_500))
    assert r.status_code == 413, r.text
    said = r.json()["detail"]
    assert str(65_500 * 65_500) in said and str(config.ApiConfig().max_pixels) in said, said
    assert str(2 * Image.MAX_IMAGE_PIXELS) not in said and "DOS" not in said, said
