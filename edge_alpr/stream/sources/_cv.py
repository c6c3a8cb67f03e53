"""Lazy OpenCV import shared by the OpenCV and video-file sources, and a live capture's open and name."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

import numpy as np

from ...credentials import hide_credentials
from ...errors import CameraError
from ..source_config import OpenCvSourceConfig
from .ffmpeg_open import open_url
from .v4l2_names import device_node

log = logging.getLogger(__name__)

OPENCV_INSTALL = ("pip install opencv-python-headless (or on a Jetson/Pi with GStreamer support, "
                  "the system package: sudo apt install python3-opencv)")


def require_gstreamer(cv2: ModuleType, camera_id: str) -> None:
    """Raise CameraError unless this OpenCV can open GStreamer pipelines.

    Why at start: without GStreamer every open of a pipeline fails the same way, and a camera
    retrying "cannot open" for ever hides that no retry can help.  The pip wheels (the
    ``camera`` extra's opencv-python-headless) are built without it; Debian's is not.
    """
    info = cv2.getBuildInformation()
    line = next((ln for ln in info.splitlines() if ln.strip().startswith("GStreamer:")), "")
    if line.split(":", 1)[-1].strip().upper().startswith("YES"):
        return
    raise CameraError(
        f"camera {camera_id}: source.pipeline needs OpenCV built with GStreamer, but OpenCV "
        f"{cv2.__version__} ({cv2.__file__}) says {' '.join(line.split()) or 'nothing of GStreamer'}; install "
        "Debian's python3-opencv (sudo apt install python3-opencv gstreamer1.0-plugins-good), "
        "remove opencv-python-headless from the virtualenv and create it with "
        "--system-site-packages, or give the camera a url or device instead")


def import_cv2() -> ModuleType:
    """Import cv2 or raise CameraError naming the install command.

    FFmpeg's own messages are silenced unless ``OPENCV_FFMPEG_LOGLEVEL`` is set (8 shows its
    fatal ones, 16 its errors): at a level set so, OpenCV prints each of them to stdout (so to
    the journal too) as ``[OPENCV:FFMPEG:08] No JPEG data found in image``, a line for every
    damaged frame of a file or of a stream losing packets, and even at the "fatal" level one for
    every picture of a stream it cannot decode (measured, a 10 fps MJPEG camera sending one part
    of garbage in four, 12 frames read: 2 lines at 8, 13 at 16, none here; ``damaged.py`` says it
    once and counts them).
    OpenCV's own warnings (one per failed open of a camera that is down) likewise, unless
    ``OPENCV_LOG_LEVEL`` is set.  The sources report failures themselves, once, and in the
    camera's health.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; read at FFmpeg's first use
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # not a warning per failed open; read at import
    try:
        import cv2
    except ImportError as e:
        raise CameraError(f"OpenCV is not installed; install it with: {OPENCV_INSTALL}") from e
    return cv2


