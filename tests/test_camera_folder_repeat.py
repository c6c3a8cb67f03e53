"""The same plate dropped into a folder camera again within memory_decay: no event, one log line
saying why (a newcomer re-copying a sample image saw nothing happen)."""

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
from edge_alpr.stream.sources import open_source, sample_dir
from edge_alpr.stream.tracker import PlateEvent
from edge_alpr.types import Box, PlateRead, PlateResult, VehicleRead

T0 = 1_780_000_000.0  # a file time in 2026


def test_a_plate_dropped_in_again_says_why_it_gave_no_event(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    sample = sorted(sample_dir().glob("*.jpg"))[0]
    for i, t in enumerate((T0, T0 + 20, T0 + 40)):  # one car, then its image copied in twice more
        shutil.copyfile(sample, folder / f"f{i}.jpg")
        os.utime(folder / f"f{i}.jpg", (t, t))

    def recognise(image: object) -> list[PlateResult]:
        return [PlateResult(Box(100, 100, 180, 120), 0.9, PlateRead("B144MOS", 0.9, (), "ro", 0.8),
                            VehicleRead("Car", 0.7, Box(60, 40, 220, 200)))]

    stream = StreamConfig.from_dict({"cameras": [{"id": "drive", "motion": {"threshold": 0}, "source": {
        "kind": "folder", "path": str(folder), "poll_interval": 0.1, "watch": False}}],
        "events": {"max_prediction_delay": 1.0}}, "t")
    cam = stream.cameras[0]
    stop = threading.Event()
    events: list[PlateEvent] = []
    loop = CameraLoop(cam, stream.events, open_source(cam, stop), recognise, events.append, stop)
    with caplog.at_level(logging.INFO, logger="edge_alpr.stream.loop"):
        loop.start()
        try:
            assert wait_for(lambda: not loop.is_alive() or loop.stats.frames_processed >= 3, 30), loop.describe()
        finally:
            stop.set()
            loop.join(10)
    assert len(events) == 1
    said = [r.getMessage() for r in caplog.records if "back after" in r.getMessage()]
    assert said == ["camera drive: plate b144mos back after 20 s unseen: no new event until it is unseen "
                    "for stream.events.memory_decay (300 s; 0 reports every passage)"], caplog.text
