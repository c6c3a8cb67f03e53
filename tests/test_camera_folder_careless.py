"""A folder camera's folder as a careless admin or uploader leaves it: a file name that is not
UTF-8, a file replaced while it is read, a broken file dated ahead, a subfolder that cannot be
listed.

Real files, the real ledger (SQLite in ``tmp_path``) and source, its scans driven one by one
(``_scan``, as its ``read`` does every ``poll_interval``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_alpr.stream.source_config import FolderSourceConfig
from edge_alpr.stream.sources import pictures
from edge_alpr.stream.sources.files import FolderSource


def _jpeg(height: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, 16, 3), 90, np.uint8))
    assert ok
    return bytes(data)


def _run(source: FolderSource, scans: int = 3) -> list[int]:
    """The heights of the pictures ``scans`` scans read, each file's events committed."""
    read = []
    for _ in range(scans):
        source._scan()
        while source._queue:
            frame = source._load(source._queue.pop(0))
            if frame is not None:
                read.append(frame.image.shape[0])
                source.done(frame.index)
    return read


def _drop(tmp_path: Path) -> tuple[FolderSourceConfig, Path, Path]:
    folder, state = tmp_path / "drop", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    return FolderSourceConfig(path=str(folder), poll_interval=3600), folder, state


def test_a_file_name_that_is_not_utf8_is_read_once_across_restarts(tmp_path: Path) -> None:
    """``caf\\xe9.jpg`` (Latin-1, from an old Windows uploader): recording it read raised
    ``UnicodeEncodeError`` (SQLite takes no lone surrogates), and it was read at every start."""
    cfg, folder, state = _drop(tmp_path)
    latin1 = folder / os.fsdecode(b"caf\xe9.jpg")
    latin1.write_bytes(_jpeg(24))
    (folder / "café.jpg").write_bytes(_jpeg(32))  # UTF-8: another file
    for path in (latin1, folder / "café.jpg"):
        os.utime(path, (1e9, 1e9))
    assert sorted(_run(FolderSource(cfg, "drop", threading.Event(), state))) == [24, 32]
    again = FolderSource(cfg, "drop", threading.Event(), state)
    assert _run(again) == []
    assert again.waiting() == "waiting for new files (2 in the folder already read)"


