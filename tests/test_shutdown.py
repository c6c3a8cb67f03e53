"""Shutdown in budget: SIGTERM ends ``edge-alpr run`` within 2 s whatever its peers do, and
the plates it was following are in the outbox when it has gone.

Real parts throughout: the service process and a real SIGTERM; a camera on loopback (HTTP
MJPEG, read through OpenCV's FFmpeg backend like an IP camera) that stops sending mid-stream,
so the capture thread is blocked inside FFmpeg's read (its read timeout is 30 s); three webhook
targets and an MQTT broker that accept connections and never answer; an API client that sends
half a request; the real recognizer and the real SQLite outbox, read back after the exit.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from waiting import wait_for

from edge_alpr import config as config_mod
from edge_alpr import service
from edge_alpr.api.server import free_port
from edge_alpr.delivery.mqtt import MQTT_SINK
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.stream.sources import sample_dir

ROOT = Path(__file__).resolve().parent.parent
LABELS: dict[str, Any] = json.loads((sample_dir() / "labels.json").read_text())
SAMPLE = sorted(LABELS)[0]
PLATE = LABELS[SAMPLE]["plates"][0]["text"]


def near(read: str, label: str) -> bool:
    """The sample's plate, give or take one character (reading accuracy is tested elsewhere)."""
    return len(read) == len(label) and sum(a != b for a, b in zip(read.upper(), label.upper(),
                                                                   strict=True)) <= 1


class MjpegCamera:
    """An IP camera's MJPEG stream over HTTP on loopback, serving one sample image; after
    ``hang()`` it keeps the connection open and sends nothing more.  ``sent``: the frames sent
    to readers still connected (the service's check that the camera answers, a GET it hangs up
    on once the answer's head is in, reads none)."""

    def __init__(self, fps: float = 8.0) -> None:
        ok, jpeg = cv2.imencode(".jpg", cv2.imread(str(sample_dir() / SAMPLE)))
        assert ok
        self.jpeg = jpeg.tobytes()
        self.sent = 0
        self.counting = threading.Lock()  # the check's connection and the service's write at once
        self.hanging = threading.Event()
        self.closed = threading.Event()
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                mine = 0
                try:
                    while not camera.hanging.is_set():
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % len(camera.jpeg) + camera.jpeg + b"\r\n")
                        self.wfile.flush()
                        with camera.counting:
                            camera.sent, mine = camera.sent + 1, mine + 1
                        camera.hanging.wait(1 / fps)
                except OSError:  # the reader hung up
                    with camera.counting:
                        camera.sent -= mine
                    return
                camera.closed.wait(60)  # connected, silent: the reader blocks in its read

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"

    def hang(self) -> None:
        self.hanging.set()

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


class Silent:
    """A TCP listener that never accepts: connections complete in the kernel's backlog and
    then hear nothing (a hung webhook target, a hung broker)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[Callable[[], Silent]]:
    made: list[Silent] = []

    def make() -> Silent:
        made.append(Silent())
        return made[-1]

    yield make
    for s in made:
        s.close()


def frames(port: int, state: str) -> float:
    """A camera frame counter from the service's ``/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(f'edge_alpr_camera_frames_total{{camera="gate",state="{state}"}}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def queued_plates(state_dir: Path, sink: str) -> list[str]:
    box = Outbox(state_dir / "outbox.sqlite")
    try:
        items = box.peek(sink, 100)
    finally:
        box.close()
    plates = []
    for item in items:
        data = item.payload.get("data", item.payload)
        results = data.get("results", [data])
        plates.extend(str(r["plate"]) for r in results)
    return plates


