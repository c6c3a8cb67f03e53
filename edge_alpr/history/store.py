"""The event history: one SQLite row (WAL) and two small JPEGs per plate, bounded on disk.

Why this shape: an installer or site owner asks the device itself "what was read at the gate
this morning", so each camera event (and, opt-in, each plate read through the API) is kept
with a crop of the plate and a small thumbnail of the scene.  Rows are in
``<dir>/history.sqlite`` (``synchronous=NORMAL``: a power cut may lose the last rows, never
corrupt the file; the durable path for events is the outbox, not this); images are
``<dir>/images/<YYYY-MM-DD>/<id>-plate.jpg`` and ``-scene.jpg``, each written to a temp file
and renamed, so a reader never sees half a JPEG.

Bounds (``HistoryConfig``), enforced before each event is stored, oldest stored first:
``max_age_days``; ``max_bytes`` over images plus rows; and ``min_free_bytes`` of free space
left on the file system, whatever else fills it.  Only files this module made (named by a row,
or in a day folder older than every row: left by a crash between writing and committing) are
ever deleted, files before rows (on a full disk that frees the room SQLite needs); nothing
else under ``state_dir`` is touched.  A full disk never stops the service: ``publish`` logs
once per outage, makes room from its own oldest events and drops the event; it never raises.
The WAL is checkpointed every ``WAL_CHECKPOINT_PAGES`` pages, so it cannot eat the disk.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..fuzzy import distances, normalize
from ..types import Box
from ..watchlists import Match
from .config import HistoryConfig
from .images import images_of

log = logging.getLogger(__name__)

WAL_LIMIT_BYTES = 1024 * 1024  # the -wal file is trimmed to this after a checkpoint
WAL_CHECKPOINT_PAGES = 64  # each insert writes ~6 pages to the WAL: checkpoint often, keep it small
ROW_OVERHEAD = 256  # bytes counted per row besides its payload (index entries, page slack)
AGE_CHECK_S = 60.0
_BATCH = 64
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OWN_FILE = re.compile(r"^(\.)?[0-9A-Za-z-]{1,64}-(plate|scene)\.jpg(\.tmp)?$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    camera TEXT NOT NULL,
    ts REAL NOT NULL,
    stored REAL NOT NULL,
    plate TEXT NOT NULL,
    plate_norm TEXT NOT NULL,
    score REAL NOT NULL,
    list TEXT,
    size INTEGER NOT NULL,
    plate_image TEXT,
    scene_image TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts, seq);
CREATE INDEX IF NOT EXISTS events_camera_ts ON events (camera, ts);
CREATE INDEX IF NOT EXISTS events_plate ON events (plate_norm);
CREATE INDEX IF NOT EXISTS events_list_ts ON events (list, ts);
CREATE INDEX IF NOT EXISTS events_stored ON events (stored);
"""


@dataclass(frozen=True)
class Sighting:
    """One plate to keep: a camera event or one result of an API read.

    ``payload`` is what was delivered for it (the API result fields, ``match`` included);
    ``scene`` is the RGB frame the plate was read in, or None (then no images are kept).
    """

    id: str
    source: str
    camera_id: str
    timestamp: datetime
    plate: str
    score: float
    box: Box
    payload: dict[str, Any]
    match: Match | None = None
    scene: np.ndarray | None = None


@dataclass(frozen=True)
class EventQuery:
    """Filters of ``GET /v1/events/``, already validated; ``after`` is the cursor (ts, seq)."""

    plate: str = ""
    max_distance: float = 1.0
    camera: str = ""
    since: float | None = None
    until: float | None = None
    list: str = ""
    limit: int = 50
    after: tuple[float, int] | None = None


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


