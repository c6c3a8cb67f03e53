"""Per-camera health in ``/info/``, in the retained MQTT ``<p>/<d>/<camera>/health`` topic and
in Home Assistant discovery; a camera that cannot open shows ``reconnecting``, never online.

Real parts throughout: ``edge-alpr run`` as a process (its main loop publishes the health), a
real mosquitto (tests/mosquitto.py), a video file camera and an OpenCV camera whose URL points
at a loopback port nobody listens on (it cannot open, as an unplugged IP camera), the real
recognizer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import IO, Any

import numpy as np
import yaml
from mosquitto import Broker, Subscriber
from videos import sample_video
from waiting import wait_for

from edge_alpr.api.server import free_port
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_health, camera_state
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source

pytest_plugins = ["mosquitto"]

ROOT = Path(__file__).resolve().parent.parent




def _cameras(tmp: Path, loop: bool = True, failed_after_s: float = 60.0) -> list[dict[str, Any]]:
    return [
        {"id": "gate", "motion": {"threshold": 0},
         "source": {"kind": "video", "path": str(sample_video(tmp / "v.avi", 30)), "realtime": True,
                    "loop": loop}},
        {"id": "dead", "failed_after_s": failed_after_s,
         "source": {"kind": "opencv", "url": f"http://127.0.0.1:{free_port()}/stream.mjpg",
                    "read_timeout": 1, "reconnect_min": 0.2, "reconnect_max": 0.5}},
    ]


def info(port: int) -> dict[str, Any]:
    """The service's ``/info/``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/info/", timeout=5) as r:
        body: dict[str, Any] = json.load(r)
    return body


