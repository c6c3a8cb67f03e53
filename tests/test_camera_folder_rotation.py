"""A folder camera over more files read before than one scan checks (``listing.RECHECKED``):
a file written again under its name is still read again within ``files / RECHECKED`` scans,
however often it is rewritten and whatever order the file system lists the folder in.

Real files, the real ledger and the real source, its scans driven one by one (``_scan``, as its
``read`` does every ``poll_interval``).  ``RECHECKED`` is lowered to keep the folders small (the
rotation is the same at 10 as at 10,000).  Listing order: a folder's order is the file system's;
tmpfs lists the newest first, here made so on any file system by listing the real entries in
that order.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_alpr.stream.source_config import FolderSourceConfig
from edge_alpr.stream.sources import listing
from edge_alpr.stream.sources.files import FolderSource
from edge_alpr.stream.sources.ledger import ReadLedger

CHECKED = 10  # listing.RECHECKED here


def _jpeg(shade: int, side: int = 16) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((side, side, 3), shade, np.uint8))
    assert ok
    return bytes(data)


def _write(path: Path, data: bytes, mtime: float) -> None:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def _source(tmp_path: Path, names: list[str]) -> tuple[FolderSource, Path]:
    """A source over ``names``, every one read before this start."""
    folder, state = tmp_path / "drop", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    image = _jpeg(100)
    for name in names:
        _write(folder / name, image, 1e9)
    cfg = FolderSourceConfig(path=str(folder), poll_interval=3600, remember_max_files=10 * len(names))
    ReadLedger(state, "drop", folder.resolve(), 86400.0, cfg.remember_max_files).add(
        (name, (len(image), (folder / name).stat().st_mtime_ns)) for name in names)
    return FolderSource(cfg, "drop", threading.Event(), state), folder


def _scan(source: FolderSource) -> list[int]:
    """One scan, then every file it queued read: the sides of the pictures read."""
    source._scan()
    sides = []
    while source._queue:
        frame = source._load(source._queue.pop(0))
        if frame is not None:
            sides.append(frame.image.shape[0])
    return sides


def test_a_snapshot_rewritten_more_often_than_its_turn_comes_is_read_each_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``snapshot.jpg`` rewritten every other scan in a folder checked in three turns: once its
    turn finds it rewritten, it is looked at again at each scan until it is the same at two in
    a row, so a version is read at least every two turns (six scans), where none was read (it
    had to be the same at two of its turns, three scans apart, and never was)."""
    monkeypatch.setattr(listing, "RECHECKED", CHECKED)
    source, folder = _source(tmp_path, [f"img{i:03d}.jpg" for i in range(2 * CHECKED + 5)] + ["snapshot.jpg"])
    assert _scan(source) == [] and _scan(source) == []  # all read before
    read, versions = [], 0
    for turn in range(24):
        if turn % 2 == 0:  # a new picture every 2 polls
            versions += 1
            _write(folder / "snapshot.jpg", _jpeg(versions, side=24), 1e9 + versions)
        read += _scan(source)
    assert len(read) >= 24 // 6 and set(read) == {24}, (versions, read)


class _NewestFirst:
    """``os.scandir`` of a folder listing its entries newest first (as tmpfs does)."""

    def __init__(self, real: Any, path: Any) -> None:
        self._scan = real(path)

    def __enter__(self) -> _NewestFirst:
        return self

    def __exit__(self, *exc: object) -> None:
        self._scan.close()

    def __iter__(self) -> Iterator[Any]:
        return iter(sorted(self._scan, key=lambda e: e.stat().st_mtime_ns, reverse=True))


def test_a_rewrite_is_read_whatever_the_listing_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder listed newest first with one new upload at each scan: every file read before
    moves one place down the listing at each scan.  Two neighbouring files rewritten are both
    read again within the two turns the folder is checked in (and the next scan, that sees them
    complete), where one of them never was (by its place, its turn never came)."""
    monkeypatch.setattr(listing, "RECHECKED", CHECKED)
    names = [f"img{i:03d}.jpg" for i in range(CHECKED + CHECKED // 2)]  # checked in 2 turns
    source, folder = _source(tmp_path, names)
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: _NewestFirst(real, path))
    assert _scan(source) == [] and _scan(source) == []
    for k, name in enumerate(names[len(names) // 2:len(names) // 2 + 2]):
        _write(folder / name, _jpeg(200, side=24 + 8 * k), 1e9 - 10)  # mtimes: listed as before
    read = []
    for turn in range(4):
        _write(folder / f"up{turn}.jpg", _jpeg(50, side=40), 2e9 + turn)  # listed first
        read += _scan(source)
    assert len(names) + 4 <= 2 * CHECKED  # still two turns
    assert sorted(read) == [24, 32, 40, 40, 40], read  # the uploads but the last, still settling