def test_a_file_replaced_while_it_is_read_gives_each_picture_once(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An uploader renames a new picture over a file just as the camera reads it (after its
    size and time were looked at): the bytes read are the new picture's, so it was recorded with
    the old file's size and time and read again at the next scan, and after each restart.  The
    race is placed by wrapping ``largest_file`` (called between the two; it still computes)."""
    cfg, folder, state = _drop(tmp_path)
    (folder / "snap.jpg").write_bytes(_jpeg(16))
    os.utime(folder / "snap.jpg", (1e9, 1e9))
    real = pictures.largest_file
    replaced = []

    def largest_file(max_pixels: int) -> int:
        if not replaced:
            replaced.append(True)
            (folder / "new.tmp").write_bytes(_jpeg(24))
            os.utime(folder / "new.tmp", (2e9, 2e9))
            os.replace(folder / "new.tmp", folder / "snap.jpg")
        return real(max_pixels)

    monkeypatch.setattr(pictures, "largest_file", largest_file)
    source = FolderSource(cfg, "drop", threading.Event(), state)
    read = _run(source, scans=4)
    assert replaced and read.count(24) == 1, read
    assert _run(FolderSource(cfg, "drop", threading.Event(), state)) == []


def test_a_broken_file_dated_ahead_is_skipped_once_not_retried_for_ever(tmp_path: Path) -> None:
    """A file that is no picture, its time set ahead (a camera whose clock is a day fast, its
    upload dated by FTP ``MFMT``): "written within two polls" was judged by that time, so it
    was taken for a copy in progress, decoded again every other scan for ever and never said.
    A time ahead is one set once the file was written: it is skipped, said once."""
    cfg, folder, _ = _drop(tmp_path)
    (folder / "bad.jpg").write_bytes(b"not a picture")
    ahead = time.time() + 86400
    os.utime(folder / "bad.jpg", (ahead, ahead))
    source = FolderSource(cfg, "drop", threading.Event(), None)
    assert _run(source, scans=6) == []
    assert source.errors == 1 and "bad.jpg" in (source.last_error or "")
    assert source.waiting() == "waiting for files (none in the folder)"


def test_a_subfolder_that_cannot_be_listed_is_said_once_and_read_once_it_can(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``chmod 0`` on one upload folder of ``**/*.jpg``: its files were passed over without a
    word (never read, nothing told why); the others are read, it is warned once, and read once
    it can be listed.  Skipped where this process lists a mode-000 folder (root with
    CAP_DAC_OVERRIDE; run as root it runs under ``capsh --drop=cap_dac_override,cap_dac_read_search``)."""
    probe = tmp_path / "probe"
    probe.mkdir(mode=0)
    try:
        os.listdir(probe)
        pytest.skip("this process lists a mode-000 folder (root): run it as another user, or without "
                    "CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH")
    except PermissionError:
        pass
    finally:
        probe.chmod(0o755)
    cfg, folder, _ = _drop(tmp_path)
    cfg = FolderSourceConfig(path=cfg.path, poll_interval=3600, patterns=("**/*.jpg",))
    for rel, height in (("a/1.jpg", 16), ("b/2.jpg", 24)):
        (folder / rel).parent.mkdir()
        (folder / rel).write_bytes(_jpeg(height))
        os.utime(folder / rel, (1e9, 1e9))
    (folder / "b").chmod(0)
    caplog.set_level(logging.INFO, logger="edge_alpr.stream.sources")
    try:
        source = FolderSource(cfg, "drop", threading.Event(), None)
        assert _run(source, scans=4) == [16]
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(said) == 1 and f"cannot list image subfolder {folder}/b" in said[0], said
    finally:
        (folder / "b").chmod(0o755)
    assert _run(source) == [24]
    assert "camera drop: image subfolder b can be listed again" in caplog.text


def test_a_jpeg_whose_size_was_set_first_is_read_once_whole(tmp_path: Path) -> None:
    """A copy from Windows over SMB sets the file's size, then fills it in: paused for two scans,
    its size and time stayed the same and half a picture (the rest zeros) was read, then the whole
    one once its time changed.  Now read once, whole."""
    cfg, folder, _ = _drop(tmp_path)
    picture = np.full((128, 64, 3), 200, np.uint8)
    picture[:64] = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)  # most bytes
    ok, encoded = cv2.imencode(".jpg", picture)
    assert ok
    data = bytes(encoded)
    path = folder / "car.jpg"
    path.write_bytes(data[:len(data) // 2] + bytes(len(data) - len(data) // 2))  # the copy paused
    source = FolderSource(cfg, "drop", threading.Event(), None)
    read = []
    for _ in range(3):
        source._scan()
        while source._queue:
            frame = source._load(source._queue.pop(0))
            if frame is not None:
                read.append(frame.image)
    assert read == [] and source.errors == 0  # being written (its time within two polls)
    path.write_bytes(data)
    os.utime(path, (2e9, 2e9))
    for _ in range(3):
        source._scan()
        while source._queue:
            frame = source._load(source._queue.pop(0))
            if frame is not None:
                read.append(frame.image)
    assert len(read) == 1 and abs(float(read[0][-1].mean()) - 200) < 5, [float(r[-1].mean()) for r in read]


@pytest.mark.parametrize("ending", ["trailer", "no end marker"])
def test_a_whole_jpeg_ending_in_zeros_is_read(tmp_path: Path, ending: str) -> None:
    """A whole JPEG with data appended past its end marker that ends in zeros (a camera's
    trailer), or one whose writer left out the end marker and padded it with zeros, decodes: it
    was taken for a copy over SMB still being filled in and skipped until it changed, for ever."""
    cfg, folder, _ = _drop(tmp_path)
    picture = np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", picture)
    assert ok
    data = bytes(encoded)
    path = folder / "car.jpg"
    path.write_bytes(data + b"TRAILER" + bytes(32) if ending == "trailer" else data[:-2] + bytes(64))
    os.utime(path, (1e9, 1e9))  # written long ago: not one still being copied
    source = FolderSource(cfg, "drop", threading.Event(), None)
    assert _run(source) == [48] and source.errors == 0, source.last_error


@pytest.mark.parametrize("patterns", [("*.jpg",), ("**/*.jpg",)])
def test_a_link_to_the_newest_picture_does_not_give_it_twice(tmp_path: Path, patterns: tuple[str, ...]) -> None:
    """The motion daemon keeps ``lastsnap.jpg``, a symbolic link to its newest snapshot, in the
    snapshot folder: each picture was read twice, under its name and under the link's.  A link to
    a file outside the folder is read."""
    cfg, folder, _ = _drop(tmp_path)
    cfg = FolderSourceConfig(path=cfg.path, poll_interval=3600, patterns=patterns)
    (folder / "day").mkdir()
    (tmp_path / "outside.jpg").write_bytes(_jpeg(40))
    os.utime(tmp_path / "outside.jpg", (1e9, 1e9))
    os.symlink(tmp_path / "outside.jpg", folder / "elsewhere.jpg")
    source = FolderSource(cfg, "drop", threading.Event(), None)
    read = []
    for i, height in enumerate((16, 24)):
        snap = folder / f"{i:02d}.jpg"
        snap.write_bytes(_jpeg(height))
        os.utime(snap, (1e9 + i, 1e9 + i))
        (folder / "lastsnap.jpg").unlink(missing_ok=True)
        os.symlink(snap.name, folder / "lastsnap.jpg")
        os.symlink(snap, folder / "day" / f"last{i}.jpg")  # the same in a subfolder (**/ only)
        read += _run(source)
    assert sorted(read) == [16, 24, 40], read
