"""A folder camera uploading into a folder per hour or minute (``**/*.jpg``): files of the same
name in two subfolders are two files, each read once; after an upgrade from a version that kept
files by their name only, nothing read before is read again.

Why: files were known by their name (``01.jpg``), so ``10/01.jpg`` and ``11/01.jpg`` overwrote
each other's entry while they settled, and neither was ever read.  Real files, the real ledger
(SQLite in ``tmp_path``) and source, its scans driven one by one (``_scan``, as ``read`` does).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_alpr.errors import ConfigError
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.source_config import FolderSourceConfig
from edge_alpr.stream.sources.files import FolderSource
from edge_alpr.stream.sources.ledger import LEDGER, ReadLedger
from edge_alpr.stream.sources.listing import RECHECKED


def _drop(tmp_path: Path, files: dict[str, int]) -> tuple[FolderSourceConfig, Path, Path]:
    """A drop box holding ``files`` (path in it: image height), each of its own mtime."""
    folder, state = tmp_path / "drop", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    for i, (rel, height) in enumerate(files.items()):
        ok, data = cv2.imencode(".jpg", np.full((height, 16, 3), 90, np.uint8))
        assert ok
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(bytes(data))
        os.utime(folder / rel, (1e9 + i, 1e9 + i))
    return FolderSourceConfig(path=str(folder), poll_interval=3600, patterns=("**/*.jpg",)), folder, state


def _run(source: FolderSource, scans: int = 4) -> list[str]:
    """What ``scans`` scans read (paths in the folder), each file's events committed."""
    read = []
    for _ in range(scans):
        source._scan()
        while source._queue:
            path = source._queue.pop(0)
            frame = source._load(path)
            if frame is not None:
                read.append(path.relative_to(source.path).as_posix())
                source.done(frame.index)
    return read


def _rows(state: Path) -> set[str]:
    with closing(sqlite3.connect(state / LEDGER)) as db:
        return {r[0] for r in db.execute("SELECT name FROM read_file")}


def test_files_of_one_name_in_two_subfolders_are_each_read_once(tmp_path: Path) -> None:
    cfg, folder, state = _drop(tmp_path, {"10/01.jpg": 16, "11/01.jpg": 24, "01.jpg": 32})
    source = FolderSource(cfg, "drop", threading.Event(), state)
    assert sorted(_run(source)) == ["01.jpg", "10/01.jpg", "11/01.jpg"]
    assert source.waiting().startswith("waiting for new files (3 ")
    assert _rows(state) == {"01.jpg", "10/01.jpg", "11/01.jpg"}
    again = FolderSource(cfg, "drop", threading.Event(), state)  # a restart: none read again
    assert _run(again) == []


def test_a_ledger_of_an_earlier_version_keyed_by_name_reads_nothing_again(tmp_path: Path) -> None:
    """Rows by base name (an earlier version's): the top-level file's row still matches it; the
    row of ``10/01.jpg``, written as ``01.jpg`` with its signature, matches it once and moves to
    its path; ``11/01.jpg``, never read (the bug), is read."""
    cfg, folder, state = _drop(tmp_path, {"10/01.jpg": 16, "11/01.jpg": 24, "top.jpg": 32})
    sig = {rel: ((folder / rel).stat().st_size, (folder / rel).stat().st_mtime_ns)
           for rel in ("10/01.jpg", "top.jpg")}
    ReadLedger(state, "drop", folder.resolve(), 86400.0, 100).add(
        [("01.jpg", sig["10/01.jpg"]), ("top.jpg", sig["top.jpg"])])
    source = FolderSource(cfg, "drop", threading.Event(), state)
    assert _run(source) == ["11/01.jpg"]
    assert _rows(state) == {"10/01.jpg", "11/01.jpg", "top.jpg"}
    again = FolderSource(cfg, "drop", threading.Event(), state)
    assert _run(again) == []