def test_sigterm_with_a_camera_blocked_in_read_and_hanging_peers_exits_in_2s_losing_no_plate(
        tmp_path: Path, silent: Callable[[], Silent]) -> None:
    camera = MjpegCamera()
    hooks = [silent() for _ in range(3)]
    broker = silent()
    api_port = free_port()
    state = tmp_path / "state"
    cfg = {
        "state_dir": str(state),
        "api": {"port": api_port},
        "mqtt": {"port": broker.port, "device_id": "dev1", "publish_timeout_s": 30},
        "webhooks": {"timeout_s": 30, "targets": [f"http://127.0.0.1:{h.port}/hook" for h in hooks]},
        "stream": {"cameras": [{"id": "gate", "motion": {"threshold": 0},
                                "source": {"kind": "opencv", "url": camera.url, "read_timeout": 30}}],
                   "events": {"max_prediction_delay": 120}},  # followed, not reported, until stop
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EDGE_ALPR_API_TOKEN", None)
    log = open(tmp_path / "service.log", "wb")  # closed below
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "run", "--config",
                             str(tmp_path / "config.yaml")], stdout=log, stderr=log, env=env)
    client = None
    try:
        def processed() -> float:
            try:
                return frames(api_port, "processed")
            except OSError:
                return 0.0

        assert wait_for(lambda: processed() >= 3, 90), (tmp_path / "service.log").read_text()
        camera.hang()
        # every frame sent has been read: the capture thread is now inside FFmpeg's read
        assert wait_for(lambda: frames(api_port, "read") == camera.sent, 10), camera.sent
        client = socket.create_connection(("127.0.0.1", api_port))
        client.sendall(b"POST /v1/plate-reader/ HTTP/1.1\r\nHost: localhost\r\nContent-Le")  # and no more
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - started
        print(f"SIGTERM to exit: {took:.2f} s")
        logs = (tmp_path / "service.log").read_text(errors="replace")
        assert rc == 0, f"rc {rc} after {took:.2f} s:\n{logs}"  # 0: not the forced exit's signal
        assert took <= 2.0, f"SIGTERM took {took:.2f} s:\n{logs}"
        sinks = [MQTT_SINK, *(f"webhook:http://127.0.0.1:{h.port}/hook" for h in hooks)]
        for sink in sinks:
            plates = queued_plates(state, sink)
            assert len(plates) == 1 and near(plates[0], PLATE), (sink, plates, PLATE, logs)
        assert "not queued" not in logs and "could not be queued" not in logs, logs
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        log.close()
        if client is not None:
            client.close()
        camera.close()


def _video(path: Path, frames: int = 20) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (480, 270))
    image = cv2.resize(cv2.imread(str(sample_dir() / SAMPLE)), (480, 270))
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path


def test_a_recognition_outliving_the_budget_still_has_its_plates_queued_before_the_outbox_closes(
        tmp_path: Path, recognizer: Any, silent: Callable[[], Silent],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The recognizer is real; one call is held (a model hung in its runtime) by wrapping it."""
    caplog.set_level(logging.WARNING)
    hold, held, release = threading.Event(), threading.Event(), threading.Event()
    real = recognizer.recognize

    def recognize(image: np.ndarray, **kwargs: Any) -> Any:
        if hold.is_set():
            held.set()
            release.wait(30)
        return real(image, **kwargs)

    monkeypatch.setattr(recognizer, "recognize", recognize)
    hook = silent()
    cfg = config_mod.from_dict({
        "state_dir": str(tmp_path / "state"), "api": {"enabled": False}, "mqtt": {"enabled": False},
        "webhooks": {"timeout_s": 30, "targets": [f"http://127.0.0.1:{hook.port}/hook"]},
        "stream": {"cameras": [{"id": "gate", "motion": {"threshold": 0}, "source": {
            "kind": "video", "path": str(_video(tmp_path / "v.avi")), "realtime": True, "loop": True}}],
            "events": {"max_prediction_delay": 120}}}, "<test>")
    stop = threading.Event()
    svc = service.build(cfg, stop, recognizer=recognizer)
    loop = svc.cameras[0]
    try:
        assert wait_for(lambda: loop.tracker.active == 1, 60), loop.stats
        hold.set()
        assert held.wait(10)
        started = time.monotonic()
        svc.close()
        took = time.monotonic() - started
        assert took <= service.SHUTDOWN_BUDGET_S + 0.1, took
        assert loop.is_alive()  # still inside the held recognition
        plates = queued_plates(tmp_path / "state", f"webhook:http://127.0.0.1:{hook.port}/hook")
        assert len(plates) == 1 and near(plates[0], PLATE), (plates, PLATE)
        assert any("flushing its followed plates from the shutdown" in r.getMessage()
                   for r in caplog.records)
    finally:
        release.set()
        stop.set()
        loop.join(10)
    assert not loop.is_alive()
    assert not any(r.levelno >= logging.ERROR for r in caplog.records), caplog.text
