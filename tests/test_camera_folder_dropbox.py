"""A folder camera as an FTP/SMB upload drop box: each file read once, across restarts too, and
never while it is still being uploaded.

Before: every start read every file of the folder again (5 of 5 files here, each vehicle's event
sent again: 27 repeats of 28 events after one restart of ``edge-alpr run``); a JPEG still being
written with an old mtime was read half-written (skipped with a warning, counted as an error),
and hidden or partial-upload names (``.tmp_x.jpg``, ``~x.jpg``, ``x.jpg.part``) were read as
pictures.  Scans are made explicitly or by a real camera loop reading a finite folder: no sleep.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import pytest
from waiting import wait_for

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import FrameSource, open_source, sample_dir
from edge_alpr.stream.sources.ledger import LEDGER
from edge_alpr.stream.tracker import PlateEvent
from edge_alpr.types import Box, PlateRead, PlateResult, VehicleRead

T0 = 1_780_000_000.0  # a file time in 2026
SAMPLE = sorted(sample_dir().glob("*.jpg"))[0]
PLATES = ("B144MOS", "CJ12ABC", "IS07XYZ")


def _drop(folder: Path, name: str, t: float) -> None:
    shutil.copyfile(SAMPLE, folder / name)
    os.utime(folder / name, (t, t))


def _camera(folder: Path, **source: object) -> StreamConfig:
    return StreamConfig.from_dict({"cameras": [{"id": "drive", "motion": {"threshold": 0}, "source": {
        "kind": "folder", "path": str(folder), "poll_interval": 0.05, "watch": False, **source}}],
        "events": {"max_prediction_delay": 1.0}}, "t")


def _run(folder: Path, state: Path, **source: object) -> list[str]:
    """One start of a camera loop over the folder until it ended: the plates of its events."""
    stream = _camera(folder, **source)
    cam = stream.cameras[0]
    stop = threading.Event()

    def recognise(image: object) -> list[PlateResult]:  # each file its own car, by its order
        plate = PLATES[loop.stats.frames_processed % len(PLATES)]
        return [PlateResult(Box(100, 100, 180, 120), 0.9, PlateRead(plate, 0.9, (), "ro", 0.8),
                            VehicleRead("Car", 0.7, Box(60, 40, 220, 200)))]

    events: list[PlateEvent] = []
    loop = CameraLoop(cam, stream.events, open_source(cam, stop, state), recognise, events.append, stop)
    loop.start()
    try:
        assert wait_for(lambda: not loop.is_alive(), 30), loop.describe()
    finally:
        stop.set()
        loop.join(10)
    return [e.result.read.plate for e in events]


def test_files_read_before_a_restart_are_not_read_again(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    folder, state = tmp_path / "in", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    for i in range(3):  # three cars a minute apart
        _drop(folder, f"f{i}.jpg", T0 + 60 * i)
    assert _run(folder, state) == list(PLATES)
    with caplog.at_level(logging.INFO, logger="edge_alpr.stream.sources.files"):
        assert _run(folder, state) == []  # the restart: nothing again
    said = [r.getMessage() for r in caplog.records if "already read" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("camera drive: 3 files in ") and LEDGER in said[0], caplog.text
    # an upload stamped by a camera whose clock is behind: older than all, still new
    _drop(folder, "late.jpg", T0 - 86400)
    assert _run(folder, state) == [PLATES[0]]
    # a file uploaded again under a name already read (new content): a new picture
    (folder / "f1.jpg").write_bytes(SAMPLE.read_bytes() + b"\0")
    os.utime(folder / "f1.jpg", (T0 + 600, T0 + 600))
    assert _run(folder, state) == [PLATES[0]]
    assert _run(folder, state, remember=False) == [*PLATES, PLATES[0]]  # all four, on request


def test_frames_not_finished_are_read_again_and_a_moved_folder_starts_fresh(tmp_path: Path) -> None:
    folder, state = tmp_path / "in", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    for i in range(2):
        _drop(folder, f"f{i}.jpg", T0 + 60 * i)
    cam = _camera(folder).cameras[0]
    source = open_source(cam, threading.Event(), state)
    frames = list(source)  # read, but their events never committed (a kill -9 here)
    assert len(frames) == 2
    source.done(frames[0].index)  # the first one's events committed
    source.close()
    assert _run(folder, state) == [PLATES[0]]  # only the second again: at least once, no loss
    assert _run(folder, state) == []
    moved = tmp_path / "moved"
    folder.rename(moved)
    assert _run(moved, state) == list(PLATES)[:2]  # another folder: every file is new to it


def _scan_and_read(source: FrameSource) -> list[str]:
    """One explicit scan of the folder, then every file it queued: their names."""
    source._scan()  # type: ignore[attr-defined]
    names = [p.name for p in source._queue]  # type: ignore[attr-defined]
    while source._queue:  # type: ignore[attr-defined]
        assert source.read(1.0) is not None
    return names


def test_an_upload_is_read_once_complete_and_temporary_names_never(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "ftp"
    folder.mkdir()
    data = SAMPLE.read_bytes()
    growing = folder / "car.jpg"
    growing.write_bytes(data[: len(data) // 2])  # half uploaded, its mtime kept from the camera
    os.utime(growing, (T0, T0))
    for name in (".tmp_car2.jpg", "~car3.jpg", "car4.jpg.part", "car5.JPG.filepart", ".DS_Store",
                 "car6.jpg.!sync", "car7.jpg.!qB", "car8.jpg.bc!"):  # Resilio Sync, qBittorrent, BitComet
        (folder / name).write_bytes(data)
    cam = _camera(folder, patterns=["*"], watch=True).cameras[0]
    source = open_source(cam, threading.Event())
    with caplog.at_level(logging.WARNING):
        assert _scan_and_read(source) == []  # seen once: perhaps still growing
        with growing.open("ab") as f:
            f.write(data[len(data) // 2:])
        assert _scan_and_read(source) == []  # changed since: still being written
        assert _scan_and_read(source) == ["car.jpg"]  # the same twice: complete
        assert _scan_and_read(source) == []
    assert source.errors == 0 and not caplog.records, caplog.text
