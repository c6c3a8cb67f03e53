"""``edge-alpr read`` names what is wrong with a file it is given, and the fix, before any model
loads: a folder, a FIFO (never opened: it would block), a file it may not read, a video."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_alpr import image_files

ROOT = Path(__file__).resolve().parent.parent


def read_cli(*names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_alpr", "read", *names], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def test_a_readable_image_has_no_problem(sample_images: list[Path]) -> None:
    assert image_files.problem(str(sample_images[0])) is None


def test_a_directory_is_told_to_give_its_images(tmp_path: Path) -> None:
    assert image_files.problem(str(tmp_path)) == f"is a directory (give image files, e.g. {tmp_path}/*.jpg)"
    assert image_files.problem(f"{tmp_path}/") == f"is a directory (give image files, e.g. {tmp_path}/*.jpg)"


def test_a_fifo_is_not_a_regular_file_and_is_never_opened(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)

    def no_open(*args: object) -> int:
        raise AssertionError("a FIFO was opened")

    monkeypatch.setattr(image_files.os, "open", no_open)
    assert image_files.problem(str(fifo)) == ("not a regular file (a FIFO): give an image file "
                                              "(JPEG, PNG, BMP or WebP)")
    device = image_files.problem("/dev/null")
    assert device is not None and device.startswith("not a regular file (a character device)"), device


def test_permission_denied_is_one_plain_sentence_with_the_fix(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8\xff")

    def denied(path: object, flags: int) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(image_files.os, "open", denied)
    said = image_files.problem(str(secret))
    assert said is not None and said.startswith("cannot read: permission denied (give this user read access"), said
    assert "Errno" not in said and "chmod" in said
    # the same words when the read itself fails (a file changed after the check)
    assert image_files.os_error_text(PermissionError(errno.EACCES, "Permission denied", str(secret)),
                                     str(secret)) == said


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file")
def test_permission_denied_for_real(tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8\xff")
    secret.chmod(0)
    assert (image_files.problem(str(secret)) or "").startswith("cannot read: permission denied")


@pytest.mark.parametrize(("name", "header", "named"), [
    ("clip.mp4", b"", ".mp4"),
    ("clip.MKV", b"garbage", ".mkv"),
    ("clip.bin", b"\x00\x00\x00\x20ftypisom\x00\x00", "MP4/QuickTime"),
    ("clip.jpg", b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x00\x00\x00\x1f", "Matroska/WebM"),
    ("clip", b"RIFF\x00\x00\x00\x00AVI LIST", "AVI"),
])
def test_a_video_points_at_a_camera_of_kind_video(tmp_path: Path, name: str, header: bytes, named: str) -> None:
    path = tmp_path / name
    path.write_bytes(header)
    said = image_files.problem(str(path))
    assert said is not None and said.startswith(f"a video ({named}), not an image"), said
    assert f"{{kind: video, path: {path}}}" in said and "docs/cameras.md" in said


def test_an_image_named_by_its_header_is_no_video(tmp_path: Path) -> None:
    avif = tmp_path / "photo.avif"  # an ftyp box, but an image brand: decode judges it
    avif.write_bytes(b"\x00\x00\x00\x1cftypavif\x00\x00")
    assert image_files.problem(str(avif)) is None


def test_the_command_names_each_problem_before_any_model_loads(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    video = tmp_path / "gate.mp4"
    video.write_bytes(b"\x00\x00\x00\x20ftypisom")
    gone = tmp_path / "gone.jpg"
    out = read_cli(str(tmp_path), str(fifo), str(video), str(gone))  # a FIFO opened would hang here
    assert out.returncode == 1 and out.stdout == "", out
    lines = out.stderr.splitlines()
    assert lines[0] == f"{tmp_path}: error: is a directory (give image files, e.g. {tmp_path}/*.jpg)", lines
    assert lines[1].startswith(f"{fifo}: error: not a regular file (a FIFO)"), lines
    assert lines[2].startswith(f"{video}: error: a video (MP4/QuickTime), not an image"), lines
    assert lines[3] == f"{gone}: error: no such file", lines
    assert len(lines) == 4 and "loaded model" not in out.stderr


def test_a_file_larger_than_any_allowed_image_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """``read`` reads a file whole before decoding it: a sparse 8 GiB file would take a Pi's
    memory, so it is refused by its size."""
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as f:
        f.write(b"\xff\xd8\xff")
        f.truncate(8 << 30)
    said = image_files.problem(str(huge), max_bytes=200 << 20)
    assert said is not None and said.startswith(f"{8 << 30} bytes") and "api.max_pixels" in said
    assert image_files.problem(str(huge), max_bytes=9 << 30) is None


@pytest.mark.parametrize("name,header", [
    ("frame.ts", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),  # a JPEG named like a video
    ("photo.jxl", b"\x00\x00\x00\x0cftypjxl "),  # JPEG XL's container: an image, not a video
])
def test_an_image_is_no_video_whatever_its_name_or_container(tmp_path: Path, name: str, header: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(header + b"\x00" * 64)
    assert image_files.problem(str(path)) is None
