"""A camera delivering absurdly large frames, or frames not in BGR: bounded, said once, no crash.

Frames over the source's ``max_pixels`` are shrunk before the colour conversion: an 8000x6000
MJPEG (a camera switched to its sensor's full size) read as a camera URL through OpenCV's FFmpeg
backend and as a video file, both real.  Before, every 144 MB frame went through whole, and the
frames held between capture, recognition, the console and the tracker took a loop at 5 fps from
230 MB to 1.1 GB (170 % CPU; 680 MB and 123 % shrunk to 20 Mpx).  Grey, BGRA and 16-bit
frames (what a GStreamer appsink delivers for GRAY8, BGRx or GRAY16 caps) are given as arrays
to the real conversion: this OpenCV has no GStreamer to make them.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_alpr.errors import CameraError
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import open_source, sample_dir
from edge_alpr.stream.sources._cv import FrameFitter

MAX = 20_000_000


@pytest.fixture(scope="module")
def huge_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("huge") / "huge.avi"
    image = cv2.resize(cv2.imread(str(sorted(sample_dir().glob("*.jpg"))[0])), (8000, 6000))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (8000, 6000))
    for _ in range(3):
        writer.write(image)
    writer.release()
    return path


@pytest.mark.parametrize("kind", ["opencv", "video"])
def test_frames_over_max_pixels_are_shrunk_and_said_once(huge_video: Path, kind: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    source = {"kind": kind, ("url" if kind == "opencv" else "path"): str(huge_video)}
    cam = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": source}]}, "t").cameras[0]
    caplog.set_level(logging.WARNING)
    with open_source(cam, threading.Event()) as src:
        frames = [f for f in (src.read(5) for _ in range(3)) if f is not None]
    assert len(frames) == 3
    for frame in frames:
        h, w, c = frame.image.shape
        assert h * w <= MAX and c == 3 and frame.image.dtype == np.uint8, frame.image.shape
        assert abs(w / h - 8000 / 6000) < 0.01
    said = [r.getMessage() for r in caplog.records if "8000x6000" in r.getMessage()]
    assert len(said) == 1 and "max_pixels (20000000)" in said[0], said


def test_grey_bgra_and_16_bit_frames_are_converted_and_others_named() -> None:
    fit = FrameFitter(cv2, "gate", 64 * 64)
    grey = np.full((120, 160), 200, np.uint8)
    small = fit.rgb(grey)  # shrunk to 64*64 pixels at most, aspect kept, made RGB
    assert small.shape[2] == 3 and small.shape[0] * small.shape[1] <= 64 * 64 and small.shape[:2] == (55, 73)
    bgra = np.zeros((40, 40, 4), np.uint8)
    bgra[..., 0] = 255  # blue
    rgb = fit.rgb(bgra)
    assert rgb.shape == (40, 40, 3) and rgb[0, 0].tolist() == [0, 0, 255]
    assert fit.rgb(np.full((40, 40), 0xAB00, np.uint16))[0, 0].tolist() == [0xAB] * 3
    for bad in (np.zeros((40, 40, 2), np.uint8), np.zeros((40, 40, 3), np.float32), np.zeros((0, 40, 3), np.uint8)):
        with pytest.raises(CameraError, match=r"camera gate: frames of shape .*format=BGR"):
            fit.rgb(bad)
