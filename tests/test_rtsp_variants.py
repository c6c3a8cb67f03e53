"""RTSP cameras that differ in the ways real ones do, read by the camera loop: real servers on
loopback (``rtsp_camera.py``).  A camera rebooted with another codec (H.264 to H.265, as an
admin's change of its encoder does) on the same url streams again; cameras that offer RTP over
TCP only or over UDP only both stream (OpenCV's default, ``rtsp_flags;prefer_tcp``, asks for
TCP and takes UDP where that is all there is)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import pytest
from rtsp_camera import SKIP_WITHOUT_H264, SKIP_WITHOUT_SERVER, RtspCamera, gst_has, sample_image
from waiting import wait_for

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_health
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source, sample_dir

pytestmark = [SKIP_WITHOUT_SERVER, SKIP_WITHOUT_H264]
SAMPLE = sorted(json.loads((sample_dir() / "labels.json").read_text()))[0]


def _loop(url: str, stop: threading.Event) -> CameraLoop:
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "motion": {"threshold": 0}, "source": {
        "kind": "opencv", "url": url, "read_timeout": 3, "reconnect_min": 0.2, "reconnect_max": 1}}]}, "t")
    cam = stream.cameras[0]
    return CameraLoop(cam, stream.events, open_source(cam, stop), lambda image: [], lambda e: None, stop)


def _streaming(loop: CameraLoop, more_than: int) -> bool:
    return camera_health(loop)["state"] == "streaming" and loop.stats.frames_read > more_than


@pytest.mark.skipif(not gst_has("x265enc", "rtph265pay"), reason="no H.265 camera here: it needs x265enc "
                    "(apt-get install gstreamer1.0-plugins-bad)")
def test_a_camera_rebooted_from_h264_to_h265_streams_again(tmp_path: Path) -> None:
    camera = RtspCamera(sample_image(tmp_path, SAMPLE), h264_gop=10)
    camera.start()
    stop = threading.Event()
    loop = _loop(camera.url, stop)
    loop.start()
    try:
        assert wait_for(lambda: _streaming(loop, 5), 30), camera_health(loop)
        camera.kill()
        assert wait_for(lambda: camera_health(loop)["state"] == "reconnecting", 10), camera_health(loop)
        camera.h265 = True
        camera.start()
        read = loop.stats.frames_read
        assert wait_for(lambda: _streaming(loop, read + 10), 30), camera_health(loop)
        assert loop.crashes == loop.capture.crashes == 0
    finally:
        stop.set()
        loop.join(10)
        camera.kill()


@pytest.mark.parametrize("protocols", ["tcp", "udp"])
def test_a_camera_offering_one_transport_streams(tmp_path: Path, protocols: str) -> None:
    camera = RtspCamera(sample_image(tmp_path, SAMPLE), h264_gop=10, protocols=protocols)
    camera.start()
    stop = threading.Event()
    loop = _loop(camera.url, stop)
    loop.start()
    try:
        assert wait_for(lambda: _streaming(loop, 20), 30), camera_health(loop)
        assert loop.source.errors == 0, camera_health(loop)
    finally:
        stop.set()
        loop.join(10)
        camera.kill()


def test_a_camera_whose_keyframes_are_further_apart_than_read_timeout_is_told_so(tmp_path: Path) -> None:
    """An H.264 camera with a keyframe a minute (some cameras' "smart" codec modes) and
    ``read_timeout: 2``: the open returns, the first frame (its next keyframe) does not come in
    time.  Its ``last_error`` names the keyframe interval and the two fixes, not a camera that
    "stopped sending frames" with nothing more (it never sent one)."""
    camera = RtspCamera(sample_image(tmp_path, SAMPLE), h264_gop=600)
    camera.start()
    first = cv2.VideoCapture(camera.url, cv2.CAP_FFMPEG)  # the server's first keyframe, its only one for 60 s
    try:
        assert first.read()[0]
    finally:
        first.release()
    stop = threading.Event()
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": camera.url, "read_timeout": 2, "reconnect_min": 0.2, "reconnect_max": 1}}]}, "t")
    cam = stream.cameras[0]
    loop = CameraLoop(cam, stream.events, open_source(cam, stop), lambda image: [], lambda e: None, stop)
    loop.start()
    try:
        assert wait_for(lambda: loop.source.errors >= 1, 20), camera_health(loop)
        health = camera_health(loop)
        assert health["state"] == "reconnecting" and loop.stats.frames_read == 0, health
        said = str(health["last_error"])
        assert "keyframe" in said and "read_timeout" in said and "(I-frame) interval" in said, said
    finally:
        stop.set()
        loop.join(10)
        camera.kill()
