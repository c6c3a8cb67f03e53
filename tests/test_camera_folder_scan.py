"""A folder camera over a folder of many files read before: each scan checks at most
``listing.RECHECKED`` of them for a rewrite, in turn, so a drop box that keeps months of uploads
does not keep a core busy re-reading their sizes every ``poll_interval``; a file written again
under its name is still read again.

Real files and the real ledger; ``os.stat`` and ``os.scandir`` are wrapped only to count the
calls (each does what it did).  The count, not a time, is asserted.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_alpr.stream.source_config import FolderSourceConfig
from edge_alpr.stream.sources import pictures
from edge_alpr.stream.sources.files import FolderSource
from edge_alpr.stream.sources.ledger import ReadLedger
from edge_alpr.stream.sources.listing import RECHECKED

FILES = RECHECKED + RECHECKED // 5  # more than one scan checks


def _jpeg(shade: int, side: int = 16) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((side, side, 3), shade, np.uint8))
    assert ok
    return bytes(data)


def test_a_scan_checks_a_bounded_share_of_the_files_read_before(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder, state = tmp_path / "drop", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    image = _jpeg(100)
    names = [f"img{i:06d}.jpg" for i in range(FILES)]
    for name in names:
        (folder / name).write_bytes(image)
    cfg = FolderSourceConfig(path=str(folder), poll_interval=0.05, remember_max_files=2 * FILES)
    # every file read before this start (as a first run would leave them)
    ReadLedger(state, "drop", folder.resolve(), 86400.0, cfg.remember_max_files).add(
        (name, (len(image), (folder / name).stat().st_mtime_ns)) for name in names)

    source = FolderSource(cfg, "drop", threading.Event(), state)
    assert source.read(0.2) is None  # the first scans: every file known, none read
    assert source.waiting() == f"waiting for new files ({FILES} in the folder already read)"

    counts = {"stat": 0, "scandir": 0}
    real_stat, real_scandir = os.stat, os.scandir

    def stat(*args: Any, **kwargs: Any) -> Any:
        counts["stat"] += 1
        return real_stat(*args, **kwargs)

    def scandir(*args: Any, **kwargs: Any) -> Any:
        counts["scandir"] += 1
        return real_scandir(*args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "scandir", scandir)
    while counts["scandir"] < 4:
        assert source.read(0.2) is None
    assert counts["stat"] <= counts["scandir"] * (RECHECKED + 10), counts  # was every file, every scan

    # a camera writing a file again under a name read before (another picture): read again
    rewritten = folder / names[FILES // 2]
    rewritten.write_bytes(_jpeg(200, side=24))
    frame = None
    for _ in range(200):  # a few scans at most: each file is checked every other scan
        frame = source.read(0.2)
        if frame is not None:
            break
    assert frame is not None and frame.image.shape[:2] == (24, 24)
    assert source.read(0.2) is None  # nothing else read again
    source.close()


def test_a_file_two_patterns_match_is_read_once_and_a_link_loop_skipped_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``*.jpg`` and ``**/*.jpg`` both match the folder's own files: each is read once; a
    symbolic link to itself (``ELOOP``) and a link to the folder above (a loop for a walk into
    subfolders) are one skipped file and no hang; a subfolder's file is read."""
    folder = tmp_path / "drop"
    (folder / "sub").mkdir(parents=True)
    (folder / "top.jpg").write_bytes(_jpeg(50))
    (folder / "sub" / "deep.jpg").write_bytes(_jpeg(150, side=24))
    os.symlink("self.jpg", folder / "self.jpg")
    os.symlink(str(folder), folder / "sub" / "up")
    old = os.stat(folder / "top.jpg").st_mtime - 60  # not being written: read at the first scans
    for path in (folder / "top.jpg", folder / "sub" / "deep.jpg"):
        os.utime(path, (old, old))
    cfg = FolderSourceConfig(path=str(folder), poll_interval=0.05, patterns=("*.jpg", "**/*.jpg"))
    source = FolderSource(cfg, "drop", threading.Event(), None)
    sides = []
    for _ in range(20):
        frame = source.read(0.1)
        if frame is not None:
            sides.append(frame.image.shape[0])
    assert sorted(sides) == [16, 24], sides
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 1 and "self.jpg" in skipped[0] and "symbolic links" in skipped[0], skipped
    assert source.errors == 1
    source.close()


def test_a_file_deleted_between_the_scan_and_its_read_is_no_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cleanup script moving files away as they are read: one gone after the camera found it
    (here: deleted for real right before its bytes are read) is not a bad file (no warning, no
    error counted), and read if it comes back; the files after it are read."""
    folder = tmp_path / "drop"
    folder.mkdir()
    for i, name in enumerate(("a.jpg", "b.jpg")):
        (folder / name).write_bytes(_jpeg(60 + i * 100, side=16 + 8 * i))
        os.utime(folder / name, (1e9, 1e9))  # not being written
    real = pictures.largest_file  # called between the file's stat and its open: deleted there (a.jpg is first)

    def deleted_first(max_pixels: int) -> int:
        if (folder / "a.jpg").exists():
            (folder / "a.jpg").unlink()
        return real(max_pixels)

    monkeypatch.setattr(pictures, "largest_file", deleted_first)
    cfg = FolderSourceConfig(path=str(folder), poll_interval=0.05)
    source = FolderSource(cfg, "drop", threading.Event(), None)
    frames = [f for f in (source.read(0.1) for _ in range(20)) if f is not None]
    assert [f.image.shape[0] for f in frames] == [24], frames  # b.jpg
    assert source.errors == 0 and not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    monkeypatch.undo()
    (folder / "a.jpg").write_bytes(_jpeg(60))  # back
    os.utime(folder / "a.jpg", (1e9, 1e9))
    frames = [f for f in (source.read(0.1) for _ in range(20)) if f is not None]
    assert [f.image.shape[0] for f in frames] == [16], frames
    source.close()
