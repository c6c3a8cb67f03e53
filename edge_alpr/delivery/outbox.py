"""A durable, bounded, per-sink FIFO outbox in SQLite (WAL), and the worker that drains it.

Why: recognition must never wait on a network, and a receiver that is down (broker restarting,
webhook target offline) must lose nothing, even across a restart or a SIGKILL.  So producers
write each event to disk and return; a ``DeliveryWorker`` per sink sends them in order and only
then deletes them (at-least-once: a crash between send and ack re-sends that event, which the
receiver can spot by its ``id``).

API (all methods are thread-safe; one ``Outbox`` per process per file is enough)::

    box = Outbox("/var/lib/edge-alpr/outbox.sqlite", max_rows=10_000, max_age_s=7 * 86400)
    event_id = box.put("mqtt", {"plate": "abc123"})           # committed when it returns
    event_id = box.put("webhook:http://x/", payload, blob=jpeg_bytes)   # optional raw bytes
    items = box.peek("mqtt", limit=10)    # oldest first: OutboxItem(seq, id, sink, payload, ...)
    box.ack("mqtt", items[0].id)          # delivered: delete it
    box.fail("mqtt", items[0].id, "timeout")   # count an attempt (kept, retried later)
    box.stats()  # {"pending": {"mqtt": 3}, "dropped": {"mqtt": 0}, "delivered": {"mqtt": 9}}

    stop = threading.Event()
    worker = DeliveryWorker(box, "mqtt", send=lambda item: publish(item.payload), stop=stop)
    worker.start(); ...; stop.set(); worker.join()

``send`` raises any exception to mean "not delivered, retry later"; the worker then waits with
exponential backoff (``backoff_initial_s`` doubling up to ``backoff_max_s``) and retries the
*same* event, so a sink's order is kept.  With ``max_failures`` > 0 the worker gives up after
that many consecutive failures and marks itself ``disabled``.  Policy for a disabled sink: its
events stay queued and producers keep queuing new ones (the outbox never refuses a ``put``),
all within the bounds below, so a restart delivers everything not yet dropped, oldest first.

Bounds: at most ``max_rows`` events in total and none older than ``max_age_s``; the oldest are
dropped first and counted per sink in ``stats()["dropped"]`` (persisted), so a sink that is
down for weeks cannot fill the SD card.
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    sink TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    payload TEXT NOT NULL,
    blob BLOB
);
CREATE INDEX IF NOT EXISTS outbox_sink_seq ON outbox (sink, seq);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created);
CREATE TABLE IF NOT EXISTS sink_counters (
    sink TEXT PRIMARY KEY,
    dropped INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0
);
"""


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
    ) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: writes are tiny and SQLite serialises them anyway.
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # survive power loss, not just a crash
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._changed = threading.Condition(threading.Lock())

    def put(self, sink: str, payload: dict[str, Any], blob: bytes | None = None) -> str:
        """Queue ``payload`` (JSON-serialisable) for ``sink``; durable when this returns."""
        return self.put_many([(sink, payload, blob)])[0]

    def put_many(self, entries: Sequence[tuple[str, dict[str, Any], bytes | None]]) -> list[str]:
        """Queue several ``(sink, payload, blob)`` entries in one transaction; their row ids.

        Why one transaction: an event bound for MQTT and for webhooks is then queued for all
        of them or for none, even if the process dies in between (and it costs one fsync).
        """
        rows = [(uuid.uuid4().hex, sink, json.dumps(payload, separators=(",", ":")), blob)
                for sink, payload, blob in entries]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                now = self._clock()
                self._db.executemany(
                    "INSERT INTO outbox (id, sink, created, payload, blob) VALUES (?, ?, ?, ?, ?)",
                    [(event_id, sink, now, text, blob) for event_id, sink, text, blob in rows],
                )
                self._enforce_bounds()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        with self._changed:
            self._changed.notify_all()
        return [row[0] for row in rows]

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

    def fail(self, sink: str, item_id: str, error: str) -> None:
        """Record a failed attempt; the event stays first in its queue."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE sink = ? AND id = ?",
                (error[:500], sink, item_id),
            )

    def stats(self) -> dict[str, dict[str, int]]:
        """Pending, dropped and delivered counts per sink (sinks with any history)."""
        with self._lock:
            pending = dict(self._db.execute("SELECT sink, COUNT(*) FROM outbox GROUP BY sink"))
            counters = self._db.execute("SELECT sink, dropped, delivered FROM sink_counters").fetchall()
        sinks = set(pending) | {row[0] for row in counters}
        dropped = {s: 0 for s in sinks}
        delivered = {s: 0 for s in sinks}
        for sink, drop, done in counters:
            dropped[sink], delivered[sink] = drop, done
        return {"pending": {s: pending.get(s, 0) for s in sinks}, "dropped": dropped,
                "delivered": delivered}

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

    def _enforce_bounds(self) -> None:
        self._drop_expired()
        (total,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        excess = total - self.max_rows
        if excess <= 0:
            return
        rows = self._db.execute(
            "SELECT sink, COUNT(*) FROM (SELECT sink FROM outbox ORDER BY seq LIMIT ?) GROUP BY sink",
            (excess,),
        ).fetchall()
        self._db.execute(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (excess,)
        )
        for sink, n in rows:
            self._count(sink, "dropped", n)
            log.warning("outbox: full (%d rows), dropped %d oldest event(s) of %s",
                        self.max_rows, n, sink)

    def _count(self, sink: str, column: str, n: int) -> None:
        # ``column`` is one of two literals from this module, never user input.
        self._db.execute("INSERT OR IGNORE INTO sink_counters (sink) VALUES (?)", (sink,))
        self._db.execute(f"UPDATE sink_counters SET {column} = {column} + ? WHERE sink = ?", (n, sink))


@dataclass
class WorkerState:
    """What a worker reports for /info/ and logs (read without a lock: plain values)."""

    sent: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    disabled: bool = False


class DeliveryWorker(threading.Thread):
    """Drains one sink in order: ``send(item)``, then ``ack``; on error back off and retry."""

    def __init__(
        self,
        outbox: Outbox,
        sink: str,
        send: Callable[[OutboxItem], None],
        stop: threading.Event,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 300.0,
        max_failures: int = 0,
        idle_poll_s: float = 0.5,
        batch: int = 16,
    ) -> None:
        super().__init__(name=f"delivery-{sink}", daemon=True)
        self.outbox = outbox
        self.sink = sink
        self.send = send
        self.stop_event = stop
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.max_failures = max_failures
        self.idle_poll_s = idle_poll_s
        self.batch = batch
        self.state = WorkerState()

    def run(self) -> None:
        backoff = self.backoff_initial_s
        while not self.stop_event.is_set():
            items = self.outbox.peek(self.sink, self.batch)
            if not items:
                self.outbox.wait(self.idle_poll_s)
                continue
            for item in items:
                if self.stop_event.is_set():
                    return
                try:
                    self.send(item)
                except Exception as e:  # any failure of a sink means "retry later"
                    self._failed(item, e)
                    if self.state.disabled:
                        return
                    self.stop_event.wait(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
                    break
                self.outbox.ack(self.sink, item.id)
                self.state.sent += 1
                if self.state.consecutive_failures:
                    log.info("delivery to %s recovered after %d failure(s)", self.sink,
                             self.state.consecutive_failures)
                self.state.consecutive_failures = 0
                self.state.last_error = None
                backoff = self.backoff_initial_s

    def _failed(self, item: OutboxItem, error: Exception) -> None:
        message = f"{type(error).__name__}: {error}"
        self.outbox.fail(self.sink, item.id, message)
        self.state.consecutive_failures += 1
        self.state.last_error = message
        if self.max_failures and self.state.consecutive_failures >= self.max_failures:
            self.state.disabled = True
            log.error("delivery to %s disabled after %d consecutive failures (last: %s); its "
                      "events stay queued (new ones too, within the outbox bounds); restart the "
                      "service to retry", self.sink, self.state.consecutive_failures, message)
        else:
            log.warning("delivery to %s failed (attempt %d): %s", self.sink,
                        self.state.consecutive_failures, message)
