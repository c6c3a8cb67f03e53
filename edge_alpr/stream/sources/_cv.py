"""Lazy OpenCV import shared by the OpenCV and video-file sources."""

from __future__ import annotations

import os
from types import ModuleType

from ...errors import CameraError

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

    FFmpeg's own messages are limited to fatal ones unless ``OPENCV_FFMPEG_LOGLEVEL`` is set
    (16 shows its errors): at its default it writes a line to stderr, so to the journal, for
    every damaged frame of a file or of a stream losing packets.  OpenCV's own warnings (one
    per failed open of a camera that is down) likewise, unless ``OPENCV_LOG_LEVEL`` is set.  The
    sources report failures themselves, once, and in the camera's health.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL; read at FFmpeg's first use
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # not a warning per failed open; read at import
    try:
        import cv2
    except ImportError as e:
        raise CameraError(f"OpenCV is not installed; install it with: {OPENCV_INSTALL}") from e
    return cv2
