"""Network cameras that are down in the ways real ones are, next to one that works: real RTSP
servers on loopback (``rtsp_camera.py``) read through OpenCV's FFmpeg backend.

OpenCV opens FFmpeg captures one at a time, process-wide; a hung camera (it accepts the
connection, never answers) held that turn for its whole ``read_timeout`` at every retry, so
four of them delayed a working camera's first frame from 2 s to 9 s and left its capture
thread past its deadline (health ``failed``, the watchdog no longer pinged).  And every kind of
failure read ``cannot open camera``: a wrong path, user or password, host name or port looked
the same.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rtsp_camera import SKIP_WITHOUT_SERVER, RtspCamera, SilentCamera, sample_image
from waiting import wait_for

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_health
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source, sample_dir

pytestmark = SKIP_WITHOUT_SERVER
SAMPLE = sorted(json.loads((sample_dir() / "labels.json").read_text()))[0]


@pytest.fixture
def silent() -> Iterator[SilentCamera]:
    camera = SilentCamera()
    yield camera
    camera.close()


def _loops(urls: dict[str, str], stop: threading.Event) -> dict[str, CameraLoop]:
    stream = StreamConfig.from_dict({"cameras": [{"id": name, "source": {
        "kind": "opencv", "url": url, "read_timeout": 2, "reconnect_min": 0.2, "reconnect_max": 0.5}}
        for name, url in urls.items()]}, "t")
    return {cam.id: CameraLoop(cam, stream.events, open_source(cam, stop), lambda image: [], lambda e: None, stop)
            for cam in stream.cameras}


def test_hung_cameras_do_not_hold_back_a_working_one(tmp_path: Path, silent: SilentCamera) -> None:
    """Four hung cameras retrying all the time; a working camera started among them streams
    within 5 s (its own open takes about 0.15 s, plus a retry when the test server drops the
    media the first DESCRIBE made; 9 s when hung cameras held the turn) and no capture thread is
    ever past its deadline."""
    good = RtspCamera(sample_image(tmp_path, SAMPLE))
    good.start()
    stop = threading.Event()
    loops = _loops({**{f"hung{i}": silent.url for i in range(4)}, "good": good.url}, stop)
    try:
        for name, loop in loops.items():
            if name != "good":
                loop.start()
        assert wait_for(lambda: all(loops[f"hung{i}"].source.errors >= 1 for i in range(4)), 15)
        started, late, first = time.monotonic(), 0.0, None
        loops["good"].start()
        while time.monotonic() - started < 6:
            late = max(late, *(loop.capture.overdue() for loop in loops.values()))
            if first is None and loops["good"].stats.frames_read:
                first = time.monotonic() - started
            time.sleep(0.05)
        assert first is not None and first < 5, (first, camera_health(loops["good"])["last_error"])
        assert late == 0, late
        assert camera_health(loops["good"])["state"] == "streaming"
        assert all(camera_health(loops[f"hung{i}"])["state"] == "reconnecting" for i in range(4))
        assert "did not answer within the read_timeout" in str(camera_health(loops["hung0"])["last_error"])
    finally:
        stop.set()
        for loop in loops.values():
            loop.join(10)
        good.kill()


@pytest.mark.parametrize("method", ["basic", "digest"])
def test_each_way_of_being_down_says_what_is_wrong(tmp_path: Path, silent: SilentCamera, method: str) -> None:
    """A camera's ``last_error`` (``/info/``, MQTT, the log's one line) names the cause: a wrong
    path, a wrong or missing user and password, a host name that does not resolve, a port
    nothing listens on, a camera that never answers; the right user and password stream."""
    camera = RtspCamera(sample_image(tmp_path, SAMPLE), auth=("admin", "s3cret", method))
    camera.start()
    closed = SilentCamera()  # a port that was open: nothing listens there once it is closed
    closed.close()
    port = camera.port
    urls = {
        "right": f"rtsp://admin:s3cret@127.0.0.1:{port}/cam",
        "path": f"rtsp://admin:s3cret@127.0.0.1:{port}/nope",
        "password": f"rtsp://admin:wrong@127.0.0.1:{port}/cam",
        "anonymous": f"rtsp://127.0.0.1:{port}/cam",
        "host": "rtsp://no-such-camera.invalid/cam",  # .invalid never resolves (RFC 6761)
        "port": closed.url,
        "hung": silent.url,
    }
    expected = {
        "path": "no stream at /nope (404 Not Found)",
        "password": "refused the url's user and password (401 Unauthorized)",
        "anonymous": "wants a user and password (401 Unauthorized)",
        "host": "no-such-camera.invalid",
        "port": f"cannot connect to 127.0.0.1 port {closed.port}",
        "hung": "did not answer within the read_timeout",
    }
    stop = threading.Event()
    loops = _loops(urls, stop)
    try:
        for loop in loops.values():
            loop.start()
        health: dict[str, Any] = {}

        def settled() -> bool:
            health.update({name: camera_health(loop) for name, loop in loops.items()})
            return health["right"]["state"] == "streaming" and all(
                health[name]["state"] == "reconnecting" for name in expected)

        assert wait_for(settled, 20), health
        for name, words in expected.items():
            assert words in str(health[name]["last_error"]), (name, health[name])
    finally:
        stop.set()
        for loop in loops.values():
            loop.join(10)
        camera.kill()
