"""RTSP end to end: a real RTSP server on loopback (tests/rtsp_server.py: gst-rtsp-server, run
by the system's python3 with Debian's python3-gi and gir1.2-gst-rtsp-server-1.0) read through
OpenCV's FFmpeg backend as an IP camera: plates recognised, the server going away shows as
``reconnecting`` and its return as ``streaming`` again, with the real recognizer; a server
that stalls with its connection open, and one that comes back with another resolution.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from rtsp_camera import SKIP_WITHOUT_SERVER, RtspCamera, sample_image
from waiting import wait_for

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_health
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source, sample_dir
from edge_alpr.stream.tracker import PlateEvent

LABELS: dict[str, Any] = json.loads((sample_dir() / "labels.json").read_text())
SAMPLE = sorted(LABELS)[0]
pytestmark = SKIP_WITHOUT_SERVER


@pytest.fixture
def rtsp(tmp_path: Path) -> Iterator[RtspCamera]:
    camera = RtspCamera(sample_image(tmp_path, SAMPLE))
    camera.start()
    yield camera
    camera.kill()


def test_rtsp_camera_recognises_and_reconnects_to_a_real_server(rtsp: RtspCamera, recognizer: Any) -> None:
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "motion": {"threshold": 0}, "source": {
        "kind": "opencv", "url": rtsp.url, "read_timeout": 5, "reconnect_min": 0.2, "reconnect_max": 0.5}}],
        "events": {"max_prediction_delay": 0.5}}, "t")
    cam = stream.cameras[0]
    stop = threading.Event()
    events: list[PlateEvent] = []
    loop = CameraLoop(cam, stream.events, open_source(cam, stop), recognizer.recognize, events.append, stop)
    loop.start()
    try:
        assert wait_for(lambda: len(events) >= 1, 60), (camera_health(loop), loop.describe())
        plate, label = events[0].result.read.plate.upper(), LABELS[SAMPLE]["plates"][0]["text"].upper()
        assert len(plate) == len(label) and sum(a != b for a, b in zip(plate, label, strict=True)) <= 1, plate
        health = camera_health(loop)
        assert health["state"] == "streaming" and health["fps_in"] > 3, health

        rtsp.kill()  # the camera goes away
        assert wait_for(lambda: camera_health(loop)["state"] == "reconnecting", 15), camera_health(loop)
        read = loop.stats.frames_read
        rtsp.start()  # and comes back on the same address
        assert wait_for(lambda: camera_health(loop)["state"] == "streaming" and loop.stats.frames_read > read + 10,
                        30), camera_health(loop)
        assert loop.source.errors >= 1 and loop.capture.crashes == 0 and loop.crashes == 0
    finally:
        stop.set()
        loop.join(10)


def test_a_stalled_server_and_a_new_resolution_after_reconnects(rtsp: RtspCamera, tmp_path: Path) -> None:
    """The server stops sending but keeps its connection (SIGSTOP): ``reconnecting`` within
    ``read_timeout``, ``streaming`` once it resumes.  Then it restarts several times with another
    resolution each time: every size is recognised, no crash, and the process holds no more
    file descriptors or threads after the reconnects than before them."""
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "motion": {"threshold": 0}, "source": {
        "kind": "opencv", "url": rtsp.url, "read_timeout": 2, "reconnect_min": 0.2, "reconnect_max": 0.5}}]}, "t")
    cam = stream.cameras[0]
    stop = threading.Event()
    shapes: set[tuple[int, ...]] = set()

    def recognise(image: Any) -> list[Any]:
        shapes.add(image.shape)
        return []

    loop = CameraLoop(cam, stream.events, open_source(cam, stop), recognise, lambda e: None, stop)
    loop.start()

    def streaming_again() -> bool:
        read = loop.stats.frames_read
        return wait_for(lambda: camera_health(loop)["state"] == "streaming" and loop.stats.frames_read > read + 5, 40)

    try:
        assert streaming_again(), camera_health(loop)
        assert rtsp.proc is not None
        os.kill(rtsp.proc.pid, signal.SIGSTOP)  # the connection stays open, no frame comes
        try:
            assert wait_for(lambda: camera_health(loop)["state"] == "reconnecting", 2 + 3), camera_health(loop)
        finally:
            os.kill(rtsp.proc.pid, signal.SIGCONT)
        assert streaming_again(), camera_health(loop)
        fds, tasks = len(os.listdir("/proc/self/fd")), len(os.listdir("/proc/self/task"))
        for size in [(1280, 720), (320, 240), (640, 360), (1280, 720)]:
            rtsp.kill()
            cv2.imwrite(str(rtsp.image), cv2.resize(cv2.imread(str(sample_dir() / SAMPLE)), size))
            rtsp.start()
            assert streaming_again(), (size, camera_health(loop))
        assert {(h, w) for h, w, _ in shapes} == {(360, 640), (720, 1280), (240, 320)}, shapes
        assert loop.crashes == loop.capture.crashes == 0
        assert len(os.listdir("/proc/self/fd")) <= fds and len(os.listdir("/proc/self/task")) <= tasks
    finally:
        stop.set()
        loop.join(10)
