"""A camera's ``last_error`` in its health is the newest of its source's failure and its threads'
last crash, with its time: once frames flow again, a reason from before the other was no news.

Real parts: an MJPEG camera on loopback (``mjpeg_camera.py``) read by the real OpenCV source
and camera loop; the recognizer alone is a stand-in, raising when told (a crash of the loop's
thread, as a model's error would be).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from mjpeg_camera import MjpegCamera

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_health
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source
from edge_alpr.types import PlateResult


def _wait(done: Callable[[], bool], seconds: float = 30.0) -> bool:
    started = time.monotonic()
    while not done() and time.monotonic() - started < seconds:
        time.sleep(0.05)
    return done()


def test_the_newest_of_a_drop_and_a_crash_is_the_cameras_last_error() -> None:
    crash: list[str] = []

    def recognize(_: np.ndarray) -> list[PlateResult]:
        if crash:
            raise RuntimeError(crash.pop())
        return []

    camera = MjpegCamera()
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "motion": {"threshold": 0}, "source": {
        "kind": "opencv", "url": camera.url, "read_timeout": 2, "reconnect_min": 0.1, "reconnect_max": 0.3}}]}, "t")
    cam, stop = stream.cameras[0], threading.Event()
    source = open_source(cam, stop)
    loop = CameraLoop(cam, stream.events, source, recognize, lambda e: None, stop)
    loop.start()
    try:
        assert _wait(lambda: loop.stats.frames_processed >= 2), loop.describe()
        crash.append("first crash")
        assert _wait(lambda: loop.crashes == 1)
        assert _wait(lambda: camera_health(loop)["last_error"] == "RuntimeError: first crash"), camera_health(loop)
        time.sleep(1.1)  # the drop's time a second later, in the health's whole seconds too
        camera.drop()  # newer than the first crash
        assert _wait(lambda: source.failing_since is not None)
        assert _wait(lambda: source.failing_since is None and loop.stats.frames_processed >= 4)
        health = camera_health(loop)
        assert "stopped sending frames" in (health["last_error"] or ""), health
        time.sleep(1.1)
        crash.append("second crash")  # newer than the drop
        assert _wait(lambda: loop.crashes == 2)
        health = camera_health(loop)
        assert health["last_error"] == "RuntimeError: second crash", health
    finally:
        stop.set()
        loop.join(5)
        loop.capture.join(5)  # it closes the source
        camera.close()
