"""Frame sources: one backend per file, hardware libraries imported lazily.

Every source is a ``FrameSource``: ``read(timeout)`` returns the next ``Frame`` (RGB pixels),
``None`` when nothing arrived within ``timeout`` (so the loop can keep time and notice a stop),
and raises ``SourceEnded`` when a finite source (a video file) is exhausted.  Sources are also
plain iterators and context managers.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from importlib import resources
from pathlib import Path
from types import TracebackType

from ...credentials import hide_credentials
from ...types import Frame
from ..config import CameraConfig
from ..source_config import FolderSourceConfig, OpenCvSourceConfig, Picamera2SourceConfig, VideoSourceConfig


class SourceEnded(Exception):
    """A finite source has no more frames (not an error)."""


class FrameSource(ABC):
    """Base of all sources; ``stop`` lets a blocked source give up promptly on shutdown.

    ``live``: the source makes frames at its own pace whether or not they are read (a camera),
    so the camera loop drops the ones it cannot recognise in time; a file source is not live
    (every frame is recognised).  ``max_block_s``: the longest one ``read`` may take whatever
    its ``timeout`` (a backend's own open/read timeouts); longer counts as hung.  ``wall_clock``:
    its frames are stamped with this device's wall clock as they are captured (a camera), which
    a step of that clock later shows to have been wrong; a file's frames carry the file's times
    (``file_times``: a replayed recording's events are timed as recorded, and read again they
    keep their ids), which may be long before they were read.

    Health (``stream/health.py``): a source that cannot open or stopped delivering calls
    ``failed`` (counted, with the reason) and is ``failing_since`` then until its next frame.
    ``last_error`` stays after that (a camera that flapped for an hour would otherwise show
    nothing of why), with ``last_error_at``, when it was said: once frames flow again it is a
    past problem, which its time tells (it read as a current one).
    """

    live = False
    wall_clock = False
    file_times = False  # its frames carry their file's time, not when they were read (the console says so)
    max_block_s = 5.0

    def __init__(self, camera_id: str, stop: threading.Event | None = None) -> None:
        self.camera_id = camera_id
        self.stop = stop if stop is not None else threading.Event()
        self._index = 0
        self.errors = 0  # failures to open or read, each counted once
        self._last_error: str | None = None
        self.last_error_at: float | None = None  # epoch s when last_error was said
        self.failing_since: float | None = None  # monotonic; None while frames arrive
        # its failure may be none (a folder camera's drop box emptied while edge-alpr was stopped
        # looks like its share not mounted): reconnecting while it lasts, never failed
        self.may_be_fine = False
        self.finished = -1  # the newest frame whose events are committed (done)

    @property
    def last_error(self) -> str | None:
        """The newest failure's or skipped file's reason, past or present (``last_error_at``)."""
        return self._last_error

    @last_error.setter
    def last_error(self, reason: str | None) -> None:
        self._last_error, self.last_error_at = reason, None if reason is None else time.time()

    def failed(self, reason: str) -> None:
        """Count a failure to open or read (the backend retries on its own)."""
        self.errors += 1
        self.last_error = hide_credentials(reason)  # shown as it is in /info/, MQTT health, the console
        if self.failing_since is None:
            self.failing_since = time.monotonic()

    def waiting(self) -> str:
        """Why no frame comes though nothing failed, in a few words ('' where not known): a
        folder read to its end waits for new files, which "starting" would not say."""
        return ""

    def read_before(self) -> float | None:
        """When (epoch s) this source's newest frame was read before this start, where it keeps
        that across restarts (a folder camera's files read: ``ledger.py``); None elsewhere.  Why:
        the counters cover this run, and a folder camera restarted with nothing new to read
        showed "Last frame: never" though it had read its files an hour before."""
        return None

    def behind(self) -> float | None:
        """Seconds the reading of a stream is behind the camera (``stamps.py``); None where the
        source has no stream time of the camera's to tell (all but RTSP)."""
        return None

    def _next_index(self) -> int:
        self.failing_since = None  # a frame: whatever failed before has recovered
        self._index += 1
        return self._index - 1

    @abstractmethod
    def read(self, timeout: float) -> Frame | None:
        """Next frame, or None if none within ``timeout`` s; raises SourceEnded at the end."""

    def done(self, index: int) -> None:
        """Frames up to ``index`` are finished with: the events they made are committed.  Why:
        a source that remembers what it delivered (a folder camera's files) may then forget
        them durably; a crash before this call delivers them again (at least once)."""
        self.finished = max(self.finished, index)

    @abstractmethod
    def close(self) -> None:
        """Release the device or file; safe to call twice."""

    def __iter__(self) -> FrameSource:
        return self

    def __next__(self) -> Frame:
        while not self.stop.is_set():
            try:
                frame = self.read(0.5)
            except SourceEnded:
                raise StopIteration from None
            if frame is not None:
                return frame
        raise StopIteration

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def sample_dir() -> Path:
    """The folder of sample images shipped inside the package (default camera source)."""
    return Path(str(resources.files("edge_alpr") / "samples"))


def open_source(camera: CameraConfig, stop: threading.Event | None = None,
                state_dir: Path | None = None) -> FrameSource:
    """Build the configured backend; raises ConfigError for a video file or image folder that
    cannot be read (no restart helps), CameraError for a camera that cannot start now, each
    naming the fix.  ``state_dir``: where a folder camera remembers the files it read."""
    src = camera.source
    if isinstance(src, FolderSourceConfig):
        from .files import FolderSource
        return FolderSource(src, camera.id, stop, state_dir)
    if isinstance(src, VideoSourceConfig):
        from .video import VideoFileSource
        return VideoFileSource(src, camera.id, stop)
    if isinstance(src, OpenCvSourceConfig):
        from .opencv import OpenCvSource
        return OpenCvSource(src, camera.id, stop)
    if isinstance(src, Picamera2SourceConfig):
        from .picamera2 import Picamera2Source
        return Picamera2Source(src, camera.id, stop)
    raise TypeError(f"unknown source config {src!r}")
