"""A folder camera whose files' times step back (a camera uploading with its own clock, reset or
set to another zone; files copied in from two places): events stay one per vehicle.

A real folder source over real files, read in name order with their modification times as the
frames' times; the reads are recorded values (no model: what is tested is the grouping).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from waiting import wait_for

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source, sample_dir
from edge_alpr.stream.tracker import PlateEvent
from edge_alpr.types import Box, PlateRead, PlateResult, VehicleRead

T0 = 1_780_000_000.0  # a file time in 2026


def _read(plate: str, x: int) -> PlateResult:
    return PlateResult(Box(x, 100, x + 80, 120), 0.9, PlateRead(plate, 0.9, (), "es", 0.8),
                       VehicleRead("Sedan", 0.7, Box(x - 40, 40, x + 120, 200)))


def test_file_times_stepping_back_give_no_event_storm(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    sample = sorted(sample_dir().glob("*.jpg"))[0]
    # 6 files of a parked car 0.4 s apart, then the camera's clock steps back an hour: 12 more,
    # a second car arriving in the 8th
    times = [T0 + 0.4 * i for i in range(6)] + [T0 - 3600 + 0.4 * i for i in range(12)]
    for i, t in enumerate(times):
        shutil.copyfile(sample, folder / f"f{i:03d}.jpg")
        os.utime(folder / f"f{i:03d}.jpg", (t, t))
    seen: list[int] = []

    def recognise(image: object) -> list[PlateResult]:
        seen.append(1)
        return [_read("1234ABC", 100)] + ([_read("9876XYZ", 300)] if len(seen) > 13 else [])

    stream = StreamConfig.from_dict({"cameras": [{"id": "upload", "motion": {"threshold": 0}, "source": {
        "kind": "folder", "path": str(folder), "poll_interval": 0.1, "watch": False}}],
        "events": {"max_prediction_delay": 1.0, "memory_decay": 10}}, "t")
    cam = stream.cameras[0]
    stop = threading.Event()
    events: list[PlateEvent] = []
    loop = CameraLoop(cam, stream.events, open_source(cam, stop), recognise, events.append, stop)
    loop.start()
    try:
        assert wait_for(lambda: not loop.is_alive() or loop.stats.frames_processed >= len(times), 30), loop.describe()
    finally:
        stop.set()
        loop.join(10)
    plates = [e.result.read.plate for e in events]
    assert plates.count("1234ABC") == 1 and plates.count("9876XYZ") == 1, \
        [(e.result.read.plate, e.first_seen.isoformat(), e.frames) for e in events]
    second = next(e for e in events if e.result.read.plate == "9876XYZ")
    assert second.frames >= 2  # grouped, not reported from its first file
    assert second.first_seen.timestamp() < T0  # the files' own times are kept