def start_run(tmp_path: Path, cfg: dict[str, Any]) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """``edge-alpr run`` on ``cfg`` (written to tmp_path/config.yaml), its output in
    tmp_path/service.log: the process and the log file, for the caller to close."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EDGE_ALPR_API_TOKEN", None)
    log = open(tmp_path / "service.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "run", "--config", str(tmp_path / "config.yaml")],
                            stdout=log, stderr=log, env=env)
    return proc, log


def test_health_in_info_mqtt_and_discovery_with_a_camera_that_cannot_open(
        tmp_path: Path, broker: Broker, subscriber: Subscriber) -> None:
    api_port = free_port()
    cfg = {"state_dir": str(tmp_path / "state"), "api": {"port": api_port},
           "mqtt": {"port": broker.port, "device_id": "dev1", "ha_discovery": True, "usage_interval_s": 0.5},
           "stream": {"cameras": _cameras(tmp_path)}}
    proc, log = start_run(tmp_path, cfg)  # both closed below
    try:
        def cameras() -> dict[str, dict[str, Any]]:
            try:
                return {c["camera_id"]: c for c in info(api_port)["cameras"]}
            except OSError:
                return {}

        def settled() -> bool:
            cams = cameras()
            return (cams.get("gate", {}).get("fps_processed", 0) > 0
                    and cams.get("dead", {}).get("errors", 0) >= 2)

        assert wait_for(settled, 90), (cameras(), (tmp_path / "service.log").read_text())
        # the device's first online health already carries the queue's counts (it once had none)
        first = next(m for m in subscriber.on("dev1/health") if m["state"] == "online")
        assert {"pending", "dropped", "crashes", "stalled"} <= set(first), first
        gate, dead = cameras()["gate"], cameras()["dead"]
        assert gate["state"] == "streaming" and gate["fps_in"] > 0 and gate["frames_processed"] > 0
        assert gate["last_frame_at"].endswith("Z") and gate["lag_s"] >= 0 and gate["errors"] == 0
        assert dead["state"] == "reconnecting", dead
        assert dead["fps_in"] == 0 and dead["frames_read"] == 0 and dead["last_frame_at"] is None
        assert "cannot open camera" in dead["last_error"]

        # the main loop publishes each camera's health, retained: a newcomer is handed it
        assert wait_for(lambda: any(m["state"] == "reconnecting" for m in subscriber.on("dev1/dead/health"))
                        and any(m["state"] == "streaming" and m["fps_processed"] > 0
                                for m in subscriber.on("dev1/gate/health")), 15), subscriber.messages[-5:]
        late = Subscriber(broker.port, "edge-alpr/dev1/+/health", client_id="late")
        try:
            assert wait_for(lambda: {m["camera_id"]: m["state"] for m in late.on("/health")}
                            == {"gate": "streaming", "dead": "reconnecting"}, 10), late.on("/health")
        finally:
            late.close()

        binary = subscriber.on("homeassistant/binary_sensor/edge_alpr_dev1_dead_connected/config")
        fps = subscriber.on("homeassistant/sensor/edge_alpr_dev1_dead_fps/config")
        assert binary and fps, [t for t, _, _ in subscriber.messages]
        assert binary[-1]["device_class"] == "connectivity"
        assert binary[-1]["state_topic"] == fps[-1]["state_topic"] == "edge-alpr/dev1/dead/health"
        assert "'streaming'" in binary[-1]["value_template"]
        assert fps[-1]["value_template"] == "{{ value_json.fps_processed }}"
        assert binary[-1]["availability_topic"] == "edge-alpr/dev1/status"
        assert binary[-1]["device"]["identifiers"] == ["edge_alpr_dev1"]
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_states_through_a_camera_life(tmp_path: Path) -> None:
    """Streaming to ended (a file), reconnecting to failed (no camera), stopped on shutdown."""
    stream = StreamConfig.from_dict({"cameras": _cameras(tmp_path, loop=False, failed_after_s=3.0)}, "t")
    stop = threading.Event()
    seen: dict[str, list[str]] = {"gate": [], "dead": []}

    def recognise(image: np.ndarray) -> list[Any]:
        return []

    loops = [CameraLoop(cam, stream.events, open_source(cam, stop), recognise, lambda e: None, stop)
             for cam in stream.cameras]
    gate, dead = loops
    assert camera_state(gate) == "starting"
    for loop in loops:
        loop.start()
    try:
        def watch() -> bool:
            for loop in loops:
                state = camera_state(loop)
                if not seen[loop.camera.id][-1:] == [state]:
                    seen[loop.camera.id].append(state)
            return seen["gate"][-1:] == ["ended"] and dead.source.errors >= 2

        assert wait_for(watch, 30), (seen, gate.stats)
        assert "streaming" in seen["gate"], seen
        assert "reconnecting" in seen["dead"] and "streaming" not in seen["dead"], seen
        failing_since = dead.source.failing_since
        assert failing_since is not None
        assert camera_state(dead, failing_since + 2.9) == "reconnecting"  # its failed_after_s is 3
        assert wait_for(lambda: camera_state(dead) == "failed", 15), seen  # and it keeps retrying
        assert dead.source.failing_since == failing_since
        # every frame of the file read, and each recognised or, the recogniser busy on a loaded
        # machine (the file is read in real time, like a camera), counted dropped: none lost at the end
        health = camera_health(gate)
        assert health["frames_read"] == 30 and health["frames_processed"] > 0, health
        assert health["frames_processed"] + health["frames_dropped"] == 30, health
    finally:
        stop.set()
        for loop in loops:
            loop.join(5)
    assert camera_state(dead) == "stopped" and camera_state(gate) == "ended"


def test_a_video_whose_last_frames_are_still_being_recognised_is_streaming_not_failed(tmp_path: Path) -> None:
    """A video file's capture thread ends with its last frames still in the buffer; until they are
    recognised the camera is ``streaming``, then ``ended``.  It was ``failed`` in between (its
    capture thread had finished), and the retained MQTT health said so to Home Assistant."""
    stream = StreamConfig.from_dict({"cameras": [
        {"id": "clip", "motion": {"threshold": 0},
         "source": {"kind": "video", "path": str(sample_video(tmp_path / "v.avi", 3)), "realtime": False}}]}, "t")
    stop, go = threading.Event(), threading.Event()

    def recognise(image: np.ndarray) -> list[Any]:
        go.wait(30)  # a slow recognition: the capture reaches the end of the file first
        return []

    cam = stream.cameras[0]
    loop = CameraLoop(cam, stream.events, open_source(cam, stop), recognise, lambda e: None, stop)
    loop.start()
    try:
        assert wait_for(lambda: loop.capture.finished, 15), loop.stats
        assert camera_state(loop) == "streaming"
        go.set()
        assert wait_for(lambda: camera_state(loop) == "ended", 15), loop.stats
    finally:
        go.set()
        stop.set()
        loop.join(5)
