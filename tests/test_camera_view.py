"""A camera that streams but sees nothing useful: black, washed-out or frozen frames.

Real frames through the real loop: videos written with OpenCV (MJPEG in AVI, as tests/videos.py)
of a still scene with sensor noise (the bundled sample image plus Gaussian noise of 2 grey
levels, new at every frame as a real sensor's), black frames, white frames and one frame
repeated.  A file's frames are timed by their position in it (10 fps), so seconds of video are
read in a fraction of that.  The last test runs ``edge-alpr run`` with a real mosquitto and
reads ``/info/``, the retained MQTT health and the Home Assistant entity.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from mosquitto import Broker, Subscriber
from test_camera_health import info, start_run
from waiting import wait_for

from edge_alpr.api.console_status import camera_views
from edge_alpr.errors import ConfigError
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_health
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source, sample_dir

pytest_plugins = ["mosquitto"]

ROOT = Path(__file__).resolve().parent.parent
SIZE = (320, 240)
FPS = 10.0


def _video(path: Path, *parts: tuple[str, int]) -> Path:
    """Frames of each kind in turn: ``scene`` (the sample with new noise each frame), ``black``,
    ``white`` and ``repeat`` (one noisy frame written again and again)."""
    scene = cv2.resize(cv2.imread(str(sorted(sample_dir().glob("*.jpg"))[0])), SIZE).astype(np.float32)
    rng = np.random.default_rng(0)

    def noisy() -> np.ndarray:
        return np.clip(scene + rng.normal(0, 2, scene.shape), 0, 255).astype(np.uint8)

    repeated = noisy()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    for kind, frames in parts:
        for _ in range(frames):
            writer.write({"black": lambda: np.zeros_like(repeated), "white": lambda: np.full_like(repeated, 255),
                          "repeat": lambda: repeated, "scene": noisy}[kind]())
    writer.release()
    return path


def _views(video: Path, **camera: Any) -> tuple[list[str], CameraLoop]:
    """The health's ``view`` after each frame of ``video`` (every frame recognised), deduplicated."""
    cam = {"id": "gate", "motion": {"threshold": 0}, "view_alert_s": 0.5, **camera,
           "source": {"kind": "video", "path": str(video)}}
    stream = StreamConfig.from_dict({"cameras": [cam]}, "t")
    stop = threading.Event()
    seen: list[str] = []
    loop: CameraLoop

    def recognise(image: np.ndarray) -> list[Any]:
        view = camera_health(loop)["view"]
        if seen[-1:] != [view]:
            seen.append(view)
        return []

    config = stream.cameras[0]
    loop = CameraLoop(config, stream.events, open_source(config, stop), recognise, lambda e: None, stop)
    loop.start()
    try:
        assert wait_for(lambda: loop.stats.ended, 30), loop.stats
    finally:
        stop.set()
        loop.join(5)
    return seen, loop


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "edge_alpr.stream.view"]


