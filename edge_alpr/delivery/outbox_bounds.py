"""The outbox's bounds on age, bytes and rows, and giving the space of gone events back.

Why: a sink that is down for weeks must not fill the SD card (a webhook target with
``image: true`` stores the whole image in each of its rows), yet the outbox never refuses a
``put`` that fits.  So the oldest events make way:

* ``max_age_s``: events queued for longer than this are dropped (on every ``put`` and
  ``peek``), on the outbox's running time (``queued``, ``clocks.RunClock``): a step of the wall
  clock drops nothing.
* ``max_bytes`` (default 256 MiB): the events' bytes, i.e. the UTF-8 JSON payload plus the
  blob of every queued row, stay at most this.  Checked when enqueuing, *before* the new rows
  are written (so the pages freed are reused by them and the file does not grow past the
  bound): the oldest events, by queue position across all sinks, are dropped until the new
  ones fit.  A single row larger than ``max_bytes`` is refused (not stored, nothing else is
  dropped for it; the other rows of the same ``put_many`` are queued) with an ERROR log line.
* ``max_rows``: at most this many events in total; the oldest are dropped first.

Every event dropped by any bound, and every refused row, is counted once in its sink's
``dropped`` counter (persisted in the file, ``count``) and logged: a bound's first drops of a
sink at once, then at most once every ``DROP_LOG_EVERY_S`` with how many it dropped since, each
at debug level (``DropLog``), since a sink down for days keeps the outbox at its bound and every
new event then drops an old one (a warning each was a line per event in the journal).  A transaction
run in ``DropLog.committing`` says its drops once it commits (one rolled back, on a full disk,
dropped nothing); one that drops nothing says, once the hour is up, those not said yet, and
``DropLog.settle(final=True)`` the rest as the outbox closes: drops that stop within the hour
have no later drop to be said with.  On disk the file is
``max_bytes`` plus SQLite's overhead: page slack (< 1 % for images), indexes, up to
``RECLAIM_MIN_FREE_BYTES`` of free pages kept for reuse, and the ``-wal`` log (trimmed to
``outbox_schema.WAL_LIMIT_BYTES`` after each checkpoint, larger only while one transaction is
bigger).

Space is given back (``Reclaimer``): once ``RECLAIM_MIN_FREE_BYTES`` of pages are free (events
delivered or dropped), ``ack``/``peek`` run ``incremental_vacuum`` (at most
``RECLAIM_STEP_BYTES`` at a time, so a put never waits long) and a passive checkpoint that
truncates the file.

Everything here runs on the outbox's connection with its lock held: the bounds inside the
caller's transaction, ``Reclaimer.reclaim`` outside one.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..credentials import hide_credentials
from ..db_lock import immediate, is_locked
from .outbox_schema import INCREMENTAL

# The outbox's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.delivery.outbox")

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 256 * MIB  # a fraction of the smallest SD card a Raspberry Pi runs from
RECLAIM_MIN_FREE_BYTES = 4 * MIB  # free pages kept for reuse by the next puts (no churn)
RECLAIM_STEP_BYTES = 8 * MIB  # most given back per ack/peek: bounds how long a put may wait
DROP_LOG_EVERY_S = 3600.0  # a bound that goes on dropping a sink's events is warned of once an hour


class DropLog:
    """Says what one outbox's bounds drop, per bound and sink: the first drops at once, then how
    many since, at most once every ``DROP_LOG_EVERY_S`` on ``clock`` (see the module docstring)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._said: dict[tuple[str, str], float] = {}  # (why, sink): when last warned of
        self._since: Counter[tuple[str, str]] = Counter()  # dropped since then, not yet said
        self._held: list[tuple[str, int, str]] | None = None  # inside ``committing``: not yet committed

    @contextmanager
    def committing(self, db: sqlite3.Connection) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` on ``db`` (``db_lock.immediate``); the drops inside
        are said once it commits, and forgotten where it rolls back (the rows are still there).
        One that drops nothing ends an episode: the drops not yet said are, once the hour is up."""
        self._held = []
        try:
            with immediate(db):
                yield
            held = self._held
        finally:
            self._held = None
        for sink, n, why in held:
            self.dropped(sink, n, why)
        if not held:
            self.settle()

    def dropped(self, sink: str, n: int, why: str) -> None:
        """``n`` events of ``sink`` dropped for ``why`` (a bound, with its value)."""
        if self._held is not None:
            self._held.append((sink, n, why))
            return
        key, now = (why, sink), self._clock()
        self._since[key] += n
        last = self._said.get(key)
        if last is not None and now - last < DROP_LOG_EVERY_S:
            log.debug("outbox: %s, dropped %d oldest event(s) of %s", why, n, hide_credentials(sink))
            return
        self._say(key, now, last)

    def settle(self, final: bool = False) -> None:
        """Say the drops not yet said whose last warning is ``DROP_LOG_EVERY_S`` old (``final``:
        all of them, as the outbox closes).  Why: a bound that stops dropping within the hour
        has no later drop to say them with; its burst would go unsaid."""
        now = self._clock()
        for key in [k for k, n in self._since.items() if n]:
            last = self._said.get(key)
            if final or last is None or now - last >= DROP_LOG_EVERY_S:
                self._say(key, now, last)

    def _say(self, key: tuple[str, str], now: float, last: float | None) -> None:
        why, sink = key
        self._said[key] = now
        since = "" if last is None else f" in the last {now - last:.0f} s"
        log.warning("outbox: %s, dropped %d oldest event(s) of %s%s (counted in its dropped; said again at most "
                    "once every %.0f s while it goes on)", why, self._since.pop(key), hide_credentials(sink), since,
                    DROP_LOG_EVERY_S)


def drop_expired(db: sqlite3.Connection, now: float, max_age_s: float, said: DropLog) -> None:
    """Drop the events queued more than ``max_age_s`` before ``now`` (running time)."""
    cutoff = now - max_age_s
    rows = db.execute(
        "SELECT sink, COUNT(*) FROM outbox WHERE queued < ? GROUP BY sink", (cutoff,)
    ).fetchall()
    if rows:
        db.execute("DELETE FROM outbox WHERE queued < ?", (cutoff,))
        for sink, n in rows:
            count(db, sink, "dropped", n)
            said.dropped(sink, n, f"queued for longer than max_age_s ({max_age_s:.0f} s)")


def trim_bytes(db: sqlite3.Connection, limit: int, max_bytes: int, said: DropLog) -> None:
    """Drop the oldest events (all sinks) until the rest weigh at most ``limit`` bytes
    (``max_bytes`` less the room wanted for new rows, or ``max_bytes`` itself)."""
    (total,) = db.execute("SELECT COALESCE(SUM(size), 0) FROM outbox").fetchone()
    excess = total - max(limit, 0)
    if excess <= 0:
        return
    (last,) = db.execute(
        "SELECT MIN(seq) FROM (SELECT seq, SUM(size) OVER (ORDER BY seq) AS freed "
        "FROM outbox) WHERE freed >= ?", (excess,)
    ).fetchone()
    _drop_through(db, last, f"over max_bytes ({max_bytes})", said)


def trim_rows(db: sqlite3.Connection, max_rows: int, said: DropLog) -> None:
    """Drop the oldest events (all sinks) until at most ``max_rows`` are left."""
    (total,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
    excess = total - max_rows
    if excess > 0:
        (last,) = db.execute(
            "SELECT seq FROM outbox ORDER BY seq LIMIT 1 OFFSET ?", (excess - 1,)
        ).fetchone()
        _drop_through(db, last, f"full ({max_rows} rows)", said)


def _drop_through(db: sqlite3.Connection, last_seq: int, why: str, said: DropLog) -> None:
    rows = db.execute(
        "SELECT sink, COUNT(*) FROM outbox WHERE seq <= ? GROUP BY sink", (last_seq,)
    ).fetchall()
    db.execute("DELETE FROM outbox WHERE seq <= ?", (last_seq,))
    for sink, n in rows:
        count(db, sink, "dropped", n)
        said.dropped(sink, n, why)


def count(db: sqlite3.Connection, sink: str, column: str, n: int) -> None:
    """Add ``n`` to a sink's persisted ``dropped`` or ``delivered`` counter."""
    # ``column`` is one of two literals from the outbox's modules, never user input.
    db.execute("INSERT OR IGNORE INTO sink_counters (sink) VALUES (?)", (sink,))
    db.execute(f"UPDATE sink_counters SET {column} = {column} + ? WHERE sink = ?", (n, sink))


class Reclaimer:
    """Gives the free pages of an outbox file back to the file system, a step at a time."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._page_size: int = db.execute("PRAGMA page_size").fetchone()[0]
        # False only while an old file's upgrade has failed: incremental_vacuum would do nothing.
        self.enabled = db.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL

    def reclaim(self) -> None:
        """Give free pages back once there are enough of them (lock held, outside a
        transaction); see the module docstring."""
        if not self.enabled:
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
            # another process's lock is said once per episode by the outbox
            log.log(logging.DEBUG if is_locked(e) else logging.WARNING,
                    "outbox: could not give back %d free page(s): %s", pages, e)
