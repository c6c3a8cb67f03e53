"""A video camera over a file damaged in the middle or cut short: real MJPEG/AVI files written
by OpenCV, damaged on disk, read by the real video source and camera loop.

The frames after a damaged stretch are still read (not half the file silently lost), the
damage is counted in the camera's health and logged once, a truncated file ends saying so, and
FFmpeg does not write a line to stderr per damaged frame.  An IP camera that is down for many
reconnect attempts is logged once too.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from videos import sample_video
from waiting import wait_for

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_health
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source

ROOT = Path(__file__).resolve().parent.parent
FRAMES = 100


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    data = sample_video(folder / "full.avi", FRAMES, size=(640, 480), cycle=True).read_bytes()
    middle = bytearray(data)
    middle[len(data) // 2:len(data) // 2 + 20_000] = np.random.default_rng(1).bytes(20_000)  # garbage
    (folder / "damaged.avi").write_bytes(bytes(middle))
    (folder / "cut.avi").write_bytes(data[:len(data) // 2])
    return {"damaged": folder / "damaged.avi", "cut": folder / "cut.avi"}


def _run(path: Path, loop_file: bool = False) -> tuple[CameraLoop, threading.Event]:
    stream = StreamConfig.from_dict({"cameras": [{"id": "clip", "motion": {"threshold": 0}, "source": {
        "kind": "video", "path": str(path), "loop": loop_file}}]}, "t")
    cam = stream.cameras[0]
    stop = threading.Event()

    def recognise(image: Any) -> list[Any]:
        return []

    loop = CameraLoop(cam, stream.events, open_source(cam, stop), recognise, lambda e: None, stop)
    loop.start()
    return loop, stop


def test_frames_after_a_damaged_stretch_are_read(damaged: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    loop, stop = _run(damaged["damaged"])
    try:
        assert wait_for(lambda: camera_health(loop)["state"] == "ended", 30), camera_health(loop)
    finally:
        stop.set()
        loop.join(5)
    health = camera_health(loop)
    assert health["frames_read"] >= FRAMES - 5, health  # before: it ended at the damage, half-way
    assert health["errors"] == 1 and "damaged frames skipped" in health["last_error"], health
    assert caplog.text.count("damaged frames skipped") == 1, caplog.text


def test_a_cut_short_video_ends_saying_so_once_also_when_looped(damaged: dict[str, Path],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    loop, stop = _run(damaged["cut"], loop_file=True)
    try:
        assert wait_for(lambda: loop.stats.frames_read > 3 * FRAMES, 30), camera_health(loop)
        health = camera_health(loop)
        assert health["state"] == "streaming" and health["crashes"] == 0, health
        assert health["errors"] >= 3 and "file truncated or damaged" in health["last_error"], health
        assert caplog.text.count("file truncated or damaged") == 1, caplog.text
    finally:
        stop.set()
        loop.join(5)


def test_ffmpeg_writes_nothing_per_damaged_frame(damaged: dict[str, Path]) -> None:
    code = ("from edge_alpr.stream.sources._cv import import_cv2\n"
            "cv2 = import_cv2()\n"
            f"cap = cv2.VideoCapture({str(damaged['damaged'])!r})\n"
            "print(sum(cap.read()[0] for _ in range(120)))\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**env, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= FRAMES // 2 - 2
    assert "mjpeg @" not in done.stderr, done.stderr


def test_a_camera_down_for_many_retries_is_logged_once(tmp_path: Path) -> None:
    """An IP camera that is unplugged: dozens of reconnect attempts, one warning (neither our
    log nor OpenCV's own says it again per attempt), its health counting every attempt."""
    code = ("import logging, time\n"
            "from edge_alpr.api.server import free_port\n"
            "from edge_alpr.stream.config import StreamConfig\n"
            "from edge_alpr.stream.sources import open_source\n"
            "logging.basicConfig(level=logging.INFO)\n"
            "cam = StreamConfig.from_dict({'cameras': [{'id': 'gate', 'source': {'kind': 'opencv', "
            "'url': f'http://127.0.0.1:{free_port()}/video.mjpg', 'read_timeout': 1, "
            "'reconnect_min': 0.02, 'reconnect_max': 0.05}}]}, 't').cameras[0]\n"
            "src = open_source(cam)\n"
            "end = time.monotonic() + 2\n"
            "while time.monotonic() < end:\n"
            "    src.read(0.1)\n"
            "print(src.errors)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**env, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 10, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot open camera" in lines[0], done.stderr
