"""Lazy OpenCV import shared by the OpenCV and video-file sources."""

from __future__ import annotations

from types import ModuleType

from ...errors import CameraError

OPENCV_INSTALL = ("pip install opencv-python-headless (or on a Jetson/Pi with GStreamer support, "
                  "the system package: sudo apt install python3-opencv)")


def import_cv2() -> ModuleType:
    """Import cv2 or raise CameraError naming the install command."""
    try:
        import cv2
    except ImportError as e:
        raise CameraError(f"OpenCV is not installed; install it with: {OPENCV_INSTALL}") from e
    return cv2
