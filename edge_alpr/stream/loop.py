"""Per camera: a capture thread and a recognition thread (cap/sample, still scenes, zone, track).

The capture thread (``capture.py``) drains the source as fast as it delivers; this thread
takes the newest frame whenever it is free, so a live camera's lag stays within one
recognition plus one frame interval however slow recognition is.  The loop knows nothing of
MQTT or HTTP: every finished ``PlateEvent`` goes to ``on_event`` (``service.py`` commits it to
the durable outbox there).  It waits only with timeouts and checks the stop event between
frames, so SIGTERM stops it within one recognition even while the camera is stuck in a read.
On stop or at the end of a finite source, plates still being followed are flushed as events,
so nothing already seen is lost by a clean shutdown; when a recognition outlives the shutdown
budget, the service flushes them from its own thread (``flush``) before the outbox closes, and
the frame still being recognised is dropped.  Both threads are supervised workers: an
unexpected exception restarts them with backoff (``supervision.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..errors import EdgeAlprError
from ..supervision import DEFAULT_DEADLINE_S, Worker
from ..types import Frame, PlateResult
from .capture import CaptureThread, FrameBuffer, LoopStats, frame_age
from .config import CameraConfig, EventConfig
from .motion import MotionGate
from .sources import FrameSource, SourceEnded
from .tracker import PlateEvent, Tracker
from .view import ViewCheck

log = logging.getLogger(__name__)

Recognize = Callable[[np.ndarray], list[PlateResult]]
READ_TIMEOUT_S = 0.25  # how long one wait for a frame may take before the loop checks stop and the clock

__all__ = ["CameraLoop", "LoopStats", "ZoneMask"]


class ZoneMask:
    """Blacks out everything outside the configured polygon (fractions of width/height).

    ``apply`` multiplies the frame by a 0/1 array of its own shape, made once per frame size
    (2.7 MB held at 1280x720): a plain product of two like arrays costs 0.3 ms a 1280x720 frame
    and 0.8 ms a 1920x1080 one, where selecting through the boolean mask broadcast over the
    colours (``np.where``) cost 8 and 24 ms (``scripts/bench/bench_loop.py --stages --zone``).
    """

    def __init__(self, polygon: tuple[tuple[float, float], ...]) -> None:
        self.polygon = polygon
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._keep: dict[tuple[int, ...], np.ndarray] = {}  # frame shape -> 0/1 of that shape

    def mask(self, h: int, w: int) -> np.ndarray:
        key = (h, w)
        if key not in self._cache:
            img = Image.new("L", (w, h), 0)
            ImageDraw.Draw(img).polygon([(x * (w - 1), y * (h - 1)) for x, y in self.polygon], fill=1)
            self._cache[key] = np.asarray(img, dtype=bool)
        return self._cache[key]

    def apply(self, image: np.ndarray) -> np.ndarray:
        if not self.polygon:
            return image
        keep = self._keep.get(image.shape)
        if keep is None:
            m = self.mask(image.shape[0], image.shape[1]).astype(np.uint8)
            keep = self._keep[image.shape] = np.ascontiguousarray(np.broadcast_to(
                m.reshape(m.shape + (1,) * (image.ndim - 2)), image.shape))
        return np.multiply(image, keep)


class CameraLoop(Worker):
    """The per-camera recognition thread, owning its capture thread; see the module docstring.

    ``recognition_deadline_s``: the longest one frame's recognition may take before the camera
    counts as hung (the watchdog then stops, see ``supervision.py``).
    """

    def __init__(self, camera: CameraConfig, events: EventConfig, source: FrameSource,
                 recognize: Recognize, on_event: Callable[[PlateEvent], None],
                 stop: threading.Event, id_salt: str = "", crops_dir: Path | None = None,
                 recognition_deadline_s: float = DEFAULT_DEADLINE_S, keep_scene: bool = False) -> None:
        super().__init__(f"camera-{camera.id}", stop, deadline_s=READ_TIMEOUT_S + recognition_deadline_s)
        self.camera = camera
        self.recognize = recognize
        self.on_event = on_event
        self.crops_dir = crops_dir if events.save_crops else None
        self.max_crops = events.crops_max_files
        self.tracker = Tracker(camera.id, events, id_salt, keep_crops=self.crops_dir is not None,
                               keep_scene=keep_scene, wall_clock=source.wall_clock)
        self.zone = ZoneMask(camera.zone)
        self.motion = MotionGate(camera.motion, self.zone.mask if camera.zone else None)
        self.view_check = ViewCheck(camera.id, camera.view_alert_s, camera.view_dark, camera.view_bright)
        self.min_interval = 1.0 / camera.max_fps if camera.max_fps > 0 else 0.0
        self.stats = LoopStats()
        self.buffer = FrameBuffer(source.live, self.stats)
        self.capture = CaptureThread(camera.id, source, self.buffer, stop, READ_TIMEOUT_S, self.stats)
        # the newest recognised frame and its results, for the console's live view: one frame
        # held per camera, replaced (never copied) by the next one
        self.latest: tuple[Frame, list[PlateResult]] | None = None
        self._taken = 0  # frames taken from the buffer (``sample`` counts these)
        # the tracker and its deliveries: this thread's, or the shutdown's once it flushed them
        self._track_lock = threading.Lock()
        self.flushed = False
        self._last_processed = float("-inf")
        self._clock_t = float("-inf")  # source time of the last frame
        self._clock_mono = 0.0
        self._file_shift = 0.0  # added to a file's times once they stepped back (source_time)
        self._last_index = -1  # the newest frame whose results reached the tracker
        self._released = -1  # the newest frame the source was told is done with (_finished)

    @property
    def source(self) -> FrameSource:
        return self.capture.source

    def source_time(self, frame: Frame) -> float:
        """The tracker's and motion gate's time of ``frame``: a file's own timestamp (read faster
        than real time, or again after a restart, it groups the same); a live camera's
        monotonic capture time, since its wall-clock stamp steps with NTP or a clock reset (see
        ``tracker.py``).  A file's time that steps back (a folder camera's uploads stamped by a
        clock that was reset, files copied in from two places) counts as no time passed: every
        later time moves on from there, so the vehicles after the step are grouped as before
        (each file was one event of its own)."""
        if self.source.live:
            return frame.captured
        t = frame.timestamp.timestamp() + self._file_shift
        if t < self._clock_t:
            self._file_shift += self._clock_t - t
            t = self._clock_t
        return t

    def _source_now(self) -> float:
        """Source clock extrapolated with the wall clock since the last frame."""
        return self._clock_t + (time.monotonic() - self._clock_mono)

    def run(self) -> None:
        if self.capture.ident is None:
            self.capture.start()
        super().run()

    def work(self) -> None:
        while not self.stop_event.is_set():
            self.beat()
            try:
                frame = self.buffer.take(READ_TIMEOUT_S)
            except SourceEnded:
                self.stats.ended = True
                read = self.stats.frames_read
                log.info("camera %s: source ended after %d frame%s", self.camera.id, read, "" if read == 1 else "s")
                return
            if frame is None:
                if self._clock_t > float("-inf"):
                    self._tick(self._source_now())
                continue
            self.process(frame)

    def finish(self) -> None:
        """Flush the plates being followed (the capture thread may still be stuck in a read)."""
        self.buffer.close()
        self.flush()

    def flush(self, timeout: float = -1) -> bool:
        """Report every plate being followed, once (later frames are dropped); False when the
        tracker stayed busy for ``timeout`` s (-1: wait as long as it takes).

        Why callable from another thread: on shutdown a recognition can outlive the budget
        (a slow or hung model); the service then flushes here before it closes the outbox,
        which the camera's own ``finish`` would find closed.
        """
        if not self._track_lock.acquire(timeout=timeout):
            return False
        try:
            if self.flushed:
                return True
            self.flushed = True
            events = self.tracker.flush()
            try:
                self._deliver(events)
                self._finished(None)
            except Exception as e:  # the last chance to report it: nothing retries a flush
                log.error("camera %s: %d followed plate(s) could not be queued on stop: %s",
                          self.camera.id, len(events), e, exc_info=True)
            return True
        finally:
            self._track_lock.release()

    def process(self, frame: Frame) -> None:
        """Cap, sample, check the view, gate on motion, mask, recognise and track one frame."""
        self._taken += 1
        self._clock_t, self._clock_mono = self.source_time(frame), time.monotonic()
        now = time.monotonic()
        if now - self._last_processed < self.min_interval or (self._taken - 1) % self.camera.sample:
            self._tick(self._clock_t, frame.index)
            return
        self._last_processed = now
        raw = frame.bgr  # looked at as the camera's BGR: a frame the gate sets aside is never converted
        look = frame.image if raw is None else raw
        self.view_check.see(look, self._clock_t, raw is not None)
        if not self.motion.wants(look, self._clock_t, following=self.tracker.active > 0, bgr=raw is not None):
            self.stats.frames_still += 1
            self._tick(self._clock_t, frame.index)
            return
        started = time.perf_counter()
        try:
            results = self.recognize(self.zone.apply(frame.image))
        except EdgeAlprError as e:
            self.stats.errors += 1
            log.warning("camera %s: frame %d not recognised: %s", self.camera.id, frame.index, e)
            results = []
        busy = time.perf_counter() - started
        self.stats.busy_s += busy
        self.stats.frames_processed += 1
        self.stats.processed_rate.tick()
        self.stats.lag_s = frame_age(frame)
        self.latest = (frame, results)
        with self._track_lock:
            if not self.flushed:
                self._deliver(self.tracker.update(frame, results, busy * 1000.0, self._clock_t))
                for plate, gap in self.tracker.take_returns():
                    log.info("camera %s: plate %s back after %.0f s unseen: no new event until it is unseen "
                             "for stream.events.memory_decay (%g s; 0 reports every passage)",
                             self.camera.id, plate.lower(), gap, self.tracker.cfg.memory_decay)
                self._finished(frame.index)

    def _tick(self, now: float, index: int | None = None) -> None:
        with self._track_lock:
            if not self.flushed:
                self._deliver(self.tracker.tick(now))
                self._finished(index)

    def _finished(self, index: int | None) -> None:
        """With no plate being followed, every frame up to the newest one is finished with (its
        events committed by ``on_event``): the source may record that (a folder camera's files
        are then not read again after a restart).  Under ``_track_lock``."""
        if index is not None:
            self._last_index = index
        if self.tracker.active == 0 and self._last_index > self._released:
            self._released = self._last_index
            self.source.done(self._last_index)

    def _deliver(self, events: list[PlateEvent]) -> None:
        for event in events:
            if self.crops_dir is not None and event.crop is not None:
                self._save_crop(event)
            self.on_event(event)
            self.stats.events += 1

    def _save_crop(self, event: PlateEvent) -> None:
        """JPEG of the vehicle (or plate) under crops/<camera>/, keeping the newest N files."""
        assert self.crops_dir is not None and event.crop is not None
        folder = self.crops_dir / self.camera.id
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stamp = event.timestamp.strftime("%Y%m%dT%H%M%S")
            name = f"{stamp}_{event.result.read.plate.lower()}_{event.id[:8]}.jpg"
            tmp = folder / f".{name}.tmp"
            Image.fromarray(event.crop).save(tmp, format="JPEG", quality=90)
            tmp.replace(folder / name)
            files = sorted(folder.glob("*.jpg"), key=lambda p: p.stat().st_mtime)
            for old in files[: max(0, len(files) - self.max_crops)]:
                old.unlink(missing_ok=True)
        except OSError as e:
            log.warning("camera %s: cannot save crop in %s: %s", self.camera.id, folder, e)