def open_capture(cv2: ModuleType, cfg: OpenCvSourceConfig, open_s: float | None = None) -> Any:
    """A ``VideoCapture`` of the camera ``cfg`` names (pipeline, url, device path or number),
    opened or not; a url's open and read bounded by its ``read_timeout`` (V4L2 and GStreamer
    have no such timeout; ``open_s``: a longer open, for a camera slow to send its first
    picture: ``opencv.py``), without FFmpeg's frame-rate probe (``ffmpeg_open.py``)."""
    ms = int(cfg.read_timeout * 1000)
    if cfg.pipeline:
        cap = cv2.VideoCapture(cfg.pipeline, cv2.CAP_GSTREAMER)
    elif cfg.url:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int((open_s or cfg.read_timeout) * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        cap = open_url(cv2, cfg.url, params, where(cfg))
    elif cfg.device_path:
        cap = cv2.VideoCapture(cfg.device_path, cv2.CAP_V4L2)
    else:
        cap = cv2.VideoCapture(cfg.device, cv2.CAP_V4L2)
    if cap.isOpened() and cfg.width and cfg.height:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
    return cap


class FrameFitter:
    """A decoded frame as the RGB uint8 pixels recognition takes, at most ``max_pixels``.

    Why: a camera switched to its sensor's full size (8000x6000) made every frame 144 MB, and
    the frames held between capture and recognition, the console's and the tracker's took the
    process from 230 MB to 1.1 GB (measured at 5 fps);
    shrunk here, before the colour conversion, the rest of the loop never sees one.  A frame
    larger than ``max_pixels`` is shrunk to fit (aspect kept), said once per size; grey, BGRA
    and 16-bit frames (a GStreamer appsink's GRAY8/BGRx/GRAY16 caps) are converted, said once;
    anything else raises CameraError naming the shape and the fix.

    ``fit`` checks, shrinks and narrows at once but leaves the colour conversion to the frame's
    first use (``Frame.convert``): a live camera's frames that the loop drops are never converted.
    """

    def __init__(self, cv2: ModuleType, camera_id: str, max_pixels: int) -> None:
        self.cv2 = cv2
        self.camera_id = camera_id
        self.max_pixels = max_pixels
        self._said: set[str] = set()

    def rgb(self, frame: np.ndarray) -> np.ndarray:
        """The frame as RGB now."""
        pixels, convert, _ = self.fit(frame)
        return convert(pixels)

    def fit(self, frame: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], str]:
        """The frame checked, shrunk to ``max_pixels`` and made 8-bit, what turns it into RGB, and
        its channels (``Frame.order``)."""
        cv2 = self.cv2
        channels = 1 if frame.ndim == 2 else frame.shape[2] if frame.ndim == 3 else 0
        code = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}.get(channels)
        if code is None or frame.dtype not in (np.uint8, np.uint16) or 0 in frame.shape:
            raise CameraError(
                f"camera {self.camera_id}: frames of shape {frame.shape} and type {frame.dtype} cannot be "
                "recognised (1, 3 or 4 channels of 8 or 16 bits are); make the camera or the pipeline's "
                "appsink deliver BGR (caps video/x-raw,format=BGR)")
        h, w = frame.shape[:2]
        if h * w > self.max_pixels:
            scale = (self.max_pixels / (h * w)) ** 0.5
            size = (max(1, int(w * scale)), max(1, int(h * scale)))
            self._say(f"{w}x{h}", "frames of %dx%d (%d pixels) are over max_pixels (%d): shrunk to %dx%d; "
                      "ask the camera for a smaller size, or raise max_pixels", w, h, w * h, self.max_pixels, *size)
            # bilinear reads 2x2 pixels, enough down to half size and 8x faster than INTER_AREA
            # on 48 Mpx (28 ms against 217); further down, area averaging against aliasing
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR if scale > 0.5 else cv2.INTER_AREA)
        if frame.dtype == np.uint16:
            self._say("16", "16-bit frames are converted to 8 bits (their high byte)")
            frame = (frame >> 8).astype(np.uint8)
        if channels != 3:
            self._say(str(channels), "frames of %d channel(s), not BGR, are converted to RGB", channels)
        return frame, partial(cv2.cvtColor, code=code), {1: "grey", 3: "BGR", 4: "BGRA"}[channels]

    def _say(self, key: str, msg: str, *args: object) -> None:
        if key not in self._said:
            self._said.add(key)
            log.warning("camera %s: " + msg, self.camera_id, *args)


def where(cfg: OpenCvSourceConfig) -> str:
    """Where a live capture's frames come from, for logs: a URL without its user, password and
    secret query values; a pipeline by its first element's name alone (``rtspsrc location=...
    user-pw=...`` holds credentials in forms no URL rule knows)."""
    if cfg.pipeline:
        head = cfg.pipeline.split("!")[0].split()
        return f"GStreamer pipeline {head[0] if head else ''} ! ..."
    if cfg.url:
        return f"URL {hide_credentials(cfg.url)}"
    return f"device {device_node(cfg.device, cfg.device_path)}"


def is_mjpeg(cv2: ModuleType, cap: Any) -> bool:
    """Whether an open capture's codec is MJPEG: every picture whole, none waiting for a keyframe,
    and over HTTP no time of the camera's (``stamps.py``)."""
    return bool(int(cap.get(cv2.CAP_PROP_FOURCC)) == cv2.VideoWriter_fourcc(*"MJPG"))