def test_dark_bright_and_frozen_are_said_once_each_and_clear(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    video = _video(tmp_path / "v.avi", ("scene", 10), ("black", 20), ("scene", 15), ("white", 20),
                   ("scene", 15), ("repeat", 20), ("scene", 15))
    seen, loop = _views(video)
    assert seen == ["ok", "dark", "ok", "bright", "ok", "frozen", "ok"]
    assert loop.stats.frames_processed == 115
    said = _said(caplog)
    warnings = [m for level, m in said if level == logging.WARNING]
    assert len(warnings) == 3, said
    assert "camera gate: view dark for 0 s" in warnings[0] and "lens covered" in warnings[0]
    assert "view bright" in warnings[1] and "view frozen" in warnings[2]
    # each lasted 2 s of frames and ended 0.5 s (view_alert_s) after good frames came back
    ended = [m for level, m in said if level == logging.INFO]
    assert len(ended) == 3 and all(re.fullmatch(rf"camera gate: view ok again \(was {kind} for [23] s\)", m)
                                   for kind, m in zip(("dark", "bright", "frozen"), ended)), ended


def test_a_still_scene_with_sensor_noise_is_not_frozen(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    # the motion gate on (its default) skips these frames as still; the view check still sees each
    seen, loop = _views(_video(tmp_path / "v.avi", ("scene", 80)), motion={})
    assert seen == ["ok"] and loop.stats.frames_still > 60, loop.stats
    assert _said(caplog) == []


def test_a_short_condition_is_not_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A truck filling the view for 2 s, with the default view_alert_s (60 s)."""
    caplog.set_level(logging.INFO)
    seen, _ = _views(_video(tmp_path / "v.avi", ("scene", 5), ("black", 20), ("repeat", 20), ("scene", 5)),
                     view_alert_s=60)
    assert seen == ["ok"] and _said(caplog) == []


def test_one_good_frame_does_not_clear_a_camera_that_stays_dark(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """At night with the IR illuminator off, a car's headlights light one frame: the frames
    around it stay black, and so does the view (no "ok again", no second "view dark")."""
    caplog.set_level(logging.INFO)
    video = _video(tmp_path / "v.avi", ("black", 40), ("scene", 1), ("black", 60))
    seen, _ = _views(video, view_alert_s=2)
    assert seen == ["ok", "dark"], (seen, _said(caplog))
    assert len(_said(caplog)) == 1, _said(caplog)


def test_view_settings_are_checked() -> None:
    def camera(**keys: Any) -> None:
        StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {"kind": "folder"}, **keys}]}, "f.yaml: stream")

    with pytest.raises(ConfigError, match=r"stream.cameras\[0\].view_alert_s: must be > 0"):
        camera(view_alert_s=0)
    with pytest.raises(ConfigError, match=r"view_dark: must be in 0..254"):
        camera(view_dark=255)
    with pytest.raises(ConfigError, match=r"view_bright: must be > view_dark \(100\), got 90"):
        camera(view_dark=100, view_bright=90)
    with pytest.raises(ConfigError, match="view_alert"):
        camera(view_alert=5)


def test_a_capped_camera_is_streaming_and_dark_in_info_mqtt_home_assistant_and_the_log(
        tmp_path: Path, broker: Broker, subscriber: Subscriber) -> None:
    from edge_alpr.api.server import free_port

    api_port = free_port()
    black = _video(tmp_path / "black.avi", ("black", 20))
    cfg = {"state_dir": str(tmp_path / "state"), "api": {"port": api_port},
           "mqtt": {"port": broker.port, "device_id": "dev1", "ha_discovery": True, "usage_interval_s": 30},
           "stream": {"cameras": [{"id": "capped", "view_alert_s": 0.5, "source": {
               "kind": "video", "path": str(black), "realtime": True, "loop": True}}]}}
    proc, log = start_run(tmp_path, cfg)  # both closed below
    try:
        def camera() -> dict[str, Any]:
            try:
                return dict(info(api_port)["cameras"][0])
            except (OSError, IndexError):  # not listening yet, or the cameras not started yet
                return {}

        assert wait_for(lambda: camera().get("view") == "dark", 60), (camera(), (tmp_path / "service.log").read_text())
        assert camera()["state"] == "streaming"
        # sent at the change, not at the next refresh of the counters (30 s away)
        assert wait_for(lambda: any(m["view"] == "dark" and m["state"] == "streaming"
                                    for m in subscriber.on("dev1/capped/health")), 10), subscriber.messages[-3:]
        entity = subscriber.on("homeassistant/binary_sensor/edge_alpr_dev1_capped_view/config")
        assert entity and entity[-1]["device_class"] == "problem", [t for t, _, _ in subscriber.messages]
        assert entity[-1]["state_topic"] == "edge-alpr/dev1/capped/health"
        assert "'dark'" in entity[-1]["value_template"] and "'frozen'" in entity[-1]["value_template"]
        assert wait_for(lambda: camera().get("frames_read", 0) > 40, 20)  # the file looped on, still dark
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
    text = (tmp_path / "service.log").read_text()
    assert text.count("view dark") == 1 and text.count("view frozen") == 0, text
    assert "WARNING" in next(line for line in text.splitlines() if "view dark" in line)


def test_the_console_says_what_a_streaming_camera_cannot_see(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from edge_alpr.api.console import Console

    video = _video(tmp_path / "v.avi", ("black", 10))
    stream = StreamConfig.from_dict({"cameras": [{"id": "capped", "view_alert_s": 0.5, "source": {
        "kind": "video", "path": str(video), "realtime": True, "loop": True}}]}, "t")
    stop, cam = threading.Event(), stream.cameras[0]
    loop = CameraLoop(cam, stream.events, open_source(cam, stop), lambda image: [], lambda e: None, stop)
    console = Console(SimpleNamespace(supervisor=SimpleNamespace(workers=lambda: [loop])), None)  # type: ignore[arg-type]
    loop.start()
    try:
        assert wait_for(lambda: camera_health(loop)["view"] == "dark", 20), camera_health(loop)
        html = console.render("cameras", cameras=camera_views(console.ctx))
    finally:
        stop.set()
        loop.join(5)
    state = html[html.index('<td data-label="State">'):]
    state = state[:state.index("</td>")]
    assert state.startswith('<td data-label="State">streaming\n'), state
    assert '<span class="detail bad">sees nothing useful for ' in state
    assert "frames are black (lens covered or capped, IR illuminator off at night?)" in state
