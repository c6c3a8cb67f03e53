"""Frame sources: real files with real OpenCV, and picamera2 against a declared fake."""

from __future__ import annotations

import shutil
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_alpr.errors import CameraError, ConfigError
from edge_alpr.stream.config import CameraConfig, StreamConfig
from edge_alpr.stream.sources import SourceEnded, open_source, sample_dir

SAMPLES = sorted(sample_dir().glob("*.jpg"))


def make_video(path: Path, frames_per_image: int = 3, size: tuple[int, int] = (320, 240),
               fps: float = 10.0) -> list[np.ndarray]:
    """An MJPG video of the bundled real images (BGR in, as OpenCV writes)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    written = []
    for p in SAMPLES:
        bgr = cv2.resize(cv2.imread(str(p)), size)
        for _ in range(frames_per_image):
            writer.write(bgr)
            written.append(bgr)
    writer.release()
    return written


def _camera(source: dict[str, object]) -> CameraConfig:
    return StreamConfig.from_dict({"cameras": [{"id": "cam", "source": source}]}, "t").cameras[0]


def test_folder_source_reads_in_order_then_watches_for_new_files(tmp_path: Path) -> None:
    for p in SAMPLES[:2]:
        shutil.copy(p, tmp_path / p.name)
    with open_source(_camera({"kind": "folder", "path": str(tmp_path), "poll_interval": 0.1})) as src:
        first = [src.read(1.0), src.read(1.0)]
        assert all(f is not None for f in first)
        assert src.read(0.3) is None  # nothing new yet
        shutil.copy(SAMPLES[2], tmp_path / "zz_new.jpg")
        new = src.read(2.0)
        assert new is not None and new.index == 2
        expected = cv2.cvtColor(cv2.imread(str(SAMPLES[2])), cv2.COLOR_BGR2RGB)
        assert np.abs(new.image.astype(int) - expected).mean() < 2  # RGB order, same pixels


def test_folder_source_forgets_the_files_deleted_behind_it(tmp_path: Path) -> None:
    """A camera uploading into a folder that is emptied behind it: every upload is read once,
    and the source's own marks are of the files still there (months of uploads must not grow
    its memory by one name per picture; the files read are its ledger's, bounded by
    remember_max_files: ``tests/test_camera_folder_share.py``)."""
    cam = _camera({"kind": "folder", "path": str(tmp_path), "poll_interval": 0.05})
    with open_source(cam) as src:
        for i in range(60):  # numbered uploads, each deleted once read
            shutil.copy(SAMPLES[i % len(SAMPLES)], tmp_path / f"cam_{i:04d}.jpg")
            assert src.read(2.0) is not None
            (tmp_path / f"cam_{i:04d}.jpg").unlink()
        shutil.copy(SAMPLES[0], tmp_path / "kept.jpg")
        assert src.read(2.0) is not None
        assert src.read(0.3) is None  # a file that stays is read once
        assert set(src._done) == {"kept.jpg"}  # type: ignore[attr-defined]
        time.sleep(0.1)
        (tmp_path / "kept.jpg").unlink()
        assert src.read(0.3) is None
        shutil.copy(SAMPLES[1], tmp_path / "kept.jpg")  # gone for a scan, then uploaded again
        assert src.read(2.0) is not None


def test_default_source_is_the_bundled_sample() -> None:
    cam = StreamConfig.from_dict({}, "t").cameras[0]
    with open_source(cam) as src:
        assert src.read(1.0) is not None
    assert 1 <= len(SAMPLES) <= 8


def test_video_file_source_real_opencv(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    written = make_video(video)
    with open_source(_camera({"kind": "video", "path": str(video)})) as src:
        frames = list(src)
    assert len(frames) == len(written)
    assert frames[1].timestamp > frames[0].timestamp
    rgb0 = cv2.cvtColor(written[0], cv2.COLOR_BGR2RGB)
    assert np.abs(frames[0].image.astype(int) - rgb0).mean() < 6  # MJPG is lossy
    with pytest.raises(ConfigError, match="does not exist"):  # (run checks first: configcheck.check_camera_files)
        open_source(_camera({"kind": "video", "path": str(tmp_path / "missing.avi")}))


def test_opencv_source_reconnects_with_backoff(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    n = len(make_video(video, frames_per_image=1))
    cam = _camera({"kind": "opencv", "url": str(video), "reconnect_min": 0.2, "reconnect_max": 0.4})
    src = open_source(cam)
    got = 0
    deadline = time.monotonic() + 10
    while got < 2 * n + 1 and time.monotonic() < deadline:
        if src.read(0.5) is not None:
            got += 1
    assert got == 2 * n + 1  # the "stream" ended twice and was reopened
    assert src.connects >= 3  # type: ignore[attr-defined]
    src.close()


def test_opencv_source_unreachable_camera_keeps_retrying() -> None:
    cam = _camera({"kind": "opencv", "url": "/nonexistent/stream.avi", "reconnect_min": 0.1,
                   "reconnect_max": 0.2})
    src = open_source(cam)
    started = time.monotonic()
    assert all(src.read(0.1) is None for _ in range(5))
    assert time.monotonic() - started < 3
    src.close()


class FakePicamera2:
    """A FAKE of picamera2.Picamera2 (libcamera cannot exist here), following its documented
    API: Picamera2(camera_num), create_video_configuration(main={"size", "format"}, controls),
    configure, start, capture_arrays(["main"]) -> ([HxWx3 uint8 in BGR order for RGB888], the
    request's metadata) (with ``wait=False``: a job, and ``wait(job, timeout)`` its result or
    TimeoutError), stop, close.  The metadata's ``SensorTimestamp``: nanoseconds on
    CLOCK_BOOTTIME (libcamera's documented clock), ``sensor_age_s`` before the frame is handed over."""

    instances: list[FakePicamera2] = []
    sensor_age_s = 0.0

    def __init__(self, camera_num: int = 0) -> None:
        self.camera_num = camera_num
        self.config: dict[str, object] | None = None
        self.started = self.closed = False
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, main: dict[str, object], controls: dict[str, object]
                                   ) -> dict[str, object]:
        return {"use_case": "video", "main": dict(main), "controls": dict(controls)}

    def configure(self, config: dict[str, object]) -> None:
        self.config = config

    def start(self) -> None:
        assert self.config is not None, "picamera2 requires configure() before start()"
        self.started = True

    def capture_arrays(self, names: list[str], wait: bool | None = None) -> Any:
        assert self.started and names == ["main"]
        return "main" if wait is False else self.wait("main")

    def wait(self, job: str, timeout: float | None = None) -> tuple[list[np.ndarray], dict[str, Any]]:
        assert job == "main"
        made = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - int(self.sensor_age_s * 1e9)
        return [self._array()], {"SensorTimestamp": made, "ExposureTime": 10000}

    def _array(self) -> np.ndarray:
        w, h = self.config["main"]["size"]  # type: ignore[index]
        bgr = np.zeros((h, w, 3), np.uint8)
        bgr[:, :, 0] = 255  # pure blue in BGR byte order
        return bgr

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


