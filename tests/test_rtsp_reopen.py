"""Network cameras back from a network cut, all at once: real RTSP servers on loopback
(``rtsp_camera.py``: three MJPEG cameras and an H.264 one with a keyframe every 2 s that sends
its SPS and PPS only before keyframes, so a reconnect starts between keyframes without knowing
the picture's size), each behind a TCP proxy (``fault_proxy.py``) that cuts it; read through
OpenCV's FFmpeg backend in one process, as the service does.

Every open of a 10 fps camera took 2 s, 3 s for H.264: before it returned, FFmpeg estimated the
frame rate from 20 frames' timestamps, frames the camera sends in real time, so no faster host
reads them sooner.  The opens go one at a time, so the last of these four cameras came back
after at least 3 x 1.9 + 2.7 = 8.4 s (measured: 8.2 s for four MJPEG ones, 0.2 s now).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from fault_proxy import FaultProxy
from rtsp_camera import SKIP_WITHOUT_H264, SKIP_WITHOUT_SERVER, RtspCamera, sample_image

from edge_alpr.stream.source_config import OpenCvSourceConfig
from edge_alpr.stream.sources import sample_dir
from edge_alpr.stream.sources.ffmpeg_open import ENV
from edge_alpr.stream.sources.opencv import OpenCvSource

pytestmark = SKIP_WITHOUT_SERVER
SAMPLE = sorted(json.loads((sample_dir() / "labels.json").read_text()))[0]
ALL_BACK_S = 5.5  # the H.264 camera's wait for a keyframe (up to 2 s) and its open, the others' opens, slack
MIN_PSNR = 30.0  # dB against the served picture: MJPEG at quality 90 is 41, x264 43, a grey frame 11


class Reader:
    """A camera's capture loop: reads its source until stopped, keeping the monotonic time of
    its first frame since ``mark``, how many came since, and every frame unlike the served picture."""

    def __init__(self, source: OpenCvSource, picture: np.ndarray, stop: threading.Event) -> None:
        self.source, self.picture, self.stop = source, picture, stop
        self.since: float | None = None
        self.first: float | None = None
        self.frames = 0  # since ``mark``
        self.wrong: list[tuple[tuple[int, ...], float]] = []  # (shape, PSNR) of frames unlike the picture
        self.thread = threading.Thread(target=self._run, daemon=True)

    def mark(self) -> None:
        self.first, self.frames, self.since = None, 0, time.monotonic()

    def _run(self) -> None:
        while not self.stop.is_set():
            frame = self.source.read(1.0)
            if frame is None:
                continue
            self.frames += 1
            image = np.ascontiguousarray(frame.image)
            if image.shape != self.picture.shape or cv2.PSNR(image, self.picture) < MIN_PSNR:
                self.wrong.append((image.shape, cv2.PSNR(image, self.picture) if image.shape == self.picture.shape
                                   else 0.0))
            if self.since is not None and self.first is None:
                self.first = time.monotonic() - self.since


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    return sample_image(tmp_path, SAMPLE)


def _source(url: str, name: str, stop: threading.Event) -> OpenCvSource:
    return OpenCvSource(OpenCvSourceConfig(url=url, read_timeout=5, reconnect_min=0.2, reconnect_max=0.5), name, stop)


@SKIP_WITHOUT_H264
def test_four_cameras_back_from_a_cut_open_without_waiting_for_the_frame_rate(picture: Path) -> None:
    """Four cameras streaming, every connection cut for 2 s, then let through: all four
    deliver again within 5.5 s of the way being clear (8.4 s at least before), and no frame
    of any of them, before or after, differs from the served picture (no grey frame from the
    H.264 camera joining between keyframes, no frame without its size)."""
    cameras = [RtspCamera(picture) for _ in range(3)] + [RtspCamera(picture, h264_gop=20, inband=True)]
    proxies: list[FaultProxy] = []
    stop = threading.Event()
    readers: list[Reader] = []
    expected = cv2.cvtColor(cv2.imread(str(picture)), cv2.COLOR_BGR2RGB)
    try:
        for camera in cameras:
            camera.start()
            proxies.append(FaultProxy(camera.port))
        readers = [Reader(_source(proxy.url(), f"cam{i}", stop), expected, stop) for i, proxy in enumerate(proxies)]
        for reader in readers:
            reader.mark()
            reader.thread.start()
        deadline = time.monotonic() + 40
        while any(r.first is None for r in readers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(r.first is not None for r in readers), [r.source.last_error for r in readers]

        for proxy in proxies:
            proxy.cut()
        time.sleep(2)
        for reader in readers:
            reader.mark()
        for proxy in proxies:
            proxy.resume()
        deadline = time.monotonic() + 30
        while any(r.first is None for r in readers) and time.monotonic() < deadline:
            time.sleep(0.05)
        back = [r.first for r in readers]
        assert all(b is not None and b < ALL_BACK_S for b in back), (back, [r.source.last_error for r in readers])
        assert all(r.source.connects >= 2 for r in readers), [r.source.connects for r in readers]
        time.sleep(1.5)
        assert all(r.frames >= 10 for r in readers), [r.frames for r in readers]
        assert [r.wrong for r in readers] == [[]] * 4
    finally:
        stop.set()
        for reader in readers:
            if reader.thread.is_alive():
                reader.thread.join(10)
            reader.source.close()
        for proxy in proxies:
            proxy.close()
        for camera in cameras:
            camera.kill()


def _first_frame_s(url: str) -> float:
    """Seconds from a new source's first read to its first frame (its probe, open and grab)."""
    stop = threading.Event()
    source = _source(url, "gate", stop)
    started = time.monotonic()
    try:
        while time.monotonic() - started < 20:
            if source.read(1.0) is not None:
                return time.monotonic() - started
        raise AssertionError(source.last_error)
    finally:
        source.close()


def test_the_admins_own_ffmpeg_options_are_kept(picture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin's ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` stays theirs: with ``rtsp_transport;tcp``
    alone a camera still opens without the frame-rate probe (under 1.2 s; the probe's 20
    frames alone take 1.9 s), with ``fpsprobesize;-1`` and FFmpeg's own ``analyzeduration``
    (5 s; the 0.1 s added otherwise cuts the probe short) FFmpeg's probe is theirs again,
    and the variable reads as they set it after each open (so a video file opening later
    gets theirs, not the url's)."""
    camera = RtspCamera(picture)
    camera.start()
    try:
        monkeypatch.setenv(ENV, "rtsp_transport;tcp")
        assert _first_frame_s(camera.url) < 1.2
        assert os.environ[ENV] == "rtsp_transport;tcp"
        monkeypatch.setenv(ENV, "rtsp_transport;tcp|fpsprobesize;-1|analyzeduration;5000000")
        assert _first_frame_s(camera.url) > 1.8
        assert os.environ[ENV] == "rtsp_transport;tcp|fpsprobesize;-1|analyzeduration;5000000"
    finally:
        camera.kill()