def test_files_in_subfolders_are_checked_in_turn_like_the_folders_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files matched by ``**/`` read before are checked for a rewrite ``RECHECKED`` at a time (they
    were each stat-ed at every scan); a file written again under its path is still read again."""
    files = RECHECKED + RECHECKED // 5
    folder, state = tmp_path / "drop", tmp_path / "state"
    rels = [f"{i % 4:02d}/img{i:06d}.jpg" for i in range(files)]
    for sub in ("00", "01", "02", "03"):
        (folder / sub).mkdir(parents=True)
    state.mkdir()
    for rel in rels:
        (folder / rel).write_bytes(b"x")
    cfg = FolderSourceConfig(path=str(folder), poll_interval=3600, patterns=("**/*.jpg",),
                             remember_max_files=2 * files)
    ReadLedger(state, "drop", folder.resolve(), 86400.0, cfg.remember_max_files).add(
        (rel, (1, (folder / rel).stat().st_mtime_ns)) for rel in rels)
    source = FolderSource(cfg, "drop", threading.Event(), state)
    assert _run(source, scans=2) == []
    stats = [0]
    real_stat = os.stat

    def stat(*args: Any, **kwargs: Any) -> Any:
        stats[0] += 1
        return real_stat(*args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    assert _run(source, scans=4) == []
    assert stats[0] <= 4 * (RECHECKED + 10), stats  # was every file, every scan
    monkeypatch.setattr(os, "stat", real_stat)
    rewritten = folder / rels[files // 2]
    ok, data = cv2.imencode(".jpg", np.full((24, 16, 3), 90, np.uint8))
    assert ok
    rewritten.write_bytes(bytes(data))
    assert _run(source, scans=6) == [rels[files // 2]]  # each file is checked every other scan


def test_hidden_subfolders_are_walked_only_when_a_pattern_names_them(tmp_path: Path) -> None:
    """A desktop's trash and a sync tool's folders (``.Trash-1000``, ``.stversions``: old versions
    of pictures) are not read through ``**/*.jpg`` nor ``*/*.jpg``; a pattern naming one
    (``.sync/*.jpg``) reads it; ``**`` goes through no link to a folder; a named part goes
    through one that leads out of the folder, not one within it (its files read twice, under
    two paths) nor to the folder above (every file again at each level)."""
    cfg, folder, state = _drop(tmp_path, {"a/1.jpg": 16, ".Trash-1000/files/2.jpg": 24, ".stversions/3.jpg": 32,
                                          ".sync/4.jpg": 40, "b/.hidden/5.jpg": 48, "top.jpg": 56})
    os.symlink(folder / "a", folder / "linked")
    os.symlink(tmp_path, folder / "up")
    (tmp_path / "cam").mkdir()
    (tmp_path / "cam" / "6.jpg").write_bytes((folder / "a/1.jpg").read_bytes())
    os.symlink(tmp_path / "cam", folder / "cam")
    source = FolderSource(cfg, "drop", threading.Event(), None)
    assert sorted(_run(source)) == ["a/1.jpg", "top.jpg"]
    flat = FolderSourceConfig(path=str(folder), poll_interval=3600,
                              patterns=("*/*.jpg", "*/*/*.jpg", ".sync/*.jpg"))
    source = FolderSource(flat, "drop", threading.Event(), None)
    assert sorted(_run(source)) == [".sync/4.jpg", "a/1.jpg", "cam/6.jpg"]


# patterns the config refuses, never read: the parent folder written as os.pardir, since a test
# that reads outside the repository is what tests/test_fixture_data.py looks for in `../`
@pytest.mark.parametrize("pattern", ["/srv/ftp/*.jpg", f"{os.pardir}/cam2/*.jpg", f"a/{os.pardir}/{os.pardir}/*.jpg"])
def test_a_pattern_reaching_out_of_the_folder_is_a_config_error(pattern: str) -> None:
    """Such a pattern matched nothing and said nothing (read by ``Path.glob``: an absolute one
    raised ``NotImplementedError`` at each scan, one with ``..`` gave paths out of the folder)."""
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.source\.patterns: .* is not inside the folder"):
        StreamConfig.from_dict({"cameras": [{"id": "drop", "source": {
            "kind": "folder", "path": "/srv/ftp", "patterns": ["*.jpg", pattern]}}]}, "stream")
