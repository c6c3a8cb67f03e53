"""When a frame was made: a device's own capture time (V4L2, libcamera) on this machine's clocks,
and an RTSP stream's time followed against the monotonic clock (``stamps.py``).

The clocks are the real ones.  The stream clock is fed the stream times a camera would send
(drifting, jittering, reset), as many hours of them as a test can afford; the live stream is in
``test_rtsp_behind.py``.  The V4L2 device and the Pi camera are declared fakes: neither can
exist here.
"""

from __future__ import annotations

import logging
import random
import sys
import time
import types
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest
from test_stream_sources import FakePicamera2

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.source_config import OpenCvSourceConfig
from edge_alpr.stream.sources import open_source
from edge_alpr.stream.sources.opencv import OpenCvSource
from edge_alpr.stream.sources.stamps import StreamClock, device_time

STAMPS = "edge_alpr.stream.sources.stamps"


def feed(clock: StreamClock, frames: list[tuple[float, float]]) -> list[float]:
    """Each (stream time, read time) through ``clock``: how far behind it said, frame by frame."""
    behind = []
    for pts, now in frames:
        clock.made(pts, now)
        assert clock.behind_s is not None
        behind.append(clock.behind_s)
    return behind


def camera(fps: float, seconds: float, rate: float = 1.0, start: float = 1000.0, pts0: float = 0.0,
           jitter: float = 0.0, seed: int = 1) -> list[tuple[float, float]]:
    """A camera read as it sends: frame i made at ``start + i/fps`` (our clock), its stream time
    advancing ``rate`` times as fast as ours (a camera clock running fast or slow), each read up
    to ``jitter`` s late (network, decoding)."""
    rng = random.Random(seed)
    return [(pts0 + i / fps * rate, start + i / fps + rng.uniform(0.0, jitter)) for i in range(int(seconds * fps))]


@pytest.mark.parametrize("rate", [1.0 - 300e-6, 1.0, 1.0 + 300e-6])
def test_camera_clock_drift_over_hours_is_not_behind(rate: float, caplog: pytest.LogCaptureFixture) -> None:
    """A camera clock 300 ppm slow or fast (1.1 s an hour) over 4 hours, read with 0.3 s of jitter."""
    caplog.set_level(logging.INFO, logger=STAMPS)
    behind = feed(StreamClock("gate"), camera(5, 4 * 3600, rate, jitter=0.3))
    assert max(behind) < 0.6, max(behind)
    assert not caplog.records


def test_a_reading_that_falls_behind_warns_once_then_says_it_caught_up(caplog: pytest.LogCaptureFixture) -> None:
    """Caught up for a minute, then read at 20 of 25 frames a second for a minute (0.2 s later each
    second: 12 s behind), then the backlog drained and read in real time again."""
    caplog.set_level(logging.INFO, logger=STAMPS)
    clock = StreamClock("gate")
    ok = camera(25, 60)
    slow = [(60 + i / 25, 1060 + i / 20) for i in range(20 * 60)]  # frames 0..1199 of the next minute
    back = camera(25, 60, start=1120.5, pts0=120.0)
    behind = feed(clock, ok + slow + back)
    assert max(behind[:len(ok)]) < 0.01
    assert 11.5 < behind[len(ok) + len(slow) - 1] < 12.1, behind[len(ok) + len(slow) - 1]
    assert max(behind[-len(back):]) < 0.6
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert len(said) == 2, said
    assert said[0][0] == logging.WARNING and said[0][1].startswith("camera gate: frames are read 2.")
    assert "0.20 s later every second" in said[0][1] and "substream" in said[0][1]
    assert said[1][0] == logging.INFO and "caught up" in said[1][1] and "12." in said[1][1]


def test_stream_time_that_resets_wraps_or_stands_still_is_not_behind(caplog: pytest.LogCaptureFixture) -> None:
    """A camera that restarts its stream time mid-connection (back to 0), jumps ahead (a wrap
    unwrapped, a clock set), or whose frames carry no time (OpenCV says 0 for each)."""
    caplog.set_level(logging.INFO, logger=STAMPS)
    frames = camera(10, 30) + camera(10, 30, start=1030.0) + camera(10, 30, start=1060.0, pts0=5e5)
    frames += [(0.0, 1090.0 + i / 10) for i in range(300)]
    assert max(feed(StreamClock("gate"), frames)) < 0.01
    assert not caplog.records


