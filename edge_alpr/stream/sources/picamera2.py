"""Raspberry Pi camera through picamera2 (libcamera), imported lazily.

picamera2 and libcamera come from Raspberry Pi OS's apt (``python3-picamera2``), not from pip.
The ``RGB888`` format delivers pixels in **BGR** byte order, so frames are flipped to RGB here.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ...errors import CameraError
from ...types import Frame
from ..config import Picamera2SourceConfig
from . import FrameSource

log = logging.getLogger(__name__)

PICAMERA2_INSTALL = "sudo apt install python3-picamera2 (Raspberry Pi OS; it is not on pip)"


def _import_picamera2() -> Any:
    try:
        from picamera2 import Picamera2
    except ImportError as e:
        raise CameraError(f"picamera2 is not installed; install it with: {PICAMERA2_INSTALL}. "
                          "In a virtualenv, create it with --system-site-packages.") from e
    return Picamera2


class Picamera2Source(FrameSource):
    """Continuous capture from the ``main`` stream of a video configuration."""

    live = True

    def __init__(self, cfg: Picamera2SourceConfig, camera_id: str, stop: threading.Event | None = None):
        super().__init__(camera_id, stop)
        picamera2_cls = _import_picamera2()
        self.cfg = cfg
        try:
            self._cam = picamera2_cls(cfg.camera_num)
            controls = {"FrameRate": cfg.frame_rate} if cfg.frame_rate else {}
            video = self._cam.create_video_configuration(
                main={"size": (cfg.width, cfg.height), "format": "RGB888"}, controls=controls)
            self._cam.configure(video)
            self._cam.start()
        except (RuntimeError, IndexError, OSError) as e:
            raise CameraError(f"camera {camera_id}: cannot start Pi camera {cfg.camera_num} at "
                              f"{cfg.width}x{cfg.height}: {e}; check the ribbon cable and "
                              "`rpicam-hello --list-cameras`") from e

    def read(self, timeout: float) -> Frame | None:
        bgr = self._cam.capture_array("main")
        rgb = np.ascontiguousarray(bgr[:, :, 2::-1])  # RGB888 is B,G,R in memory; drop any X byte
        return Frame(rgb, self.camera_id, datetime.now(UTC), self._next_index())

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            cam.stop()
            cam.close()
