"""The event history: one SQLite row (WAL) and two small JPEGs per plate, bounded on disk.

Why this shape: an installer or site owner asks the device itself "what was read at the gate
this morning", so each camera event (and, opt-in, each plate read through the API) is kept
with a crop of the plate and a small thumbnail of the scene.  Rows are in
``<dir>/history.sqlite`` (``synchronous=NORMAL``: a power cut may lose the last rows, never
corrupt the file; the durable path for events is the outbox, not this); images are
``<dir>/images/<YYYY-MM-DD>/<id>-plate.jpg`` and ``-scene.jpg``, each written to a temp file
and renamed, so a reader never sees half a JPEG.

Bounds (``HistoryConfig``: ``max_age_days``, ``max_bytes`` over images plus rows, and
``min_free_bytes`` left on the file system) are enforced before each event is stored, oldest
stored first, deleting only files this history made (``retention.py``).  A full disk never
stops the service: ``publish`` logs once per outage, makes room from its own oldest events and
drops the event; it never raises.  Any other failure (a folder the service may not write, a
read-only file system, I/O errors, out of file descriptors) makes no room beyond the bounds:
the row is kept without its images where it can be written (``faults.py``), within the bounds.
A database another process holds locked (``database is locked``) loses nothing either: the
sightings wait in memory and go in once the lock goes (``waiting.py``), and the log names the
holder (``lock_holder.py``).  The file's layout and pragmas are ``schema.py``; searches and the
event JSON of ``GET /v1/events/`` are ``queries.py``; this module writes, and answers through
those.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..clocks import WallOffset
from ..db_lock import BUSY_RETRY_MS, BUSY_TIMEOUT_MS, WRITE_WAIT_MS, busy_timeout
from ..fuzzy import normalize
from ..lock_holder import locked_text
from .clock_steps import TimeFollower
from .config import HistoryConfig
from .faults import MAKING_ROOM, Fault, write_fault
from .images import Jpegs, images_of, write_images
from .queries import EventQuery, event_of, iso, page, select_one, select_page
from .retention import AGE_CHECK_S, BATCH, Retention
from .schema import DATABASE, WAL_CHECKPOINT_PAGES, WAL_LIMIT_BYTES, connect
from .sighting import Sighting, from_event
from .waiting import WAITING_MAX, Waiting, WaitingRoom

# what callers import from here, whichever of the history's modules defines it
__all__ = ["AGE_CHECK_S", "ROW_OVERHEAD", "WAL_CHECKPOINT_PAGES", "WAL_LIMIT_BYTES", "EventQuery", "History",
           "Sighting", "from_event", "iso"]

log = logging.getLogger(__name__)

ROW_OVERHEAD = 256  # bytes counted per row besides its payload (index entries, page slack)


class History:
    """Stores sightings and answers queries; thread-safe; see the module docstring."""

    def __init__(self, cfg: HistoryConfig, root: Path, clock: Callable[[], float] = time.time,
                 free_bytes: Callable[[Path], int] | None = None,
                 monotonic: Callable[[], float] = time.monotonic, boot: str | None = None) -> None:
        """``clock``: the wall clock (event times, day folders, ages); ``monotonic``: one that
        never steps, against which steps of ``clock`` are seen (``retention.py``,
        ``clock_steps.py``); ``boot``: the boot they count in (default: this one's)."""
        self.cfg = cfg
        self.root = root
        self.images = root / "images"
        self.images.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()  # the database's
        self._order = threading.Lock()  # the writers': the waiting sightings go in first, in order
        self._db = connect(root / DATABASE, BUSY_TIMEOUT_MS / 1000)  # a start waits as long for a lock
        self._times = TimeFollower(self._db, WallOffset(clock, monotonic, boot))  # a start's wait, too
        busy_timeout(self._db, WRITE_WAIT_MS)  # a camera's write does not: past it the event waits
        self._bounds = Retention(self._db, cfg, root, self.images, clock,
                                 free_bytes or (lambda p: shutil.disk_usage(p).free), monotonic)
        self.stored = 0  # this process: events kept and dropped (no room, errors)
        self.skipped = 0
        self._failing: str | None = None  # the kind of write failure of the episode (faults.py)
        self._waiting = WaitingRoom(root / DATABASE)  # while another process holds the database locked

    @property
    def bytes(self) -> int:
        """What the stored events weigh (rows and images), as the bounds count it."""
        return self._bounds.bytes

    @property
    def count(self) -> int:
        """How many events are stored."""
        return self._bounds.count

    @property
    def deleted(self) -> int:
        """Events the bounds deleted in this process."""
        return self._bounds.deleted

    # -- writing ------------------------------------------------------------------------------

    def publish(self, s: Sighting) -> bool:
        """Keep one sighting; False when it was not kept (logged once per outage).  Never raises.

        While another process holds the database locked, the sighting waits in memory (True):
        the waiting ones are stored, oldest first, before the next sighting, by the next query,
        or at ``close`` (``WAITING_MAX`` at most, the oldest dropped past it)."""
        payload = json.dumps(s.payload)
        try:
            images = images_of(s.scene, s.box, self.cfg.thumbnail_width, self.cfg.jpeg_quality) \
                if s.scene is not None else None
        except OSError as e:  # an encoder's failure: the row alone, as for a folder that takes no image
            return self._without_images(s, payload, write_fault(e, self.root))
        size = ROW_OVERHEAD + len(payload) + (sum(map(len, images)) if images else 0)
        frame = (int(s.scene.shape[1]), int(s.scene.shape[0])) if s.scene is not None else s.frame
        entry = Waiting(replace(s, scene=None, frame=frame), payload, images, size)  # the frame let go
        with self._order:
            if self._retry():
                kept = self._keep(entry)
                if kept is not None:
                    return kept
            if not self._waiting.add(entry):
                self.skipped += 1  # the oldest waiting one made way
            return True

    def _keep(self, entry: Waiting) -> bool | None:
        """Store ``entry``: True when kept, False when not (said once per outage), None while
        another process holds the database locked (said once; the caller keeps it waiting)."""
        s, payload = entry.sighting, entry.payload
        try:
            with self._lock:
                if self._db.execute("SELECT 1 FROM events WHERE id = ?", (s.id,)).fetchone():
                    return True  # the same camera event again (re-read after a restart)
                if not self._bounds.make_room(entry.size):
                    return self._dropped(s, self._no_room())
                self._insert(s, payload, entry.size, entry.images)
        except (OSError, sqlite3.Error) as e:
            fault = write_fault(e, self.root)
            if fault.locked:
                self._locked(s, fault)
                return None
            if not fault.full:  # deleting frees nothing else: keep what is stored, and this row
                return self._without_images(s, payload, fault)
            with self._lock:
                try:  # a full disk: our own oldest make room, then the WAL is given back
                    self._bounds.delete_oldest(BATCH)
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except (OSError, sqlite3.Error) as again:
                    log.debug("history: making room failed too: %s", again)
            return self._dropped(s, fault)
        if self._failing:
            log.warning("history: storing events again")
            self._failing = None
        self.stored += 1
        return True

    def _no_room(self) -> Fault:
        return Fault("full", f"no room: the file system is under min_free_bytes "
                     f"({self.cfg.min_free_bytes}) even with no history left", MAKING_ROOM)

    def _locked(self, s: Sighting, fault: Fault) -> None:
        """Another process holds the database: said once per episode; the next tries wait for
        the lock ``BUSY_RETRY_MS`` only (the first waited ``WRITE_WAIT_MS``, not a start's 5 s)."""
        if self._failing != fault.kind:
            log.warning("history: event %s of %s waits to be stored (%s); %s; the events wait in memory "
                        "meanwhile (at most %d) and are stored once it lets go", s.id, s.camera_id,
                        fault.what, fault.fix, WAITING_MAX)
            self._failing = fault.kind
        self._busy_timeout(BUSY_RETRY_MS)

    def _retry(self) -> bool:
        """Store the waiting events, oldest first; True when none waits any more (the caller
        holds ``_order``)."""
        if not self._waiting:
            return True
        if not self._waiting.offer(self._keep):
            return False
        self._busy_timeout(WRITE_WAIT_MS)  # a lock met again is waited for as at first
        return True

    def _busy_timeout(self, ms: int) -> None:
        with self._lock:
            busy_timeout(self._db, ms)

    def _dropped(self, s: Sighting, fault: Fault) -> bool:
        self.skipped += 1
        if self._failing != fault.kind:
            then = "the service goes on" if fault.full else "the service goes on, and the events stored stay"
            log.warning("history: event %s of %s not kept (%s); %s; %s",
                        s.id, s.camera_id, fault.what, fault.fix, then)
            self._failing = fault.kind
        return False

    def _without_images(self, s: Sighting, payload: str, fault: Fault) -> bool:
        """A failure a full disk did not cause: the event's row alone (SQLite's files are open
        already, so it often fits where a new image file does not), within the bounds: an outage
        of the images folder that lasts weeks must not let the rows grow past them."""
        size = ROW_OVERHEAD + len(payload)
        try:
            with self._lock:
                if not self._db.execute("SELECT 1 FROM events WHERE id = ?", (s.id,)).fetchone():
                    if not self._bounds.make_room(size):  # the same bounds as an event with images
                        return self._dropped(s, self._no_room())
                    self._insert(s, payload, size, None)
        except (OSError, sqlite3.Error):
            return self._dropped(s, fault)
        if self._failing != fault.kind:
            log.warning("history: the images of event %s of %s not kept (%s); %s; events are kept "
                        "without their images meanwhile, and those stored before stay",
                        s.id, s.camera_id, fault.what, fault.fix)
            self._failing = fault.kind
        self.stored += 1
        return True

    def _insert(self, s: Sighting, payload: str, size: int, images: Jpegs | None) -> None:
        self._times.follow()  # a step since the last one: the rows before it first
        ts, payload, clock = self._times.row(s, payload)
        now = self._clock()
        day = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d")
        names: list[str | None] = [None, None]
        written: list[Path] = []
        try:
            if images is not None:
                written = write_images(self.images, day, s.id, images)
                names = [str(path.relative_to(self.images)) for path in written]
            self._db.execute(
                "INSERT INTO events (id, source, camera, ts, stored, plate, plate_norm, score, list, size, "
                "plate_image, scene_image, payload, age_from, clock, frame_width, frame_height) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (s.id, s.source, s.camera_id, ts, now, s.plate.upper(),
                 normalize(s.plate), s.score, s.match.list if s.match else None, size,
                 names[0], names[1], payload, now, clock, *(s.frame or (None, None))))
        except (OSError, sqlite3.Error):
            for path in written:
                path.unlink(missing_ok=True)
            raise
        self._bounds.added(size)

    # -- reading ------------------------------------------------------------------------------

    def query(self, q: EventQuery) -> tuple[list[dict[str, Any]], tuple[float, int] | None]:
        """Events newest first and the cursor of the next page (None on the last); the events
        waiting for a lock are stored first where it has gone."""
        if self._waiting:
            with self._order:
                self._retry()
        with self._lock:
            self._times.follow_quietly()
            rows, near = select_page(self._db, q)
        return page(rows, q, near)

    def get(self, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            self._times.follow_quietly()
            row = select_one(self._db, event_id)
        return event_of(row, None) if row else None

    def follow_clock(self) -> None:
        """Move the times of the events read before a step of the wall clock seen since the last
        call (``clock_steps.py``); called each second by the service, so that a reboot soon after
        a step keeps them moved.  Never raises."""
        with self._lock:
            self._times.follow_quietly()

    def image(self, event_id: str, kind: str) -> Path | None:
        """The file of an event's ``plate`` or ``scene`` image, or None."""
        column = {"plate": "plate_image", "scene": "scene_image"}[kind]
        with self._lock:
            row = self._db.execute(f"SELECT {column} FROM events WHERE id = ?", (event_id,)).fetchone()
        if not row or not row[0]:
            return None
        path = self.images / row[0]
        return path if path.is_file() else None

    def stats(self) -> dict[str, int]:
        """Totals for /metrics and the console; ``waiting``: sightings in memory while another
        process holds the database locked, ``waiting_dropped``: the oldest of those dropped past
        ``WAITING_MAX`` (counted in ``skipped`` too), so an admin sees a lock that lasts."""
        with self._lock:
            count = int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        return {"events": count, "bytes": self.bytes, "stored": self.stored,
                "skipped": self.skipped, "deleted": self.deleted, "waiting": len(self._waiting),
                "waiting_dropped": self._waiting.dropped}

    def close(self) -> None:
        """Store what waits for a lock if it has gone (else say what is lost), and close."""
        with self._order:
            if not self._retry():
                log.warning("history: %d waiting events not kept: %s", len(self._waiting),
                            locked_text(self.root / DATABASE))
            with self._lock:
                self._db.close()