class History:
    """Stores sightings and answers queries; thread-safe; see the module docstring."""

    def __init__(self, cfg: HistoryConfig, root: Path, clock: Callable[[], float] = time.time,
                 free_bytes: Callable[[Path], int] | None = None) -> None:
        self.cfg = cfg
        self.root = root
        self.images = root / "images"
        self.images.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._free = free_bytes or (lambda p: shutil.disk_usage(p).free)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(root / "history.sqlite", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        self._db.executescript(_SCHEMA)
        total = self._db.execute("SELECT IFNULL(SUM(size), 0), COUNT(*) FROM events").fetchone()
        self.bytes, self.count = int(total[0]), int(total[1])
        self.stored = 0  # this process: events kept, dropped (no room, errors), deleted by bounds
        self.skipped = 0
        self.deleted = 0
        self._failing = False
        self._last_age_check = float("-inf")

    # -- writing ------------------------------------------------------------------------------

    def publish(self, s: Sighting) -> bool:
        """Keep one sighting; False when it was not kept (logged once per outage).  Never raises."""
        try:
            images = images_of(s.scene, s.box, self.cfg.thumbnail_width, self.cfg.jpeg_quality) \
                if s.scene is not None else None
            payload = json.dumps(s.payload)
            size = ROW_OVERHEAD + len(payload) + (sum(map(len, images)) if images else 0)
            with self._lock:
                if self._db.execute("SELECT 1 FROM events WHERE id = ?", (s.id,)).fetchone():
                    return True  # the same camera event again (re-read after a restart)
                if not self._make_room(size):
                    return self._dropped(s, "no room: the file system is under "
                                         f"min_free_bytes ({self.cfg.min_free_bytes}) even with "
                                         "no history left")
                self._insert(s, payload, size, images)
        except (OSError, sqlite3.Error) as e:
            with self._lock:
                try:  # a full disk: our own oldest make room, then the WAL is given back
                    self._delete_oldest(_BATCH)
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except (OSError, sqlite3.Error) as again:
                    log.debug("history: making room failed too: %s", again)
            return self._dropped(s, str(e))
        if self._failing:
            log.warning("history: storing events again")
            self._failing = False
        self.stored += 1
        return True

    def _dropped(self, s: Sighting, why: str) -> bool:
        self.skipped += 1
        if not self._failing:
            log.warning("history: event %s of %s not kept (%s); the service goes on, and the "
                        "history deletes its oldest events to make room", s.id, s.camera_id, why)
            self._failing = True
        return False

    def _insert(self, s: Sighting, payload: str, size: int, images: tuple[bytes, bytes] | None) -> None:
        now = self._clock()
        day = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d")
        names: list[str | None] = [None, None]
        written: list[Path] = []
        try:
            if images is not None:
                (self.images / day).mkdir(exist_ok=True)
                for i, (kind, data) in enumerate(zip(("plate", "scene"), images, strict=True)):
                    names[i] = f"{day}/{s.id}-{kind}.jpg"
                    path = self.images / str(names[i])
                    tmp = path.with_name(f".{path.name}.tmp")
                    tmp.write_bytes(data)
                    tmp.replace(path)
                    written.append(path)
            self._db.execute(
                "INSERT INTO events (id, source, camera, ts, stored, plate, plate_norm, score, "
                "list, size, plate_image, scene_image, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (s.id, s.source, s.camera_id, s.timestamp.timestamp(), now, s.plate.upper(),
                 normalize(s.plate), s.score, s.match.list if s.match else None, size,
                 names[0], names[1], payload))
        except (OSError, sqlite3.Error):
            for path in written:
                path.unlink(missing_ok=True)
            for path in self.images.glob(f"{day}/.{s.id}-*.tmp"):
                path.unlink(missing_ok=True)
            raise
        self.bytes += size
        self.count += 1

    def _make_room(self, incoming: int) -> bool:
        """Apply the bounds for ``incoming`` more bytes; False if the disk has no room at all."""
        now = self._clock()
        if now - self._last_age_check >= AGE_CHECK_S:
            self._last_age_check = now
            cutoff = now - self.cfg.max_age_days * 86400.0
            while self._delete_where("stored < ?", (cutoff,), _BATCH * 8):
                pass
        while self.bytes + incoming > self.cfg.max_bytes and \
                self._delete_oldest(self._enough_for(self.bytes + incoming - self.cfg.max_bytes)):
            pass
        while (short := self.cfg.min_free_bytes + incoming - self._free(self.root)) > 0:
            if not self._delete_oldest(self._enough_for(short)):
                return False
        return True

    def _enough_for(self, missing: int) -> int:
        """How many of the oldest events likely free ``missing`` bytes (1.._BATCH)."""
        average = self.bytes / self.count if self.count else float(missing)
        return max(1, min(_BATCH, int(missing / max(average, 1.0)) + 1))

    def _delete_oldest(self, count: int) -> int:
        return self._delete_where("1", (), count)

    def _delete_where(self, condition: str, args: tuple[Any, ...], count: int) -> int:
        rows = self._db.execute(f"SELECT seq, size, plate_image, scene_image FROM events "
                                f"WHERE {condition} ORDER BY seq LIMIT ?", (*args, count)).fetchall()
        if not rows:
            return 0
        for _, _, *names in rows:  # files first: on a full disk that is what lets SQLite write
            for name in names:
                if name:
                    (self.images / name).unlink(missing_ok=True)
        self._db.execute("DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))",
                         (json.dumps([r[0] for r in rows]),))
        self.bytes -= sum(r[1] for r in rows)
        self.count -= len(rows)
        self.deleted += len(rows)
        self._sweep_days()
        return len(rows)

    def _sweep_days(self) -> None:
        """Remove day folders older than every row (crash leftovers), our own files only."""
        first = self._db.execute("SELECT MIN(stored) FROM events").fetchone()[0]
        keep = datetime.fromtimestamp(first if first is not None else self._clock(),
                                      timezone.utc).strftime("%Y-%m-%d")
        for folder in self.images.iterdir():
            if not (folder.is_dir() and _DAY.match(folder.name) and folder.name < keep):
                continue
            for path in folder.iterdir():
                if _OWN_FILE.match(path.name):
                    path.unlink(missing_ok=True)
            try:
                folder.rmdir()
            except OSError:  # something not ours is in it: leave it
                pass

    # -- reading ------------------------------------------------------------------------------

    def query(self, q: EventQuery) -> tuple[list[dict[str, Any]], tuple[float, int] | None]:
        """Events newest first and the cursor of the next page (None on the last)."""
        where: list[str] = ["1"]
        args: list[Any] = []
        if q.camera:
            where.append("camera = ?")
            args.append(q.camera)
        if q.since is not None:
            where.append("ts >= ?")
            args.append(q.since)
        if q.until is not None:
            where.append("ts < ?")
            args.append(q.until)
        if q.list:
            where.append("list = ?")
            args.append(q.list)
        if q.after is not None:
            where.append("(ts < ? OR (ts = ? AND seq < ?))")
            args.extend((q.after[0], q.after[0], q.after[1]))
        with self._lock:
            near: dict[str, float] = {}
            if q.plate:
                plates = [r[0] for r in self._db.execute("SELECT DISTINCT plate_norm FROM events")]
                found = distances(q.plate, plates)
                near = {plates[i]: float(found[i])
                        for i in np.flatnonzero(found <= q.max_distance + 1e-6)}
                where.append("plate_norm IN (SELECT value FROM json_each(?))")
                args.append(json.dumps(list(near)))
            rows = self._db.execute(
                f"SELECT seq, id, source, camera, ts, plate_norm, score, plate_image, scene_image, "
                f"payload FROM events WHERE {' AND '.join(where)} ORDER BY ts DESC, seq DESC "
                "LIMIT ?", (*args, q.limit + 1)).fetchall()
        more = len(rows) > q.limit
        rows = rows[:q.limit]
        events = [self._event(r, near.get(r[5]) if q.plate else None) for r in rows]
        return events, ((rows[-1][4], rows[-1][0]) if more else None)

    def get(self, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT seq, id, source, camera, ts, plate_norm, score, plate_image, scene_image, "
                "payload FROM events WHERE id = ?", (event_id,)).fetchone()
        return self._event(row, None) if row else None

    def image(self, event_id: str, kind: str) -> Path | None:
        """The file of an event's ``plate`` or ``scene`` image, or None."""
        column = {"plate": "plate_image", "scene": "scene_image"}[kind]
        with self._lock:
            row = self._db.execute(f"SELECT {column} FROM events WHERE id = ?", (event_id,)).fetchone()
        if not row or not row[0]:
            return None
        path = self.images / row[0]
        return path if path.is_file() else None

    def _event(self, row: tuple[Any, ...], distance: float | None) -> dict[str, Any]:
        seq, event_id, source, camera, ts, _, score, plate_image, scene_image, payload = row
        result = json.loads(payload)
        base = f"/v1/events/{event_id}"
        event = {"id": event_id, "source": source, "camera_id": camera, "timestamp": iso(ts),
                 "plate": result.get("plate", ""), "score": score, "match": result.get("match"),
                 "images": {"plate": f"{base}/plate.jpg" if plate_image else None,
                            "scene": f"{base}/scene.jpg" if scene_image else None},
                 "result": result}
        if distance is not None:
            event["distance"] = round(distance, 2)
        return event

    def stats(self) -> dict[str, int]:
        with self._lock:
            count = int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        return {"events": count, "bytes": self.bytes, "stored": self.stored,
                "skipped": self.skipped, "deleted": self.deleted}

    def close(self) -> None:
        with self._lock:
            self._db.close()


def from_event(event: Any, payload: dict[str, Any], match: Match | None) -> Sighting:
    """The sighting of a camera event (a ``stream.tracker.PlateEvent``) as delivered."""
    read = event.result.read
    return Sighting(event.id, "camera", event.camera_id, event.timestamp, read.plate, read.score,
                    event.result.box, payload, match, event.scene)


def open_history(cfg: HistoryConfig, state_dir: Path) -> History | None:
    """The history under ``cfg.dir`` (default ``<state_dir>/history``), or None when off."""
    if not (cfg.enabled or cfg.api_reads):
        return None
    root = Path(cfg.dir) if cfg.dir else state_dir / "history"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return History(cfg, root)
    except (OSError, sqlite3.Error) as e:
        raise ConfigError(f"history.dir: cannot open the event history in {root} ({e}); "
                          "fix the permissions or set history.dir") from e
