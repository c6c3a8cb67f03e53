"""What the soak (``bench_soak.py``) runs around the service: its cameras' input, a webhook
receiver, the service process itself and the outages of its neighbours.

Why a module of its own: these are the device's surroundings, set up once and left to run; the
load (``soak_load.py``) and the sampling (``soak_sample.py``) only look at what they do.  The
broker is ``scripts/mosquitto.py``'s, the one the tests use.
"""

from __future__ import annotations

import http.server
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
import requests

from edge_alpr.api.server import free_port
from scripts import REPO as ROOT
from scripts.mosquitto import Broker

FIXTURES = sorted((ROOT / "tests" / "data" / "detection").glob("*/images/*.jpg")) + sorted(
    (ROOT / "tests" / "data" / "detection").glob("*/images/*.png"))
W, H = 1280, 720


class Receiver:
    """A webhook receiver in this process; counts requests and distinct event ids per path."""

    def __init__(self) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.posts: dict[str, int] = {}
        self.ids: set[str] = set()
        self.server: http.server.ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                with owner.lock:
                    owner.posts[self.path] = owner.posts.get(self.path, 0) + 1
                    owner.ids.add(self.headers.get("X-Edge-Alpr-Event-Id", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def make_video(path: Path, images: list[Path], fps: int = 4, seconds_per_image: int = 2) -> None:
    """Each fixture scene letterboxed on a 1280x720 frame, held for a while, with sensor noise."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (W, H))
    rng = np.random.default_rng(0)
    for image in images:
        img = cv2.imread(str(image))
        assert img is not None, image
        scale = min(W / img.shape[1], H / img.shape[0])
        img = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)))
        frame = np.zeros((H, W, 3), np.uint8)
        y, x = (H - img.shape[0]) // 2, (W - img.shape[1]) // 2
        frame[y:y + img.shape[0], x:x + img.shape[1]] = img
        for _ in range(fps * seconds_per_image):
            noisy = np.clip(frame.astype(np.int16) + rng.integers(-2, 3, frame.shape), 0, 255)
            writer.write(noisy.astype(np.uint8))
    writer.release()


def write_config(state: Path, api_port: int, broker: Broker, receiver: Receiver, video: Path,
                 folder: Path, history_mb: int) -> Path:
    cfg = {
        "state_dir": str(state), "log_level": "INFO",
        "api": {"port": api_port, "threads": 4},
        "usage": {"max_calls": 0},
        "webhooks": {"targets": [f"http://127.0.0.1:{receiver.port}/json",
                                 {"url": f"http://127.0.0.1:{receiver.port}/image", "image": True}],
                     "timeout_s": 3, "backoff_initial_s": 0.5, "backoff_max_s": 5, "max_failures": 0},
        "stream": {"cameras": [
            {"id": "video", "source": {"kind": "video", "path": str(video), "loop": True, "realtime": True},
             "max_fps": 2},
            {"id": "folder", "source": {"kind": "folder", "path": str(folder), "poll_interval": 0.5}}],
            "events": {"memory_decay": 20, "save_crops": True, "crops_max_files": 20}},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "device_id": "soak", "ha_discovery": True,
                 "retry_max_s": 2, "usage_interval_s": 5},
        "history": {"enabled": True, "api_reads": True, "max_bytes": history_mb * 1024 * 1024},
        "watchlists": {"deny": {"max_distance": 1, "plates": ["B123ABC", {"plate": "CJ14WTB", "label": "x"}]}},
    }
    path = state.parent / "soak.yaml"
    path.write_text(json.dumps(cfg, indent=1))  # JSON is YAML
    return path


class Service:
    """``python -m edge_alpr run --config CONFIG`` from the checkout, its output in a log file."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "run", "--config", str(config)],
                                     stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)

    def wait_ready(self, base: str, timeout: float = 120) -> None:
        """Return once the API at ``base`` answers /info/; raise if the service exits first."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"edge-alpr run exited {self.proc.returncode}: "
                                   f"{self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(base + "/info/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not answer within {timeout:g} s")
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM, as systemd stops it; killed after 10 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def feed_folder(folder: Path, interval: float, keep: int, stop: threading.Event) -> None:
    """A camera uploading one new image every ``interval`` s; only the newest ``keep`` stay."""
    n = 0
    while not stop.wait(interval):
        source = FIXTURES[n % len(FIXTURES)]
        tmp = folder / f".{n:07d}.tmp"
        shutil.copyfile(source, tmp)
        tmp.rename(folder / f"cam_{n:07d}{source.suffix}")
        n += 1
        old = folder / f"cam_{n - keep:07d}{FIXTURES[(n - keep) % len(FIXTURES)].suffix}"
        if n > keep and old.exists():
            old.unlink()


def outages(broker: Broker, receiver: Receiver, every: float, length: float, stop: threading.Event,
            counts: dict[str, int]) -> None:
    """Every ``every`` s, stop mosquitto and then the webhook receiver for ``length`` s each,
    so that the outbox queues and then drains; ``counts`` says how many of each so far."""
    neighbours: tuple[tuple[str, Broker | Receiver], ...] = (("mqtt", broker), ("webhook", receiver))
    while not stop.wait(every):
        for name, neighbour in neighbours:
            neighbour.stop()
            counts[name] += 1
            stopped = stop.wait(length)
            neighbour.start()
            if stopped:
                return