def test_picamera2_source_against_declared_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", module)
    cam = _camera({"kind": "picamera2", "width": 64, "height": 48, "frame_rate": 10})
    with open_source(cam) as src:
        frame = src.read(1.0)
    fake = FakePicamera2.instances[-1]
    assert fake.config == {"use_case": "video", "main": {"size": (64, 48), "format": "RGB888"},
                           "controls": {"FrameRate": 10.0}}
    assert frame is not None and frame.image.shape == (48, 64, 3)
    assert tuple(frame.image[0, 0]) == (0, 0, 255)  # BGR byte order turned into RGB: blue
    assert fake.closed


class StallingPicamera2(FakePicamera2):
    """The FAKE above (no Pi camera here) with a script per opening, as a camera on a loose
    ribbon cable behaves: ``plan`` holds, per ``Picamera2()`` call, the number of frames it
    delivers before it stalls (``wait`` then times out after its timeout), or the exception
    opening raises."""

    plan: list[int | Exception] = []

    def __init__(self, camera_num: int = 0) -> None:
        step = StallingPicamera2.plan.pop(0)
        if isinstance(step, Exception):
            raise step
        super().__init__(camera_num)
        self.left = step

    def wait(self, job: str, timeout: float | None = None) -> tuple[list[np.ndarray], dict[str, Any]]:
        if self.left <= 0:
            threading.Event().wait(timeout)  # blocks as long as asked, as a stalled camera does
            raise TimeoutError
        self.left -= 1
        return super().wait(job, timeout)


