"""Turn per-frame plate reads into one event per vehicle passage.

Plate Recognizer Stream semantics:

* A plate is followed across frames (same text up to ``match_distance`` edits, or an
  overlapping box, so OCR noise on one frame does not split a vehicle in two).
* ``max_prediction_delay`` seconds after a plate was first seen, one event is emitted carrying
  the best read (highest OCR score) seen meanwhile.
* A plate whose best read scores under ``min_score`` (the chance that its text is exactly right)
  gives no event: on dash-cam frames most such events were distant plates read from a few pixels
  (``scripts/bench/bench_events.py``).
* After an event, the same plate on the same camera is suppressed until it has not been seen
  for ``memory_decay`` seconds (a parked car gives one event, not one every few seconds).  A
  suppressed plate that comes back after a gap longer than ``max_prediction_delay`` (the same
  image dropped into a folder again, a car driving round) is listed once in ``returns`` so that
  the loop can say why it gave no event.

Time is the *source* clock (between frames the loop extrapolates with the monotonic clock):
a file's own timestamps, so a video file processed faster than real time still groups frames
correctly; for a live camera the monotonic clock at capture (``update``'s ``t``), never its
wall-clock stamp, which steps with NTP or a clock reset: stepped back an hour, every read of a
new vehicle was due at once and forgotten at once (one event per frame, 33 in 8 s); stepped
forward, the car in view was forgotten and reported again.  Events keep the frames' wall-clock
times, and a camera's (``wall_clock``) carry the clock's offset when they were read
(``PlateEvent.clock``), so that a step seen later can still move them (``event_times.py``); a
step while a vehicle is followed moves the times already read to the clock of after it.
Event ids are derived from the camera, the first frame's timestamp and box, so re-reading the
same input after a crash yields the same ids and consumers can drop the duplicates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from ..clocks import STEP_S
from ..types import Box, Frame, PlateResult
from .config import EventConfig

EVENT_NAMESPACE = uuid.UUID("5f0f3b1c-64a4-4c55-9a54-7e1d1d0c2a11")
MATCH_IOU = 0.3  # boxes overlapping this much in consecutive reads are the same plate...
NOISY_FRACTION = 0.5  # ...if at most this fraction of their characters differ (OCR noise)


@dataclass(frozen=True)
class PlateEvent:
    """One vehicle passage: the best read plus where and when."""

    id: str
    camera_id: str
    timestamp: datetime
    result: PlateResult
    first_seen: datetime
    last_seen: datetime
    frames: int
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)
    scene: np.ndarray | None = field(default=None, repr=False, compare=False)  # the best read's frame
    processing_ms: float = 0.0  # recognition time of the best read's frame, as an API read's
    # (wall - monotonic) when its times were read (``clocks.WallOffset``); None: not this device's clock
    clock: float | None = None

    def to_payload(self) -> dict[str, object]:
        """API result fields plus camera_id, timestamp (ISO 8601 UTC) and the event id."""
        payload = self.result.to_dict()
        payload.update({
            "id": self.id,
            "camera_id": self.camera_id,
            "timestamp": _iso(self.timestamp),
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "frames": self.frames,
        })
        return payload


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (plates are short, so the quadratic loop is cheap)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@dataclass
class _Track:
    first_seen: datetime
    first_t: float
    first_box: Box
    last_t: float
    last_seen: datetime
    last_box: Box
    best: PlateResult
    best_ts: datetime
    frames: int = 1
    crop: np.ndarray | None = None
    last_seq: int = 0
    scene: np.ndarray | None = None
    best_ms: float = 0.0
    clock: float | None = None  # the wall clock's offset its times are on (a camera's), or None


@dataclass
class _Memory:
    plate: str
    box: Box
    last_t: float
    returned: bool = False  # its return after a gap was reported (once per event)


class Tracker:
    """Per-camera plate tracker; not thread-safe (one per camera thread)."""

    def __init__(self, camera_id: str, cfg: EventConfig, id_salt: str = "", keep_crops: bool = False,
                 keep_scene: bool = False, wall_clock: bool = False):
        """``wall_clock``: the frames are stamped with this device's wall clock as captured (a
        camera's: ``FrameSource.wall_clock``), so their events carry its offset."""
        self.camera_id = camera_id
        self.wall_clock = wall_clock
        self.cfg = cfg
        self.id_salt = id_salt
        self.keep_crops = keep_crops
        self.keep_scene = keep_scene  # hold (not copy) the best read's frame for the history
        self._tracks: list[_Track] = []
        self._memory: list[_Memory] = []
        self.now = float("-inf")
        self.suppressed = 0
        self.unsure = 0  # plates followed whose best read scored under cfg.min_score: no event
        # (plate, seconds unseen) of suppressed plates that came back: see take_returns
        self.returns: list[tuple[str, float]] = []
        self._seq = 0

    @property
    def active(self) -> int:
        """Plates being followed and not yet reported."""
        return len(self._tracks)

    def _same(self, plate: str, other: str) -> bool:
        return edit_distance(plate.upper(), other.upper()) <= self.cfg.match_distance

    def _noisy(self, plate: str, other: str) -> bool:
        """Different text but plausibly the same plate misread (used with box overlap)."""
        limit = NOISY_FRACTION * max(len(plate), len(other))
        return edit_distance(plate.upper(), other.upper()) <= limit

    def update(self, frame: Frame, results: list[PlateResult], processing_ms: float = 0.0,
               t: float | None = None) -> list[PlateEvent]:
        """Feed one analysed frame (recognised in ``processing_ms``) taken at source time ``t``
        (default: its timestamp); returns the events that became due."""
        t = frame.timestamp.timestamp() if t is None else t
        due = self.tick(t)  # a plate whose delay has passed is reported before new matching
        self._seq += 1
        taken: set[int] = set()
        for res in sorted(results, key=lambda r: -r.read.score):
            plate = res.read.plate
            if not plate:
                continue
            idx = self._match(res, t, taken)
            if idx is not None:
                taken.add(idx)
                self._extend(self._tracks[idx], res, frame, t, processing_ms)
            elif not self._remembered(res, t):
                self._tracks.append(self._new(res, frame, t, processing_ms))
                taken.add(len(self._tracks) - 1)
        return due + self.tick(self.now)

    def _match(self, res: PlateResult, t: float, taken: set[int]) -> int | None:
        best, best_iou = None, 0.0
        for i, tr in enumerate(self._tracks):
            if i in taken:
                continue
            if self._same(res.read.plate, tr.best.read.plate):
                return i
            if tr.last_seq != self._seq - 1 or not self._noisy(res.read.plate, tr.best.read.plate):
                continue  # box overlap only links consecutive frames with similar text
            iou = res.box.iou(tr.last_box)
            if iou >= MATCH_IOU and iou > best_iou:
                best, best_iou = i, iou
        return best

    def _remembered(self, res: PlateResult, t: float) -> bool:
        for m in self._memory:
            recent_box = (res.box.iou(m.box) >= MATCH_IOU and self._noisy(res.read.plate, m.plate)
                          and t - m.last_t <= self.cfg.max_prediction_delay)
            if self._same(res.read.plate, m.plate) or recent_box:
                gap = t - m.last_t
                if gap > self.cfg.max_prediction_delay and not m.returned:
                    m.returned = True
                    self.returns.append((m.plate, gap))
                m.last_t = max(m.last_t, t)
                m.box = res.box
                self.suppressed += 1
                return True
        return False

    def take_returns(self) -> list[tuple[str, float]]:
        """Suppressed plates seen again after a gap since the last call, as (plate, seconds
        unseen): at most one per event, so a parked car that is hidden now and then says it once."""
        out, self.returns = self.returns, []
        return out

    def _crop(self, res: PlateResult, frame: Frame) -> np.ndarray | None:
        if not self.keep_crops:
            return None
        b = res.vehicle.box if res.vehicle.box.width > 0 and res.vehicle.box.height > 0 else res.box
        return np.ascontiguousarray(frame.image[max(b.ymin, 0):b.ymax, max(b.xmin, 0):b.xmax])

    def _new(self, res: PlateResult, frame: Frame, t: float, processing_ms: float) -> _Track:
        return _Track(frame.timestamp, t, res.box, t, frame.timestamp, res.box, res, frame.timestamp,
                      crop=self._crop(res, frame), last_seq=self._seq,
                      scene=frame.image if self.keep_scene else None, best_ms=processing_ms,
                      clock=self._clock(frame))

    def _clock(self, frame: Frame) -> float | None:
        """The wall clock's offset when ``frame`` was stamped, for a camera's frames."""
        return frame.timestamp.timestamp() - frame.captured if self.wall_clock else None

    def _extend(self, tr: _Track, res: PlateResult, frame: Frame, t: float, processing_ms: float) -> None:
        tr.frames += 1
        clock = self._clock(frame)
        if tr.clock is not None and clock is not None and abs(clock - tr.clock) > STEP_S:
            step = timedelta(seconds=clock - tr.clock)  # stepped while followed: its times too
            tr.first_seen, tr.last_seen, tr.best_ts, tr.clock = (tr.first_seen + step, tr.last_seen + step,
                                                                 tr.best_ts + step, clock)
        tr.last_t = max(tr.last_t, t)
        tr.last_seen = max(tr.last_seen, frame.timestamp)
        tr.last_box = res.box
        tr.last_seq = self._seq
        if res.read.score > tr.best.read.score:
            tr.best, tr.best_ts, tr.best_ms = res, frame.timestamp, processing_ms
            tr.crop = self._crop(res, frame)
            tr.scene = frame.image if self.keep_scene else None

    def tick(self, now: float) -> list[PlateEvent]:
        """Advance the source clock to ``now``; returns events whose delay has passed."""
        self.now = max(self.now, now)
        due = [tr for tr in self._tracks if self.now - tr.first_t >= self.cfg.max_prediction_delay]
        self._memory = [m for m in self._memory if self.now - m.last_t <= self.cfg.memory_decay]
        return self._emit(due)

    def flush(self) -> list[PlateEvent]:
        """Emit every followed plate now (end of a finite source, shutdown)."""
        return self._emit(list(self._tracks))

    def _emit(self, due: list[_Track]) -> list[PlateEvent]:
        events = []
        for tr in due:
            self._tracks.remove(tr)
            if tr.best.read.score < self.cfg.min_score:
                self.unsure += 1  # not remembered either: a good read of it later is reported
                continue
            if self.cfg.memory_decay > 0:
                self._memory.append(_Memory(tr.best.read.plate, tr.last_box, tr.last_t))
            key = f"{self.id_salt}|{self.camera_id}|{tr.first_seen.isoformat()}|{tr.first_box}"
            events.append(PlateEvent(
                id=str(uuid.uuid5(EVENT_NAMESPACE, key)), camera_id=self.camera_id,
                timestamp=tr.best_ts, result=tr.best, first_seen=tr.first_seen,
                last_seen=tr.last_seen, frames=tr.frames, crop=tr.crop, scene=tr.scene,
                processing_ms=tr.best_ms, clock=tr.clock))
        return events
