"""A durable, bounded, per-sink FIFO outbox in SQLite (WAL); ``worker.DeliveryWorker`` drains it.

Why: recognition must never wait on a network, and a receiver that is down (broker restarting,
webhook target offline) must lose nothing, even across a restart or a SIGKILL.  So producers
write each event to disk and return; a ``DeliveryWorker`` per sink sends them in order and only
then deletes them (at-least-once: a crash between send and ack re-sends that event, which the
receiver can spot by its ``id``).

API (all methods are thread-safe; one ``Outbox`` per process per file is enough)::

    box = Outbox("/var/lib/edge-alpr/outbox.sqlite", max_rows=10_000, max_age_s=7 * 86400)
    event_id = box.put("webhook:http://x/", payload, blob=jpeg_bytes)  # committed when it returns
    items = box.peek("mqtt", limit=10)    # oldest first: OutboxItem(seq, id, sink, payload, ...)
    box.ack("mqtt", items[0].id)          # delivered: delete it
    box.fail("mqtt", items[0].id, "timeout")   # count an attempt (kept, retried later)
    box.set_aside("mqtt", items[0].id, "too large")   # kept, passed by until the next start
    box.stats()  # per sink: pending, dropped, delivered, bytes, waiting, held, aside

A disabled sink's events stay queued (``worker.py``).  Bounds, so that a sink down for weeks
cannot fill the SD card (``outbox_bounds.py``): ``max_age_s`` (running time), ``max_bytes`` (the
payloads plus blobs; a single row larger is refused) and ``max_rows``; the oldest events, across
all sinks, make way, counted in their sink's ``stats()["dropped"]`` and logged.  The file's layout
is ``outbox_schema.py``'s.

An event too large for its receiver is set aside (``outbox_sinks.py``); an event's times move
with the steps of the wall clock seen while it waits (``outbox_clock.py``).

Another process holding the file locked (``db_lock.py``) loses nothing: a ``put`` waits
``WRITE_WAIT_MS``, then keeps its events on disk beside the file (``outbox_waiting.py``) until it
lets go; ``peek`` and ``ack`` raise ``DatabaseLocked`` meanwhile, which the workers wait out.
On a full disk (said once, with the folder, the space left and the fix) the ``-wal`` log is
truncated so that its space is the file's again; a ``put`` that still cannot be written frees the
reserve beside the file for its events (``outbox_reserve.py``), else holds them in memory (bounded,
``outbox_held.py``) until there is room, then writes them oldest first, ahead of newer ones.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from .. import db_lock
from ..clocks import RunClock, WallOffset
from ..credentials import hide_credentials
from ..db_lock import LockEpisode, busy_timeout, immediate, is_locked, opening
from ..errors import DatabaseLocked
from ..state_watch import copy_database
from ..statedir import RESERVE_FILE, full_text
from . import outbox_sinks
from .outbox_bounds import DEFAULT_MAX_BYTES, DropLog, Reclaimer, count, drop_expired, trim_bytes, trim_rows
from .outbox_clock import ClockFollower, dumps
from .outbox_held import CLOSING, EACH_SECOND, HELD_MAX_BYTES, HELD_MAX_ROWS, Held
from .outbox_hold import HoldingWrites
from .outbox_reserve import RESERVE_BYTES, Reserve
from .outbox_schema import OutboxItem, connect, read_queue
from .outbox_waiting import SUFFIX, Row, WaitingFile
from .outbox_wal import WalRoom

__all__ = ["DEFAULT_MAX_BYTES", "Outbox", "OutboxItem"]  # the default is the config's and the tests'

log = logging.getLogger(__name__)

WHAT = "the outbox database"  # in the lines that name its file


class Outbox(HoldingWrites):
    """Durable per-sink FIFO queues in one SQLite file; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        max_rows: int = 10_000,
        max_age_s: float = 7 * 86400.0,
        clock: Callable[[], float] = time.monotonic,
        max_bytes: int = DEFAULT_MAX_BYTES,
        offset: WallOffset | None = None,
        reserve_bytes: int = RESERVE_BYTES,
    ) -> None:
        """``clock``: a clock that never steps (seconds), which the age bound counts in;
        ``offset``: the wall clock's, against which its steps are seen (``outbox_clock.py``);
        ``reserve_bytes``: the reserve freed for the held on a full disk (``outbox_reserve.py``;
        0: none)."""
        self.path = Path(path)
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._said = DropLog(clock)  # what the bounds drop, said without a line per event
        self._held = Held(min(HELD_MAX_ROWS, max_rows), min(HELD_MAX_BYTES, max_bytes), self._said)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._waiting = WaitingFile(self.path.with_name(self.path.name + SUFFIX))
        self._reserve = Reserve(self.path.with_name(RESERVE_FILE), reserve_bytes)
        # One connection guarded by a lock: writes are tiny and SQLite serialises them anyway.
        with opening(self.path, WHAT):
            self._db = connect(self.path)
            try:
                (floor,) = self._db.execute("SELECT IFNULL(MAX(queued), 0) FROM outbox").fetchone()
                waited = [row[6] for row in self._waiting.rows if math.isfinite(row[6])]
                self._run = RunClock(self._db, max([floor, *waited]), clock)
                self._episode = LockEpisode(self._db, log, "outbox", self.path, WHAT)
                self._steps = ClockFollower(offset or WallOffset())
                self._waiting.rows = self._steps.open(self._db, self._waiting.rows)
                self._wal = WalRoom(self._db, self.path.parent)
                self._waiting_at_start()  # kept by the last run while another process held the file
                with immediate(self._db):  # the receiver's limit may have been raised meanwhile
                    outbox_sinks.restore(self._db)
                busy_timeout(self._db, db_lock.WRITE_WAIT_MS)
            except BaseException:
                self._db.close()
                raise
        self._reclaimer = Reclaimer(self._db)
        self._lock = threading.Lock()
        self._changed = threading.Condition(threading.Lock())

    def put(self, sink: str, payload: dict[str, Any], blob: bytes | None = None) -> str:
        """Queue ``payload`` (JSON-serialisable) for ``sink``; durable when this returns."""
        return self.put_many([(sink, payload, blob)])[0]

    def put_many(self, entries: Sequence[tuple[str, dict[str, Any], bytes | None]],
                 clock: float | None = None) -> list[str]:
        """Queue several ``(sink, payload, blob)`` entries in one transaction (an event bound for
        several sinks reaches all of their queues or none, for one fsync); their row ids.
        ``clock``: the wall clock's offset (``clocks.WallOffset.now``) their times were read at, so
        that a step seen later moves them; None where they are not.  While another process holds
        the file locked they wait beside it (``outbox_waiting.py``; ``StateError`` where that
        cannot be written either); on a full disk they are held in memory (``outbox_held.py``).
        """
        ids: list[str] = []
        rows: list[Row] = []
        refused: list[tuple[str, int]] = []  # larger than max_bytes: counted as dropped
        created, queued = time.time(), self._run.now()
        for sink, payload, blob in entries:
            ids.append(uuid.uuid4().hex)
            text = dumps(payload)
            size = len(text.encode()) + (len(blob) if blob is not None else 0)
            if size > self.max_bytes:
                refused.append((sink, size))
            else:
                rows.append((ids[-1], sink, created, text, blob, size, queued, clock))
        with self._lock:
            self._write_or_hold(rows, Counter(sink for sink, _ in refused))
        for sink, size in refused:
            log.error("outbox: refused an event of %d bytes for %s: larger than outbox.max_bytes "
                      "(%d); counted as dropped", size, hide_credentials(sink), self.max_bytes)
        with self._changed:
            self._changed.notify_all()
        return ids

    def _write(self, rows: list[Row], refused: Counter[str], waiting: bool = True) -> None:
        """One transaction (lock held): the waiting rows (unless not ``waiting``), then ``rows``."""
        now = self._run.now()
        self._steps.follow(self._db)
        batch = [(*row[:6], min(row[6], now), row[7])  # inf: an old version's
                 for row in map(self._steps.incoming, (*(self._waiting.rows if waiting else ()), *rows))]
        with self._said.committing(self._db):
            self._run.save()
            drop_expired(self._db, now, self.max_age_s, self._said)
            # Make room first: the new rows then reuse the pages just freed.
            trim_bytes(self._db, self.max_bytes - sum(row[5] for row in batch), self.max_bytes, self._said)
            self._db.executemany(
                "INSERT INTO outbox (id, sink, created, payload, blob, size, queued, clock) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING", batch)  # moved in twice: once
            trim_bytes(self._db, self.max_bytes, self.max_bytes, self._said)  # only when these rows alone are over it
            trim_rows(self._db, self.max_rows, self._said)
            for sink, n in ((self._waiting.dropped if waiting else Counter()) + refused).items():
                count(self._db, sink, "dropped", n)
        if not waiting:
            return self._episode.cleared("events go into the outbox again")
        waited = len(self._waiting)
        if self._waiting.rows or self._waiting.dropped:
            self._waiting.clear()
        self._episode.cleared(f"the {waited} queued deliveries that waited in {self._waiting.path} are in the outbox"
                              if waited else "events go into the outbox again")

    def write_held(self) -> None:
        """At a stop: write the events held while the disk was full, where it has room now."""
        with self._lock:
            self._flush_held(pace=CLOSING)

    @contextmanager
    def _delivering(self) -> Iterator[None]:
        """Around a read or an ack for delivery (lock held): another process's lock becomes
        ``DatabaseLocked``, which the worker waits out (said once per episode)."""
        try:
            self._wal.truncate()
            yield
        except sqlite3.Error as e:
            if not is_locked(e):
                if full_text(self.path.parent, "state_dir", e) is not None:
                    self._wal.full()
                raise
            self._episode.locked(e, f"deliveries wait for it; new events wait in {self._waiting.path}")
            raise DatabaseLocked(f"{e}: {self._episode.text()}") from e
        self._episode.cleared("deliveries go on")

    def peek(self, sink: str, limit: int = 1) -> list[OutboxItem]:
        """The oldest ``limit`` pending events of ``sink`` not set aside (expired ones are dropped
        first, and those that waited for another process's lock go in first)."""
        with self._lock:
            with self._delivering():
                self._waiting_in()
                self._steps.follow(self._db)
                with self._said.committing(self._db):
                    drop_expired(self._db, self._run.now(), self.max_age_s, self._said)
                    items = read_queue(self._db, sink, limit)
            self._reclaimer.reclaim()
        return items

    def restamped(self, item: OutboxItem) -> OutboxItem:
        """``item`` as it is sent now: its times moved by a step of the wall clock seen since
        ``peek`` read it (no file access)."""
        return self._steps.restamped(item)

    def follow_clock(self) -> None:
        """Move the times of the events queued before a step of the wall clock seen since (on disk
        before a reboot can lose the step: the service calls it each second), and write the events
        held in memory while the disk was full where it has room now; then the reserve is made
        where it is not there, none is held and the disk has room (outside the lock: up to 4 MiB
        written).  Never raises."""
        with self._lock:
            self._steps.follow_quietly(self._db)
            wrote = self._flush_held(wait=False, pace=EACH_SECOND)
            self._wal.relax(bool(self._held))
            idle = not (self._held or self._waiting)
        if wrote:  # the workers, that may sleep up to their idle poll
            self.wake()
        if idle:
            self._reserve.make()

    def stop_making(self) -> None:
        """The process stops: a reserve being made ends, none is made any more (``Reserve.stop``)."""
        self._reserve.stop()

    def ack(self, sink: str, item_id: str) -> None:
        """Mark an event delivered: it is deleted and counted in ``delivered``."""
        with self._lock:
            with self._delivering(), immediate(self._db):
                cur = self._db.execute("DELETE FROM outbox WHERE sink = ? AND id = ?", (sink, item_id))
                if cur.rowcount:
                    count(self._db, sink, "delivered", cur.rowcount)
            self._reclaimer.reclaim()

    def fail(self, sink: str, item_id: str, error: str) -> None:
        """Record a failed attempt; the event stays first in its queue (the count is skipped
        while another process holds the file)."""
        with self._lock, suppress(DatabaseLocked), self._delivering():
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE sink = ? AND id = ?",
                (error[:500], sink, item_id),
            )

    def set_aside(self, sink: str, item_id: str, reason: str) -> None:
        """Keep an event its receiver refused for its size out of ``sink``'s queue until the next
        start (``outbox_sinks.py``); raises as ``ack`` does."""
        with self._lock, self._delivering(), immediate(self._db):
            outbox_sinks.set_aside(self._db, sink, item_id, reason)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per sink: ``pending``, ``dropped``, ``delivered``, ``bytes`` and, of the pending,
        ``waiting`` (for another process's lock), ``held`` (in memory: the disk is full) and
        ``aside`` (``outbox_sinks.stats``)."""
        with self._lock:
            return outbox_sinks.stats(self._db, self._waiting.by_sink(), self._waiting.dropped, self._held.by_sink())

    def wait(self, timeout: float) -> None:
        """Block until something is put (or ``timeout`` passes); lets workers sleep cheaply."""
        with self._changed:
            self._changed.wait(timeout)

    def save_to(self, path: Path) -> bool:
        """Copy the open file to ``path`` where nothing is (its folder deleted: state_watch)."""
        return copy_database(self._db, self._lock, path)

    def wake(self) -> None:
        """Wake every waiter (used on shutdown)."""
        with self._changed:
            self._changed.notify_all()

    def close(self) -> None:
        """Close the file; events still waiting for another process's lock stay beside it, and go
        in at the next start.  Each step is taken whatever the one before raised."""
        with self._lock, ExitStack() as steps:
            steps.callback(self._db.close)
            steps.callback(self._save_run)
            steps.callback(self._leave_waiting)
            steps.callback(self._held.lost)
            self._said.settle(final=True)
            self._flush_held(pace=CLOSING)

    def _save_run(self) -> None:
        """At ``close``: the next run's clock goes on from here (else from the newest event's)."""
        try:
            self._run.save()
        except sqlite3.Error as e:
            log.debug("outbox: running time not saved: %s", e)