def test_picamera2_reopens_a_stalled_camera_after_its_read_timeout_against_a_fake(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the declared FAKE (the camera is hardware): frames, a stall, a failed reopening,
    then frames again; no read blocks past its own timeout."""
    module = types.ModuleType("picamera2")
    module.Picamera2 = StallingPicamera2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", module)
    StallingPicamera2.plan = [2, RuntimeError("Camera frontend has timed out!"), 3]
    src = open_source(_camera({"kind": "picamera2", "width": 32, "height": 24, "read_timeout": 0.3,
                               "reconnect_min": 0.1, "reconnect_max": 0.2}))
    first = FakePicamera2.instances[-1]
    got: list[int] = []
    longest = 0.0
    stalled_at = reopened_at = 0.0
    deadline = time.monotonic() + 10
    while len(got) < 5 and time.monotonic() < deadline:
        started = time.monotonic()
        frame = src.read(0.1)
        longest = max(longest, time.monotonic() - started)
        if frame is not None:
            got.append(frame.index)
            if len(got) == 3:
                reopened_at = time.monotonic()
        elif len(got) == 2 and not stalled_at:
            stalled_at = time.monotonic()
    src.close()
    assert got == [0, 1, 2, 3, 4]
    assert longest < 0.3, longest  # a read waits its timeout (0.1 s), never the camera's
    assert first.closed and FakePicamera2.instances[-1].closed
    assert src.errors == 2 and src.connects == 2  # the stall and the failed reopening
    assert "Camera frontend has timed out!" in (src.last_error or "")
    assert src.failing_since is None  # frames again: recovered
    assert reopened_at - stalled_at >= 0.3 + 0.1 + 0.2 - 0.15  # read timeout, then both backoffs


def test_a_gstreamer_pipeline_without_gstreamer_in_opencv_is_a_clear_error() -> None:
    """This OpenCV (the pip wheel) is built without GStreamer, as the camera extra's is."""
    assert "GStreamer:                   NO" in cv2.getBuildInformation()
    cam = _camera({"kind": "opencv", "pipeline": "videotestsrc ! videoconvert ! appsink"})
    with pytest.raises(CameraError, match="python3-opencv") as error:
        open_source(cam)
    assert "GStreamer: NO" in str(error.value) and cv2.__version__ in str(error.value)


def test_missing_picamera2_names_the_apt_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails like on a non-Pi
    with pytest.raises(CameraError, match="sudo apt install python3-picamera2"):
        open_source(_camera({"kind": "picamera2"}))


def test_missing_opencv_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(CameraError, match="pip install opencv-python-headless"):
        open_source(_camera({"kind": "opencv", "device": 0}))


def test_stop_event_ends_iteration_promptly(tmp_path: Path) -> None:
    stop = threading.Event()
    src = open_source(_camera({"kind": "folder", "path": str(tmp_path)}), stop)
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    assert list(src) == []
    assert time.monotonic() - started < 2
    with pytest.raises(SourceEnded):
        open_source(_camera({"kind": "folder", "path": str(tmp_path), "watch": False})).read(0.5)
