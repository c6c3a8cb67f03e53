"""Video-file and image-folder sources.

Timestamps come from the files themselves (folder: file mtime; video: file mtime plus the
frame's position), so re-reading the same input after a restart gives the same timestamps and
hence the same event ids, which lets consumers drop the duplicates.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ...errors import CameraError
from ...types import Frame
from ..config import FolderSourceConfig, VideoSourceConfig
from . import FrameSource, SourceEnded, sample_dir
from ._cv import import_cv2
from .paths import check_readable

log = logging.getLogger(__name__)


class VideoFileSource(FrameSource):
    """Frames of a video file decoded by OpenCV, optionally paced in real time or looped."""

    def __init__(self, cfg: VideoSourceConfig, camera_id: str, stop: threading.Event | None = None):
        super().__init__(camera_id, stop)
        self._cv2 = import_cv2()
        self.cfg = cfg
        check_readable(Path(cfg.path), "video file", camera_id, folder=False)
        self._base = datetime.fromtimestamp(os.stat(cfg.path).st_mtime, UTC)
        self._cap = self._open()
        self._loops = 0
        self._started = time.monotonic()
        self._pending: tuple[np.ndarray, float] | None = None
        self._loop_offset = 0.0
        self._last_pos = 0.0
        self.live = cfg.realtime  # paced like a camera: frames the loop cannot keep up with drop

    def _open(self) -> Any:
        cap = self._cv2.VideoCapture(self.cfg.path)
        if not cap.isOpened():
            raise CameraError(f"camera {self.camera_id}: OpenCV cannot open video {self.cfg.path!r} "
                              "(unsupported codec or corrupt file?)")
        return cap

    def read(self, timeout: float) -> Frame | None:
        if self._pending is None:
            ok, bgr = self._cap.read()
            if not ok:
                if not self.cfg.loop or self._index == 0:
                    raise SourceEnded
                self._cap.release()
                self._cap = self._open()
                self._loop_offset += self._last_pos
                ok, bgr = self._cap.read()
                if not ok:
                    raise SourceEnded
            pos = float(self._cap.get(self._cv2.CAP_PROP_POS_MSEC)) / 1000.0
            self._last_pos = pos
            self._pending = (bgr, self._loop_offset + pos)
        bgr, pos = self._pending
        if self.cfg.realtime:
            wait = self._started + pos - time.monotonic()
            if wait > 0:
                if self.stop.wait(min(wait, timeout)) or wait > timeout:
                    return None
        self._pending = None
        rgb = self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)
        return Frame(rgb, self.camera_id, self._base + timedelta(seconds=pos), self._next_index())

    def close(self) -> None:
        self._cap.release()


class FolderSource(FrameSource):
    """Images in a folder, in name order, then each new file as it appears (polling).

    A file is read once while it stays; a name seen gone by a scan and then uploaded again is
    a new picture, read again."""

    def __init__(self, cfg: FolderSourceConfig, camera_id: str, stop: threading.Event | None = None):
        super().__init__(camera_id, stop)
        self.cfg = cfg
        self.path = Path(cfg.path) if cfg.path else sample_dir()
        check_readable(self.path, "image folder", camera_id, folder=True)
        self._done: set[str] = set()
        self._queue: list[Path] = []
        self._last_scan = float("-inf")
        self._last_frame = float("-inf")

    def _scan(self) -> None:
        found: set[Path] = set()
        for pattern in self.cfg.patterns:
            found.update(self.path.glob(pattern))
            found.update(self.path.glob(pattern.upper()))
        queued = set(self._queue)
        self._queue.extend(sorted(p for p in found if p.name not in self._done and p not in queued))
        # Only the names still there are remembered: a camera uploading for months into a
        # folder that is emptied behind it must not grow this set by one name per picture.
        self._done.intersection_update(p.name for p in found)
        self._last_scan = time.monotonic()

    def read(self, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        while not self.stop.is_set():
            pace = self._last_frame + self.cfg.interval - time.monotonic()
            if self._queue and pace <= 0:
                frame = self._load(self._queue.pop(0))
                if frame is not None:
                    self._last_frame = time.monotonic()
                    return frame
                continue
            if not self._queue:
                if self._last_scan > float("-inf") and not self.cfg.watch:
                    raise SourceEnded
                due = self._last_scan + self.cfg.poll_interval - time.monotonic()
                if due <= 0:
                    self._scan()
                    continue
                pace = due
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.stop.wait(min(pace, left))
        return None

    def _load(self, path: Path) -> Frame | None:
        """Decode one file; a file still being written is retried on the next scan."""
        try:
            st = path.stat()
            with Image.open(path) as im:
                rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        except FileNotFoundError:
            self._done.add(path.name)
            return None
        except (UnidentifiedImageError, OSError, ValueError) as e:
            if time.time() - path.stat().st_mtime < 2 * self.cfg.poll_interval:
                return None  # probably still being written: picked up again by the next scan
            log.warning("camera %s: skipping unreadable image %s: %s", self.camera_id, path, e)
            self._done.add(path.name)
            return None
        self._done.add(path.name)
        ts = datetime.fromtimestamp(st.st_mtime, UTC)
        return Frame(rgb, self.camera_id, ts, self._next_index())

    def close(self) -> None:
        self._queue.clear()
