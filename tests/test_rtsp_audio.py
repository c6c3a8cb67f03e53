"""A url's FFmpeg options, and an H.264 camera with a microphone whose SPS/PPS come only in-band
(not in its SDP): a real RTSP server on loopback (``rtsp_camera.py``, ``audio=True``).

FFmpeg's analysis stops when any stream reaches ``analyzeduration``: with the short one
(0.1 s) the audio got there before the video's SPS, the camera opened with no picture size
(0x0, 90000 fps), every read failed and it reconnected for ever with no frame
(``ffmpeg_open.py``: such a url is opened again with the full analysis)."""

from __future__ import annotations

import json
import logging
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
from edge_alpr.stream.sources.ffmpeg_open import ENV, OPEN_TURN, open_url, url_options

SAMPLE = sorted(json.loads((sample_dir() / "labels.json").read_text()))[0]
SKIP_WITHOUT_MIC = pytest.mark.skipif(not gst_has("interaudiosrc", "alawenc", "rtppcmapay"),
                                      reason="no camera microphone here: it needs interaudiosrc "
                                      "(apt-get install gstreamer1.0-plugins-bad)")
SAID = "edge_alpr.stream.sources.ffmpeg_open"


def test_url_options_add_no_fps_probe_and_a_short_analysis_to_opencvs_default() -> None:
    assert url_options(None).split("|") == ["rtsp_flags;prefer_tcp", "fpsprobesize;0", "analyzeduration;100000"]
    assert url_options(None, short=False).split("|") == ["rtsp_flags;prefer_tcp", "fpsprobesize;0"]


def test_url_options_keep_the_admins_keys_and_append_the_others() -> None:
    assert url_options("analyzeduration;5000000|rtsp_transport;tcp|").split("|") == [
        "analyzeduration;5000000", "rtsp_transport;tcp", "fpsprobesize;0"]
    assert url_options(" fpsprobesize;-1").split("|") == [" fpsprobesize;-1", "analyzeduration;100000"]
    assert url_options("fpsprobesize;-1|analyzeduration;2000000") == "fpsprobesize;-1|analyzeduration;2000000"
    assert url_options("") == "fpsprobesize;0|analyzeduration;100000"  # set empty: nothing of OpenCV's default


def _camera(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RtspCamera:
    """The camera, its first keyframe read (with FFmpeg's full analysis): the next client joins
    between keyframes (one every 3 s), as one joining a camera that has been running does."""
    camera = RtspCamera(sample_image(tmp_path, SAMPLE), h264_gop=30, inband=True, audio=True)
    camera.start()
    with monkeypatch.context() as env:
        env.setenv(ENV, "rtsp_flags;prefer_tcp|fpsprobesize;0")
        first = cv2.VideoCapture(camera.url, cv2.CAP_FFMPEG)
    try:
        assert first.read()[0]
    finally:
        first.release()
    return camera


def _said(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == SAID and "full analysis" in r.getMessage()]


def _size(url: str) -> tuple[float, float]:
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
    with OPEN_TURN:
        cap = open_url(cv2, url, params, "the camera")
    try:
        return cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
    finally:
        cap.release()


@SKIP_WITHOUT_SERVER
@SKIP_WITHOUT_H264
@SKIP_WITHOUT_MIC
def test_a_camera_with_audio_and_in_band_sps_streams(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=SAID)
    camera = _camera(tmp_path, monkeypatch)
    stop = threading.Event()
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "motion": {"threshold": 0}, "source": {
        "kind": "opencv", "url": camera.url, "read_timeout": 5, "reconnect_min": 0.2, "reconnect_max": 1}}]}, "t")
    cam = stream.cameras[0]
    loop = CameraLoop(cam, stream.events, open_source(cam, stop), lambda image: [], lambda e: None, stop)
    loop.start()
    try:
        assert wait_for(lambda: loop.stats.frames_read > 20, 30), camera_health(loop)
        assert loop.source.errors == 0, camera_health(loop)
        said = _said(caplog)
        assert len(said) == 1 and said[0].levelno == logging.INFO, [r.getMessage() for r in said]
        assert said[0].getMessage().startswith(f"URL {camera.url} opened with no picture size"), said[0].getMessage()
    finally:
        stop.set()
        loop.join(10)
        camera.kill()


@SKIP_WITHOUT_SERVER
@SKIP_WITHOUT_H264
@SKIP_WITHOUT_MIC
def test_the_full_analysis_is_remembered_and_an_admins_analyzeduration_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The admin's own ``analyzeduration`` is theirs: no second open with another one.  Without
    it, the open after the one that needed the full analysis (between keyframes again) uses it
    at once: said once."""
    caplog.set_level(logging.INFO, logger=SAID)
    camera = _camera(tmp_path, monkeypatch)
    try:
        with monkeypatch.context() as env:
            env.setenv(ENV, "rtsp_flags;prefer_tcp|analyzeduration;100000")
            assert _size(camera.url) == (0, 0)
        assert not _said(caplog)
        assert _size(camera.url) == (640, 360)
        assert len(_said(caplog)) == 1
        assert _size(camera.url) == (640, 360)
        assert len(_said(caplog)) == 1
    finally:
        camera.kill()
