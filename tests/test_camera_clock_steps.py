"""A live camera whose wall clock steps (NTP after a boot without network, a clock reset):
events keep one per vehicle.  A real RTSP server (``tests/rtsp_server.py``) read through
OpenCV's FFmpeg backend; the step itself is made in the source module's ``datetime`` (the
test host's clock cannot be stepped without root), the only thing not real here.

Before the tracker took a live camera's monotonic capture time: stepped back an hour, the
next vehicle gave one event per frame recognised (33 in 8 s at 5 fps); stepped forward an
hour, the car in view was forgotten and reported a second time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import cv2
import pytest
from rtsp_camera import SKIP_WITHOUT_SERVER, RtspCamera
from waiting import wait_for

import edge_alpr.stream.sources.opencv as opencv_source
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source, sample_dir
from edge_alpr.stream.tracker import PlateEvent
from edge_alpr.types import Box, PlateRead, PlateResult, VehicleRead

pytestmark = SKIP_WITHOUT_SERVER


def _read(plate: str, x: int) -> PlateResult:
    return PlateResult(Box(x, 100, x + 80, 120), 0.9, PlateRead(plate, 0.9, (), "es", 0.8),
                       VehicleRead("Sedan", 0.7, Box(x - 40, 40, x + 120, 200)))


@pytest.fixture
def rtsp(tmp_path: Path) -> Iterator[RtspCamera]:
    image = tmp_path / "camera.jpg"
    cv2.imwrite(str(image), cv2.resize(cv2.imread(str(sorted(sample_dir().glob("*.jpg"))[0])), (320, 240)))
    camera = RtspCamera(image, fps=10)
    camera.start()
    yield camera
    camera.kill()


@pytest.mark.parametrize("step_s", [-3600.0, 3600.0])
def test_a_wall_clock_step_gives_no_event_storm_and_no_duplicate(
        rtsp: RtspCamera, monkeypatch: pytest.MonkeyPatch, step_s: float) -> None:
    offset = [0.0]

    class SteppedClock(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + timedelta(seconds=offset[0])

    monkeypatch.setattr(opencv_source, "datetime", SteppedClock)
    in_view = [_read("1234ABC", 100)]  # a car parked in view
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "max_fps": 5, "motion": {"threshold": 0}, "source": {
        "kind": "opencv", "url": rtsp.url, "read_timeout": 5}}],
        "events": {"max_prediction_delay": 0.5, "memory_decay": 10}}, "t")
    cam = stream.cameras[0]
    stop = threading.Event()
    events: list[PlateEvent] = []
    loop = CameraLoop(cam, stream.events, open_source(cam, stop), lambda image: list(in_view), events.append, stop)
    loop.start()
    try:
        assert wait_for(lambda: len(events) == 1, 30), loop.describe()
        time.sleep(0.5)
        offset[0] = step_s  # the host's clock steps
        seen = loop.stats.frames_processed
        assert wait_for(lambda: loop.stats.frames_processed >= seen + 5, 10)  # the parked car, after the step
        in_view.append(_read("9876XYZ", 300))  # and a second vehicle arrives
        seen = loop.stats.frames_processed
        assert wait_for(lambda: loop.stats.frames_processed >= seen + 10, 10)  # 2 s of it
    finally:
        stop.set()
        loop.join(10)
    plates = [e.result.read.plate for e in events]
    assert plates == ["1234ABC", "9876XYZ"], [(e.result.read.plate, e.first_seen.isoformat(), e.frames) for e in events]
    second = events[1]
    assert second.frames >= 2  # grouped over max_prediction_delay, not reported from its first frame
    assert abs((second.first_seen - datetime.now(second.first_seen.tzinfo)).total_seconds() - step_s) < 60
