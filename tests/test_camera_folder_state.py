"""A folder camera's state between files: started while its share is not mounted yet it is
reconnecting, not waiting; reading a file a poll it is streaming, not waiting between them;
restarted with nothing new, its last frame is its newest file's, read by any version.

Why: a share not mounted at boot lists its mount point, an empty folder, and the mount point
was not one at the start either, so nothing told it from a drop box with nothing new: the camera
said ``waiting`` (Home Assistant's connectivity on) though every file read before was gone.
Real files, the real ledger and source, its scans driven one by one (``_scan``, as its ``read``
does every ``poll_interval``); the share's absence is its files moved away (an unmounted mount
point lists the empty folder under it; ``test_camera_folder_share.py`` mounts real ones).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_state
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.source_config import FolderSourceConfig
from edge_alpr.stream.sources import SourceEnded
from edge_alpr.stream.sources.files import FolderSource
from edge_alpr.stream.sources.ledger import LEDGER, ReadLedger

NAMES = ("a.jpg", "b.jpg", "c.jpg")


def _folder(tmp_path: Path) -> tuple[FolderSourceConfig, Path, Path]:
    """A drop box of three files, all read by an earlier run (with them there at its last scan)."""
    folder, state = tmp_path / "drop", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    ok, data = cv2.imencode(".jpg", np.full((16, 16, 3), 90, np.uint8))
    assert ok
    for name in NAMES:
        (folder / name).write_bytes(bytes(data))
        os.utime(folder / name, (1e9, 1e9))
    cfg = FolderSourceConfig(path=str(folder), poll_interval=3600)
    ReadLedger(state, "drop", folder.resolve(), 86400.0, 100).add(
        (name, (len(data), (folder / name).stat().st_mtime_ns)) for name in NAMES)
    return cfg, folder, state


def test_a_share_not_mounted_at_the_start_is_reconnecting_until_its_files_are_there(tmp_path: Path) -> None:
    cfg, folder, state = _folder(tmp_path)
    away = tmp_path / "server"
    folder.rename(away)
    folder.mkdir()  # the mount point, the share not mounted on it
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    assert source.failing_since is not None and source.waiting() == ""
    assert str(folder) in source.last_error and "3 files read before this start" in source.last_error
    assert "is its share mounted?" in source.last_error
    source._scan()
    assert source.failing_since is not None  # still
    folder.rmdir()
    away.rename(folder)  # mounted: the same files, not read again
    source._scan()
    assert source.failing_since is None and source._queue == []
    assert source.waiting() == "waiting for new files (3 in the folder already read)"


def test_a_drop_box_emptied_while_the_camera_ran_is_waiting_after_a_restart(tmp_path: Path) -> None:
    """Processed files deleted while the camera runs (its scans saw them go): after a restart
    the empty folder is a drop box with nothing new, not a share to mount."""
    cfg, folder, state = _folder(tmp_path)
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    for name in NAMES:
        (folder / name).unlink()
    source._scan()
    assert source.failing_since is None
    source.close()
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    assert source.failing_since is None and source.waiting() == "waiting for files (none in the folder)"


def test_a_camera_reading_a_file_a_scan_is_not_waiting_between_its_files(tmp_path: Path) -> None:
    """After each file read the camera is not ``waiting`` until a scan finds nothing new (it
    flipped to waiting and back at every file: two health publishes a file); the count of files
    read it says stays right across files read, rewritten, gone and skipped."""
    cfg, folder, state = _folder(tmp_path)
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    assert source.waiting() == "waiting for new files (3 in the folder already read)"
    data = (folder / "a.jpg").read_bytes()
    for i in range(3):  # an upload at each poll; each read once complete (the next scan)
        (folder / f"new{i}.jpg").write_bytes(data)
        os.utime(folder / f"new{i}.jpg", (2e9 + i, 2e9 + i))
        source._scan()
        while source._queue:
            assert source._load(source._queue.pop(0)) is not None
        if i:
            assert source.waiting() == "", i  # streaming: the scan found a file to read
    source._scan()  # the last upload, complete: read
    assert source._load(source._queue.pop(0)) is not None and source.waiting() == ""
    source._scan()  # nothing new
    assert source.waiting() == "waiting for new files (6 in the folder already read)"
    (folder / "a.jpg").write_bytes(b"not a picture")  # rewritten: skipped once complete
    os.utime(folder / "a.jpg", (1e9, 1e9))
    (folder / "b.jpg").unlink()
    for _ in range(3):
        source._scan()
        while source._queue:
            assert source._load(source._queue.pop(0)) is None
    assert source.errors == 1 and source.waiting() == "waiting for new files (4 in the folder already read)"


def test_the_last_frame_before_a_restart_counts_files_an_earlier_version_read(tmp_path: Path) -> None:
    """edge-alpr downgraded, then upgraded: the earlier version wrote its rows without a
    wall-clock time (``read_wall``); the last frame said after the restart was the newest row
    with one, from before the downgrade, however many files were read since.  Now it is at
    least the running time after it at which the newest row was read."""
    state = tmp_path / "state"
    state.mkdir()
    ReadLedger(state, "drop", Path("/srv/drop"), 86400.0, 100).add([("b.jpg", (1, 1))])
    with closing(sqlite3.connect(state / LEDGER)) as db, db:
        read_at, wall = db.execute("SELECT read_at, read_wall FROM read_file WHERE name = 'b.jpg'").fetchone()
        # rows as an earlier version writes them: no read_wall; one read before b.jpg, one 60 s
        # of running time after
        for name, at in (("a.jpg", read_at - 30), ("c.jpg", read_at + 60)):
            db.execute("INSERT INTO read_file (camera, name, size, mtime_ns, read_at, missing_since) "
                       "VALUES ('drop', ?, 1, 1, ?, NULL)", (name, at))
    before = ReadLedger(state, "drop", Path("/srv/drop"), 86400.0, 100).read_before
    assert before is not None and before >= wall + 60, (before, wall)
    with closing(sqlite3.connect(state / LEDGER)) as db, db:
        db.execute("DELETE FROM read_file WHERE name = 'c.jpg'")  # the earlier version's row is older
    assert ReadLedger(state, "drop", Path("/srv/drop"), 86400.0, 100).read_before == wall


def test_a_restart_while_the_share_is_still_not_mounted_is_reconnecting_again(tmp_path: Path) -> None:
    """The empty listing marked every file read before missing: restarted while the share was
    still away, the camera knew of no file there before and said ``waiting``.  Rows are now
    kept present until a listing finds files (their ageing towards forget_after_days starts
    there)."""
    cfg, folder, state = _folder(tmp_path)
    away = tmp_path / "server"
    folder.rename(away)
    folder.mkdir()
    for _ in range(2):  # a start and a restart, the share not mounted at either
        source = FolderSource(cfg, "drop", threading.Event(), state)
        source._scan()
        source._scan()
        assert source.failing_since is not None and source.waiting() == ""
        assert "3 files read before this start" in (source.last_error or "")
        source.close()
    with closing(sqlite3.connect(state / LEDGER)) as db:
        assert db.execute("SELECT count(*) FROM read_file WHERE missing_since IS NOT NULL").fetchone() == (0,)
    folder.rmdir()
    away.rename(folder)
    source._scan()
    assert source.failing_since is None and source._queue == []
    assert source.waiting() == "waiting for new files (3 in the folder already read)"


def test_a_drop_box_emptied_while_stopped_counts_one_error_and_stays_reconnecting(tmp_path: Path) -> None:
    """Processed files deleted while edge-alpr was stopped look like a share not mounted: the
    camera said ``failed`` after failed_after_s and counted an error at every poll (86,400 a day)
    until the next upload.  One error an episode now, ``reconnecting`` with the reason, until a
    file is listed.  A real CameraLoop (not started: its state is computed from its source)."""
    cfg, folder, state = _folder(tmp_path)
    data = (folder / "a.jpg").read_bytes()
    for name in NAMES:
        (folder / name).unlink()
    stream = StreamConfig.from_dict({"cameras": [{"id": "drop", "failed_after_s": 3.0, "source": {
        "kind": "folder", "path": str(folder), "poll_interval": 3600}}]}, "t")
    camera, stop = stream.cameras[0], threading.Event()
    source = FolderSource(cfg, "drop", stop, state)
    loop = CameraLoop(camera, stream.events, source, lambda image: [], lambda e: None, stop)
    for _ in range(100):
        source._scan()
    assert source.errors == 1 and "is its share mounted?" in (source.last_error or "")
    assert source.failing_since is not None
    assert camera_state(loop, source.failing_since + 10 * camera.failed_after_s) == "reconnecting"
    (folder / "new.jpg").write_bytes(data + b"x")
    os.utime(folder / "new.jpg", (2e9, 2e9))
    source._scan()
    assert source.failing_since is None and camera_state(loop) != "failed"
    source._scan()  # settled: read
    assert [p.name for p in source._queue] == ["new.jpg"] and source.errors == 1


def test_a_file_seen_mid_upload_then_as_it_was_read_is_not_waited_for(tmp_path: Path) -> None:
    """A file read before, uploaded again unchanged by a client that keeps its mtime (FTP MFMT,
    ``cp -p``) and seen by a scan mid-upload: once complete it matches its mark, is not due, and
    its settling entry was never dropped: "waiting for 1 new file to be written in full" for
    ever, and with ``watch: false`` the camera never ended."""
    cfg, folder, state = _folder(tmp_path)
    for watch in (True, False):
        source = FolderSource(dataclasses.replace(cfg, watch=watch), "drop", threading.Event(), state)
        source._scan()
        a = folder / "a.jpg"
        data, st = a.read_bytes(), a.stat()
        a.write_bytes(data[:100])  # mid-upload
        source._scan()
        assert source._settling and (source.waiting().startswith("waiting for 1 new file ") or not watch)
        a.write_bytes(data)
        os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))  # complete, its mtime kept
        source._scan()
        assert source._queue == [] and not source._settling
        if watch:
            assert source.waiting() == "waiting for new files (3 in the folder already read)"
        else:
            with pytest.raises(SourceEnded):
                source.read(0.0)
