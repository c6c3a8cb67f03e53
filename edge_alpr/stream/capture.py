"""Capture apart from recognition: one thread per camera reads frames as the camera makes them.

Why: a live camera (RTSP through FFmpeg, a V4L2 queue, libcamera) delivers frames at its own
rate whether or not they are read, and its buffer hands a slow reader the oldest frame it
holds.  Read and recognised in one thread, a 25 fps stream with 300 ms recognition fell
behind by 0.87 s every second (17 s after 20 s: ``scripts/bench/bench_live.py``).  Here the capture
thread drains the source as fast as it delivers; the recognition thread takes the newest frame
whenever it is free, and the frames it never took are dropped and counted.

Finite sources (a video file read faster than real time, an image folder) are not live: there
the capture thread waits for room instead, so every frame is recognised, in order.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from ..supervision import Worker
from ..types import Frame
from .sources import FrameSource, SourceEnded

log = logging.getLogger(__name__)

BUFFER_FRAMES = 2  # frames held between capture and recognition
RATE_WINDOW_S = 10.0


class RateWindow:
    """Events per second over the last ``window_s`` seconds (thread-safe).

    Why kept by the counting thread rather than derived from two readings of a counter: every
    reader (``/info/``, MQTT, the console) then sees the same rate, and a camera that stops
    delivering drops to 0 within the window whoever asks and however often.
    """

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._times: collections.deque[float] = collections.deque()
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            self._trim(now)
            span = min(self.window_s, now - self._since)
            return len(self._times) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()


@dataclass
class LoopStats:
    """A camera's counters for logs, ``/info/``, MQTT and the benchmarks (plain values, each
    written by one thread and read without a lock)."""

    frames_read: int = 0  # captured from the source (capture thread)
    frames_dropped: int = 0  # captured but never recognised: the recogniser was busy (live sources)
    frames_processed: int = 0
    frames_still: int = 0  # skipped by the motion gate
    events: int = 0
    errors: int = 0
    busy_s: float = 0.0
    lag_s: float = 0.0  # from when the camera made it to the end of recognition, of the last recognised frame
    last_frame_at: float | None = None  # wall clock (epoch s) when the newest frame was captured
    last_frame_time: datetime | None = None  # the newest frame's own timestamp (a file's: the file's time)
    ended: bool = False
    read_rate: RateWindow = field(default_factory=RateWindow, repr=False)  # frames/s captured
    processed_rate: RateWindow = field(default_factory=RateWindow, repr=False)  # frames/s recognised


class FrameBuffer:
    """Bounded frames between the capture and recognition threads (thread-safe).

    Live: ``put`` never waits; a full buffer drops its oldest frame, and ``take`` returns the
    newest frame and drops the older ones (both counted in ``stats.frames_dropped``).  Not live: ``put``
    waits for room and ``take`` returns the oldest frame.  After ``end`` (the source ended)
    ``take`` raises ``SourceEnded`` once the buffer is empty; after ``close`` (the recognition
    side stopped) ``put`` returns at once.
    """

    def __init__(self, live: bool, stats: LoopStats, capacity: int = BUFFER_FRAMES) -> None:
        self.live = live
        self.capacity = capacity
        self.stats = stats
        self.ended = False
        self.closed = False
        self._frames: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()

    def put(self, frame: Frame, timeout: float) -> bool:
        """Hold ``frame``; False only when not live and no room came within ``timeout`` s."""
        with self._cond:
            if not self.live:
                self._cond.wait_for(lambda: self.closed or len(self._frames) < self.capacity, timeout)
                if len(self._frames) >= self.capacity and not self.closed:
                    return False
            elif len(self._frames) >= self.capacity:
                self._frames.popleft()
                self.stats.frames_dropped += 1
            self._frames.append(frame)
            self._cond.notify_all()
            return True

    def take(self, timeout: float) -> Frame | None:
        """The next frame to recognise, or None after ``timeout`` s; SourceEnded at the end."""
        with self._cond:
            self._cond.wait_for(lambda: self._frames or self.ended or self.closed, timeout)
            if not self._frames:
                if self.ended:
                    raise SourceEnded
                return None
            if self.live:
                frame = self._frames.pop()
                self.stats.frames_dropped += len(self._frames)
                self._frames.clear()
            else:
                frame = self._frames.popleft()
            self._cond.notify_all()
            return frame

    def end(self) -> None:
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._frames.clear()
            self._cond.notify_all()


class CaptureThread(Worker):
    """Reads ``source`` into ``buffer`` until stop, the end of the source, or ``buffer.close``.

    Owns the source: closes it when it ends.  A read that blocks (a camera that stalls inside
    its backend) holds only this thread; the recognition thread and shutdown go on without it.
    """

    def __init__(self, camera_id: str, source: FrameSource, buffer: FrameBuffer, stop: threading.Event,
                 read_timeout_s: float, stats: LoopStats) -> None:
        super().__init__(f"capture-{camera_id}", stop, deadline_s=source.max_block_s + read_timeout_s)
        self.source = source
        self.buffer = buffer
        self.read_timeout_s = read_timeout_s
        self.stats = stats

    def work(self) -> None:
        while not self.stop_event.is_set() and not self.buffer.closed:
            self.beat()
            try:
                frame = self.source.read(self.read_timeout_s)
            except SourceEnded:
                self.buffer.end()
                return
            if frame is None:
                continue
            self.stats.frames_read += 1
            self.stats.read_rate.tick()
            self.stats.last_frame_at = time.time()
            self.stats.last_frame_time = frame.timestamp
            while not self.buffer.put(frame, self.read_timeout_s):  # not live: wait for room
                if self.stop_event.is_set():
                    return
                self.beat()

    def finish(self) -> None:
        try:
            self.source.close()
        except Exception as e:  # stopping anyway: report, never mask why the thread ended
            log.warning("camera %s: closing the source failed: %s", self.source.camera_id, e)


def frame_age(frame: Frame) -> float:
    """Seconds since ``frame`` was captured (monotonic clock)."""
    return time.monotonic() - frame.captured
