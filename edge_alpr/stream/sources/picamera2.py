"""Raspberry Pi camera through picamera2 (libcamera), imported lazily.

picamera2 and libcamera come from Raspberry Pi OS's apt (``python3-picamera2``), not from pip.
The ``RGB888`` format delivers pixels in **BGR** byte order, so frames are flipped to RGB here.

A frame is asked for without blocking (``capture_arrays(["main"], wait=False)``: the pixels and
the request's metadata together) and waited for in slices (``Picamera2.wait(job, timeout)``), so
the capture thread notices a stop at once.  It is stamped with libcamera's ``SensorTimestamp``
(nanoseconds on this machine's monotonic or boot-time clock, when the sensor began the frame)
where that fits one of those clocks (``stamps.device_time``), else with the time it was read.  A camera that
delivers nothing for ``read_timeout`` seconds, or whose library raises (a loose ribbon cable, a
libcamera pipeline error), is closed and opened again with backoff between ``reconnect_min``
and ``reconnect_max`` seconds, as the OpenCV cameras are.  Opening fails at start when the
camera is absent, so a wrong ``camera_num`` is reported before the service runs.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from ...errors import CameraError
from ...types import Frame
from ..source_config import Picamera2SourceConfig
from . import FrameSource
from .stamps import device_time

log = logging.getLogger(__name__)

PICAMERA2_INSTALL = "sudo apt install python3-picamera2 (Raspberry Pi OS; it is not on pip)"
OPEN_S = 5.0  # the longest opening and starting a camera may take before it counts as hung


def _import_picamera2() -> Any:
    try:
        from picamera2 import Picamera2
    except ImportError as e:
        raise CameraError(f"picamera2 is not installed; install it with: {PICAMERA2_INSTALL}. "
                          "In a virtualenv, create it with --system-site-packages.") from e
    return Picamera2


class Picamera2Source(FrameSource):
    """Continuous capture from the ``main`` stream of a video configuration, with reconnect."""

    live = True
    wall_clock = True

    def __init__(self, cfg: Picamera2SourceConfig, camera_id: str, stop: threading.Event | None = None):
        super().__init__(camera_id, stop)
        self._cls = _import_picamera2()
        self.cfg = cfg
        self.max_block_s = OPEN_S + 1.0  # a read waits at most its timeout; an open may take longer
        self._cam: Any = None
        self._job: Any = None  # the frame asked for and not yet delivered
        self._waiting_since = 0.0
        self._retry_at = 0.0
        self._backoff = cfg.reconnect_min
        self.connects = 0
        try:
            self._cam = self._open()
        except (RuntimeError, IndexError, OSError) as e:
            raise CameraError(f"camera {camera_id}: cannot start Pi camera {cfg.camera_num} at "
                              f"{cfg.width}x{cfg.height}: {e}; check the ribbon cable and "
                              "`rpicam-hello --list-cameras`") from e

    def _open(self) -> Any:
        cam = self._cls(self.cfg.camera_num)
        try:
            controls = {"FrameRate": self.cfg.frame_rate} if self.cfg.frame_rate else {}
            video = cam.create_video_configuration(
                main={"size": (self.cfg.width, self.cfg.height), "format": "RGB888"}, controls=controls)
            cam.configure(video)
            cam.start()
        except BaseException:
            cam.close()
            raise
        self.connects += 1
        self._waiting_since = time.monotonic()
        return cam

    def _fail(self, what: str) -> None:
        """Count the failure, close the camera and schedule its reopening with backoff."""
        self.failed(what)
        log.warning("camera %s: %s (Pi camera %d); reopening it in %.1f s", self.camera_id, what,
                    self.cfg.camera_num, self._backoff)
        try:
            self._release()
        except (RuntimeError, OSError) as e:  # already broken: reopening is what helps
            log.warning("camera %s: closing Pi camera %d failed: %s", self.camera_id, self.cfg.camera_num, e)
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self.cfg.reconnect_max)

    def read(self, timeout: float) -> Frame | None:
        if self._cam is None:
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                self.stop.wait(min(wait, timeout))
                return None
            try:
                self._cam = self._open()
            except (RuntimeError, IndexError, OSError) as e:
                self._fail(f"cannot open camera: {e}")
                return None
            log.info("camera %s: Pi camera %d reopened", self.camera_id, self.cfg.camera_num)
        try:
            if self._job is None:
                self._job = self._cam.capture_arrays(["main"], wait=False)
            arrays, metadata = self._cam.wait(self._job, timeout=timeout)
        except TimeoutError:
            if time.monotonic() - self._waiting_since >= self.cfg.read_timeout:
                self._fail(f"no frame for {self.cfg.read_timeout:g} s")
            return None
        except (RuntimeError, OSError) as e:  # libcamera lost the camera
            self._fail(f"camera stopped delivering frames: {e}")
            return None
        captured, stamp = time.monotonic(), datetime.now(timezone.utc)
        self._job = None
        self._waiting_since = captured
        self._backoff = self.cfg.reconnect_min
        sensor = metadata.get("SensorTimestamp") if isinstance(metadata, dict) else None
        made = device_time(sensor / 1e9, captured) if isinstance(sensor, (int, float)) else None
        if made is None:
            made = captured
        # converted when the loop takes the frame (Frame.convert): one it drops is never copied
        return Frame(arrays[0], self.camera_id, stamp - timedelta(seconds=captured - made), self._next_index(), made,
                     _rgb, "BGR" if arrays[0].shape[2] == 3 else "BGRX")

    def _release(self) -> None:
        cam, self._cam, self._job = self._cam, None, None
        if cam is None:
            return
        try:
            cam.stop()
        finally:
            cam.close()

    def close(self) -> None:
        self._release()


def _rgb(pixels: np.ndarray) -> np.ndarray:
    """picamera2's RGB888 pixels (B, G, R in memory, maybe an X byte after) as RGB."""
    return np.ascontiguousarray(pixels[:, :, 2::-1])
