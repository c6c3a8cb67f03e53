"""A durable, bounded, per-sink FIFO outbox in SQLite (WAL); ``worker.DeliveryWorker`` drains it.

Why: recognition must never wait on a network, and a receiver that is down (broker restarting,
webhook target offline) must lose nothing, even across a restart or a SIGKILL.  So producers
write each event to disk and return; a ``DeliveryWorker`` per sink sends them in order and only
then deletes them (at-least-once: a crash between send and ack re-sends that event, which the
receiver can spot by its ``id``).

API (all methods are thread-safe; one ``Outbox`` per process per file is enough)::

    box = Outbox("/var/lib/edge-alpr/outbox.sqlite", max_rows=10_000, max_age_s=7 * 86400,
                 max_bytes=256 * 2**20)
    event_id = box.put("mqtt", {"plate": "abc123"})           # committed when it returns
    event_id = box.put("webhook:http://x/", payload, blob=jpeg_bytes)   # optional raw bytes
    items = box.peek("mqtt", limit=10)    # oldest first: OutboxItem(seq, id, sink, payload, ...)
    box.ack("mqtt", items[0].id)          # delivered: delete it
    box.fail("mqtt", items[0].id, "timeout")   # count an attempt (kept, retried later)
    box.stats()  # {"pending": {"mqtt": 3}, "dropped": {"mqtt": 0}, "delivered": {"mqtt": 9},
                 #  "bytes": {"mqtt": 612}}

A disabled sink's events stay queued and producers keep queuing new ones (the outbox never
refuses a ``put`` that fits the byte bound), all within the bounds below, so a restart delivers
everything not yet dropped, oldest first (``worker.py`` says when a sink is disabled).

Bounds, so that a sink that is down for weeks cannot fill the SD card (a webhook target with
``image: true`` stores the whole image in each of its rows):

* ``max_age_s``: events older than this are dropped (on every ``put`` and ``peek``).
* ``max_bytes`` (default 256 MiB): the events' bytes, i.e. the UTF-8 JSON payload plus the
  blob of every queued row, stay at most this.  Checked when enqueuing, *before* the new rows
  are written (so the pages freed are reused by them and the file does not grow past the
  bound): the oldest events, by queue position across all sinks, are dropped until the new
  ones fit.  A single row larger than ``max_bytes`` is refused (not stored, nothing else is
  dropped for it; the other rows of the same ``put_many`` are queued) with an ERROR log line.
* ``max_rows``: at most this many events in total; the oldest are dropped first.

Every event dropped by any bound, and every refused row, is counted once in its sink's
``stats()["dropped"]`` (persisted in the file) and logged.  ``stats()["bytes"]`` is what each
sink's pending events weigh.  On disk the file is ``max_bytes`` plus SQLite's overhead: page
slack (< 1 % for images), indexes, up to ``RECLAIM_MIN_FREE_BYTES`` of free pages kept for
reuse, and the ``-wal`` log (trimmed to ``WAL_LIMIT_BYTES`` after each checkpoint, larger only
while one transaction is bigger).

Space is given back: the file uses ``auto_vacuum=INCREMENTAL``; once ``RECLAIM_MIN_FREE_BYTES``
of pages are free (events delivered or dropped), ``ack``/``peek`` run ``incremental_vacuum``
(at most ``RECLAIM_STEP_BYTES`` at a time, so a put never waits long) and a passive checkpoint
that truncates the file.  A file made before this (no ``auto_vacuum``, no ``size`` column) is
upgraded once on open: the sizes of its rows are filled in and one ``VACUUM`` rewrites it (cost
proportional to the events still pending, not to the file size); if that fails (disk full) it
is logged and retried on the next open, and the outbox works meanwhile.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 256 * MIB  # a fraction of the smallest SD card a Raspberry Pi runs from
RECLAIM_MIN_FREE_BYTES = 4 * MIB  # free pages kept for reuse by the next puts (no churn)
RECLAIM_STEP_BYTES = 8 * MIB  # most given back per ack/peek: bounds how long a put may wait
WAL_LIMIT_BYTES = 4 * MIB  # the -wal file is trimmed to this after a checkpoint

_INCREMENTAL = 2  # PRAGMA auto_vacuum value

# ``size`` (before the payload, so it is read without the blob) is the payload's UTF-8 length
# plus the blob's: what the byte bound counts.
_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    sink TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    payload TEXT NOT NULL,
    blob BLOB
)"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS outbox_sink_seq ON outbox (sink, seq)",
    "CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created)",
    "CREATE INDEX IF NOT EXISTS outbox_seq_size ON outbox (seq, size)",  # the byte bound's
)
_COUNTERS = """
CREATE TABLE IF NOT EXISTS sink_counters (
    sink TEXT PRIMARY KEY,
    dropped INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0
)"""
_OLD_COLUMNS = "seq, id, sink, created, attempts, last_error, payload, blob"
_SIZE_OF_ROW = "length(CAST(payload AS BLOB)) + IFNULL(length(blob), 0)"


@dataclass(frozen=True)
class OutboxItem:
    """One queued event.  ``id`` is unique and stable across retries (use it to de-duplicate)."""

    seq: int
    id: str
    sink: str
    created: float
    attempts: int
    payload: dict[str, Any]
    blob: bytes | None = field(default=None, repr=False)


class Outbox:
    """Durable per-sink FIFO queues in one SQLite file; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        max_rows: int = 10_000,
        max_age_s: float = 7 * 86400.0,
        clock: Callable[[], float] = time.time,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: writes are tiny and SQLite serialises them anyway.
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise
        self._page_size: int = self._db.execute("PRAGMA page_size").fetchone()[0]
        # False only while an old file's upgrade has failed: incremental_vacuum would do nothing.
        self._reclaims = self._db.execute("PRAGMA auto_vacuum").fetchone()[0] == _INCREMENTAL
        self._lock = threading.Lock()
        self._changed = threading.Condition(threading.Lock())

    def _open(self) -> None:
        db = self._db
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect on a new file (or at VACUUM)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # survive power loss, not just a crash
        db.execute("PRAGMA busy_timeout=5000")
        db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        db.execute(_TABLE.format(name="outbox"))
        db.execute(_COUNTERS)
        if "size" not in {row[1] for row in db.execute("PRAGMA table_info(outbox)")}:
            self._add_sizes()
        for index in _INDEXES:
            db.execute(index)
        (mode,) = db.execute("PRAGMA auto_vacuum").fetchone()
        if mode != _INCREMENTAL:
            # Made before space was reclaimed: rewrite it once so freed pages can be given back.
            started = time.monotonic()
            try:
                db.execute("VACUUM")
            except sqlite3.OperationalError as e:
                log.warning("outbox: could not upgrade %s to reclaim space (%s); it keeps its "
                            "size for now (bounded by max_bytes) and is retried on the next "
                            "start", self.path, e)
            else:
                log.info("outbox: upgraded %s to give back the space of delivered events "
                         "(one VACUUM, %.1f s)", self.path, time.monotonic() - started)

    def _add_sizes(self) -> None:
        """A file from before the byte bound: copy its rows, with their sizes, into the new layout
        (one transaction); if that fails (disk full), add the column and count them as 0 bytes."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DROP TABLE IF EXISTS outbox_sized")
            db.execute(_TABLE.format(name="outbox_sized"))
            db.execute(f"INSERT INTO outbox_sized ({_OLD_COLUMNS}, size) "
                       f"SELECT {_OLD_COLUMNS}, {_SIZE_OF_ROW} FROM outbox ORDER BY seq")
            db.execute("DROP TABLE outbox")  # its indexes with it; _open makes them again
            db.execute("ALTER TABLE outbox_sized RENAME TO outbox")
            (n,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            db.execute("COMMIT")
            log.info("outbox: %d event(s) queued by an older version sized for max_bytes", n)
        except sqlite3.OperationalError as e:
            db.execute("ROLLBACK")
            log.warning("outbox: could not size the events queued by an older version (%s); "
                        "they count as 0 bytes until delivered or expired", e)
            db.execute("ALTER TABLE outbox ADD COLUMN size INTEGER NOT NULL DEFAULT 0")

    def put(self, sink: str, payload: dict[str, Any], blob: bytes | None = None) -> str:
        """Queue ``payload`` (JSON-serialisable) for ``sink``; durable when this returns."""
        return self.put_many([(sink, payload, blob)])[0]

    def put_many(self, entries: Sequence[tuple[str, dict[str, Any], bytes | None]]) -> list[str]:
        """Queue several ``(sink, payload, blob)`` entries in one transaction; their row ids.

        Why one transaction: an event bound for MQTT and for webhooks is then queued for all
        of them or for none, even if the process dies in between (and it costs one fsync).
        """
        ids: list[str] = []
        rows: list[tuple[str, str, str, bytes | None, int]] = []
        refused: list[tuple[str, int]] = []
        for sink, payload, blob in entries:
            ids.append(uuid.uuid4().hex)
            text = json.dumps(payload, separators=(",", ":"))
            size = len(text.encode()) + (len(blob) if blob is not None else 0)
            if size > self.max_bytes:
                refused.append((sink, size))
            else:
                rows.append((ids[-1], sink, text, blob, size))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                now = self._clock()
                self._drop_expired()
                # Make room first: the new rows then reuse the pages just freed.
                self._trim_bytes(self.max_bytes - sum(row[4] for row in rows))
                self._db.executemany(
                    "INSERT INTO outbox (id, sink, created, payload, blob, size) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(event_id, sink, now, text, blob, size)
                     for event_id, sink, text, blob, size in rows],
                )
                self._trim_bytes(self.max_bytes)  # only when these rows alone are over it
                self._trim_rows()
                for sink, _ in refused:
                    self._count(sink, "dropped", 1)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        for sink, size in refused:
            log.error("outbox: refused an event of %d bytes for %s: larger than outbox.max_bytes "
                      "(%d); counted as dropped", size, sink, self.max_bytes)
        with self._changed:
            self._changed.notify_all()
        return ids

    def peek(self, sink: str, limit: int = 1) -> list[OutboxItem]:
        """The oldest ``limit`` pending events of ``sink`` (expired ones are dropped first)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._drop_expired()
                rows = self._db.execute(
                    "SELECT seq, id, sink, created, attempts, payload, blob FROM outbox "
                    "WHERE sink = ? ORDER BY seq LIMIT ?",
                    (sink, limit),
                ).fetchall()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._reclaim()
        return [
            OutboxItem(seq=r[0], id=r[1], sink=r[2], created=r[3], attempts=r[4],
                       payload=json.loads(r[5]), blob=r[6])
            for r in rows
        ]

    def ack(self, sink: str, item_id: str) -> None:
        """Mark an event delivered: it is deleted and counted in ``delivered``."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute("DELETE FROM outbox WHERE sink = ? AND id = ?", (sink, item_id))
                if cur.rowcount:
                    self._count(sink, "delivered", cur.rowcount)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._reclaim()

    def fail(self, sink: str, item_id: str, error: str) -> None:
        """Record a failed attempt; the event stays first in its queue."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE sink = ? AND id = ?",
                (error[:500], sink, item_id),
            )

    def stats(self) -> dict[str, dict[str, int]]:
        """Pending, dropped and delivered counts per sink (sinks with any history), and the
        bytes pending per sink (``bytes``: what ``max_bytes`` bounds)."""
        with self._lock:
            sizes = self._db.execute(
                "SELECT sink, COUNT(*), SUM(size) FROM outbox GROUP BY sink").fetchall()
            pending = {sink: n for sink, n, _ in sizes}
            counters = self._db.execute("SELECT sink, dropped, delivered FROM sink_counters").fetchall()
        sinks = set(pending) | {row[0] for row in counters}
        dropped = {s: 0 for s in sinks}
        delivered = {s: 0 for s in sinks}
        for sink, drop, done in counters:
            dropped[sink], delivered[sink] = drop, done
        size = {sink: total for sink, _, total in sizes}
        return {"pending": {s: pending.get(s, 0) for s in sinks}, "dropped": dropped,
                "delivered": delivered, "bytes": {s: size.get(s, 0) for s in sinks}}

    def wait(self, timeout: float) -> None:
        """Block until something is put (or ``timeout`` passes); lets workers sleep cheaply."""
        with self._changed:
            self._changed.wait(timeout)

    def wake(self) -> None:
        """Wake every waiter (used on shutdown)."""
        with self._changed:
            self._changed.notify_all()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- bounds (called inside a transaction) --------------------------------------------------

    def _drop_expired(self) -> None:
        cutoff = self._clock() - self.max_age_s
        rows = self._db.execute(
            "SELECT sink, COUNT(*) FROM outbox WHERE created < ? GROUP BY sink", (cutoff,)
        ).fetchall()
        if rows:
            self._db.execute("DELETE FROM outbox WHERE created < ?", (cutoff,))
            for sink, n in rows:
                self._count(sink, "dropped", n)
                log.warning("outbox: dropped %d event(s) of %s older than %.0f s", n, sink,
                            self.max_age_s)

    def _trim_bytes(self, limit: int) -> None:
        """Drop the oldest events (all sinks) until the rest weigh at most ``limit`` bytes."""
        (total,) = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM outbox").fetchone()
        excess = total - max(limit, 0)
        if excess <= 0:
            return
        (last,) = self._db.execute(
            "SELECT MIN(seq) FROM (SELECT seq, SUM(size) OVER (ORDER BY seq) AS freed "
            "FROM outbox) WHERE freed >= ?", (excess,)
        ).fetchone()
        self._drop_through(last, f"over max_bytes ({self.max_bytes})")

    def _trim_rows(self) -> None:
        (total,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        excess = total - self.max_rows
        if excess > 0:
            (last,) = self._db.execute(
                "SELECT seq FROM outbox ORDER BY seq LIMIT 1 OFFSET ?", (excess - 1,)
            ).fetchone()
            self._drop_through(last, f"full ({self.max_rows} rows)")

    def _drop_through(self, last_seq: int, why: str) -> None:
        rows = self._db.execute(
            "SELECT sink, COUNT(*) FROM outbox WHERE seq <= ? GROUP BY sink", (last_seq,)
        ).fetchall()
        self._db.execute("DELETE FROM outbox WHERE seq <= ?", (last_seq,))
        for sink, n in rows:
            self._count(sink, "dropped", n)
            log.warning("outbox: %s, dropped %d oldest event(s) of %s", why, n, sink)

    def _reclaim(self) -> None:
        """Give free pages back to the file system once there are enough of them (lock held,
        outside a transaction); see the module docstring."""
        if not self._reclaims:
            return
        (free,) = self._db.execute("PRAGMA freelist_count").fetchone()
        if free * self._page_size < RECLAIM_MIN_FREE_BYTES:
            return
        pages = min(free, RECLAIM_STEP_BYTES // self._page_size)
        try:
            # executescript steps the pragma to the end: execute() would free a single page.
            self._db.executescript(f"PRAGMA incremental_vacuum({pages});")
            # The file shrinks when the WAL is copied back; passive: never waits for a reader.
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as e:  # the events are safe; only the space waits for next time
            log.warning("outbox: could not give back %d free page(s): %s", pages, e)

    def _count(self, sink: str, column: str, n: int) -> None:
        # ``column`` is one of two literals from this module, never user input.
        self._db.execute("INSERT OR IGNORE INTO sink_counters (sink) VALUES (?)", (sink,))
        self._db.execute(f"UPDATE sink_counters SET {column} = {column} + ? WHERE sink = ?", (n, sink))
