"""Video-file source.

Timestamps come from the file itself (its mtime plus the frame's position), so re-reading the
same input after a restart gives the same timestamps and hence the same event ids, which lets
consumers drop the duplicates, and a recording replayed keeps the times it was made at (the
console marks them "file time": ``docs/cameras.md``, A file's time).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import numpy as np

from ...errors import CameraError
from ...types import Frame
from ..source_config import VideoSourceConfig
from . import FrameSource, SourceEnded
from ._cv import FrameFitter, import_cv2
from .ffmpeg_open import OPEN_TURN
from .paths import check_readable

log = logging.getLogger(__name__)

MAX_DAMAGED_FRAMES = 250  # frames tried past one that does not decode before a video counts as ended


class VideoFileSource(FrameSource):
    """Frames of a video file decoded by OpenCV, optionally paced in real time or looped.

    A frame that does not decode before the file's declared end (a damaged stretch) is skipped
    and the frames after it are read; each skip is counted in the camera's errors, the first
    one logged.  A file cut short ends where its data ends, said once in the log."""

    file_times = True

    def __init__(self, cfg: VideoSourceConfig, camera_id: str, stop: threading.Event | None = None):
        super().__init__(camera_id, stop)
        self._cv2 = import_cv2()
        self.cfg = cfg
        check_readable(Path(cfg.path), "video file", camera_id, folder=False)
        self._base = datetime.fromtimestamp(os.stat(cfg.path).st_mtime, timezone.utc)
        self._cap = self._open()
        self._loops = 0
        self._started: float | None = None  # monotonic time of position 0: set by the first read
        self._pending: tuple[np.ndarray, float] | None = None
        self._loop_offset = 0.0
        self._last_pos = 0.0
        # a frame's time in the file: where the next pass begins after the last frame (it began at
        # the last frame's position, so two frames had one time); the file's rate, else a 25 fps frame
        fps = float(self._cap.get(self._cv2.CAP_PROP_FPS))
        self._step = 1.0 / fps if 0 < fps < 1000 else 0.04
        self._warned = False
        self._fit = FrameFitter(self._cv2, camera_id, cfg.max_pixels)
        self.live = cfg.realtime  # paced like a camera: frames the loop cannot keep up with drop

    def _open(self, timeout: float = -1) -> Any:
        """The file opened, never while a url opens with its own FFmpeg options (``OPEN_TURN``,
        ``ffmpeg_open.py``); None where that turn did not come within ``timeout`` s (-1: wait).
        Why a loop's reopen waits a read's timeout at a time: a url camera's open holds the turn up
        to its ``read_timeout`` (a camera that accepts and never answers), and the video's read
        waited with it, past its ``max_block_s`` (measured: 7.96 s behind ``read_timeout: 8``)."""
        if not OPEN_TURN.acquire(timeout=timeout):
            return None
        try:
            cap = self._cv2.VideoCapture(self.cfg.path)
        finally:
            OPEN_TURN.release()
        if not cap.isOpened():
            raise CameraError(f"camera {self.camera_id}: OpenCV cannot open video {self.cfg.path!r} "
                              "(unsupported codec or corrupt file?)")
        return cap

    def read(self, timeout: float) -> Frame | None:
        if self._pending is None:
            ok, bgr = False, cast(Any, None)  # no file open: its reopen waits for its turn
            if self._cap is not None:
                ok, bgr = self._cap.read()
                if not ok:
                    ok, bgr = self._past_damage()
            if not ok:
                if not self.cfg.loop or self._index == 0:
                    raise SourceEnded
                if self._cap is not None:  # the pass ended: reopened for the next, None till its turn
                    self._cap.release()
                    self._cap, self._loop_offset = None, self._loop_offset + self._last_pos + self._step
                self._cap = self._open(timeout)
                if self._cap is None:
                    return None
                ok, bgr = self._cap.read()
                if not ok:
                    raise SourceEnded
            pos = float(self._cap.get(self._cv2.CAP_PROP_POS_MSEC)) / 1000.0
            if pos > self._last_pos:
                self._step = pos - self._last_pos  # the frames' own spacing, where it differs from the rate
            self._last_pos = pos
            self._pending = (bgr, self._loop_offset + pos)
        bgr, pos = self._pending
        if self.cfg.realtime:
            # The video starts playing at the first read, not when the source was made: the service
            # opens cameras before loading the models, and a clock started then had the first
            # seconds of the file (as long as the start-up took) dropped as late, a different
            # number of frames at every start, and so other event ids after a restart.
            if self._started is None:
                self._started = time.monotonic() - pos
            wait = self._started + pos - time.monotonic()
            if wait > 0:
                if self.stop.wait(min(wait, timeout)) or wait > timeout:
                    return None
        self._pending = None
        pixels, convert, order = self._fit.fit(bgr)
        return Frame(pixels, self.camera_id, self._base + timedelta(seconds=pos), self._next_index(),
                     convert=convert, order=order)

    def _past_damage(self) -> tuple[bool, Any]:
        """After a frame that did not decode: the next one that does before the file's end."""
        cv2, cap = self._cv2, self._cap
        total, at = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_POS_FRAMES)
        for _ in range(MAX_DAMAGED_FRAMES):
            if cap.get(cv2.CAP_PROP_POS_FRAMES) >= total - 1 or self.stop.is_set():
                break
            ok, bgr = cap.read()
            if ok:
                self._report(f"damaged frames skipped after frame {int(at)} of {int(total)}")
                return True, bgr
        if total > 0 and at < total - 1:
            self._report(f"the video ends after frame {int(at)} of the {int(total)} it declares "
                         "(file truncated or damaged)")
        return False, None

    def _report(self, what: str) -> None:
        self.errors += 1
        self.last_error = what
        if not self._warned:  # a looped file would say it on every pass
            self._warned = True
            log.warning("camera %s: %s: %s", self.camera_id, self.cfg.path, what)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