def test_a_new_connection_starts_afresh() -> None:
    clock = StreamClock("gate")
    feed(clock, [(60 + i / 25, 1000 + i / 20) for i in range(200)])  # 2 s behind
    clock.restart()
    assert clock.behind_s is None
    assert feed(clock, camera(25, 2, start=1020.0, pts0=3.0))[-1] < 0.01  # the old backlog went with it


def test_the_camera_made_the_frame_when_its_stream_time_says() -> None:
    clock = StreamClock("gate")
    feed(clock, camera(25, 10))
    # read 3 s after it was made (give or take the 2 ms its reference may creep in 4 s)
    assert clock.made(10.0 + 1.0, 1010.0 + 4.0) == pytest.approx(1011.0, abs=0.005)


def test_device_times_on_this_machines_clocks() -> None:
    """V4L2 stamps its buffers on CLOCK_MONOTONIC, libcamera documents CLOCK_BOOTTIME; a driver
    that leaves 0 or stamps the wall clock, or a time ahead of now or long past, is not used."""
    now = time.monotonic()
    mono = time.clock_gettime(time.CLOCK_MONOTONIC) - (time.monotonic() - now)
    boot = time.clock_gettime(time.CLOCK_BOOTTIME) - (time.monotonic() - now)
    assert device_time(mono - 0.08, now) == pytest.approx(now - 0.08, abs=0.002)
    assert device_time(boot - 0.08, now) == pytest.approx(now - 0.08, abs=0.002)
    assert device_time(mono + 0.002, now) == pytest.approx(now, abs=0.002)  # the clocks read a hair apart
    for bad in (0.0, -1.0, float("nan"), time.time() - 0.08, mono + 1.0, mono - 60.0):
        assert device_time(bad, now) is None, bad


def test_a_pi_camera_frame_is_stamped_with_its_sensor_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the declared FAKE of picamera2 (no Pi camera here): its frames handed over 120 ms
    after the sensor made them are stamped 120 ms earlier than they were read."""
    module = types.ModuleType("picamera2")
    monkeypatch.setattr(module, "Picamera2", FakePicamera2, raising=False)
    monkeypatch.setitem(sys.modules, "picamera2", module)
    monkeypatch.setattr(FakePicamera2, "sensor_age_s", 0.12)
    cam = StreamConfig.from_dict({"cameras": [{"id": "pi", "source": {"kind": "picamera2"}}]}, "t").cameras[0]
    with open_source(cam) as src:
        frame = src.read(1.0)
        read, wall = time.monotonic(), datetime.now(timezone.utc)
    assert frame is not None
    assert read - frame.captured == pytest.approx(0.12, abs=0.03)
    assert (wall - frame.timestamp).total_seconds() == pytest.approx(0.12, abs=0.03)


class FakeV4l2Capture:
    """A FAKE of OpenCV's V4L2 capture (no camera device here): ``grab``, ``retrieve`` (BGR) and
    ``get(CAP_PROP_POS_MSEC)``, the dequeued buffer's timestamp in ms, here ``age_s`` before the
    grab on the clock ``stamp`` reads (a driver on CLOCK_MONOTONIC, or one on the wall clock)."""

    def __init__(self, age_s: float, stamp: Any) -> None:
        self.age_s, self.stamp, self.taken = age_s, stamp, 0.0

    def isOpened(self) -> bool:
        return True

    def grab(self) -> bool:
        self.taken = self.stamp() - self.age_s
        return True

    def retrieve(self) -> tuple[bool, np.ndarray]:
        return True, np.zeros((48, 64, 3), np.uint8)

    def get(self, prop: int) -> float:
        import cv2

        assert prop == cv2.CAP_PROP_POS_MSEC
        return self.taken * 1000.0

    def release(self) -> None:
        pass


@pytest.mark.parametrize(("stamp", "earlier"), [(time.monotonic, 0.2), (time.time, 0.0)], ids=["monotonic", "wall"])
def test_a_v4l2_frame_is_stamped_with_its_buffer_time_on_the_monotonic_clock(
        stamp: Any, earlier: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OpenCvSource, "_open", lambda self: FakeV4l2Capture(0.2, stamp))
    src = OpenCvSource(OpenCvSourceConfig(device=0), "usb")
    frame = src.read(1.0)
    read = time.monotonic()
    assert frame is not None and src.behind() is None  # a device's frames have no stream to fall behind
    assert read - frame.captured == pytest.approx(earlier, abs=0.03)
    src.close()
