"""Recognition call counters: per calendar month (UTC) and in total, in SQLite (WAL).

Why SQLite: a device is unplugged without warning; each increment is one committed
transaction, so the counters survive a restart or a SIGKILL, and several threads (HTTP
workers, the camera loop) can count at once without losing calls.  ``synchronous=NORMAL``
(WAL): a commit is safe from a process crash at once and from a power cut at the next WAL
checkpoint; this keeps an fsync (tens of ms on an SD card) out of every request, at the cost
of possibly losing the last few counts on a power cut.  The database is never corrupted.

The month period is keyed by ``YYYY-MM`` of the UTC clock, so the counter "resets" at the
month boundary simply by starting a new row; the old months stay for the record.  With
``max_calls`` > 0, ``take()`` refuses a call beyond the quota with ``InputError(..., 403)``,
which the API turns into a 403 with a JSON ``detail`` as the reference describes.

Another process holding the file locked (a backup tool, a ``sqlite3`` shell with a transaction
open: ``db_lock.py``) fails no call: a count waits ``WRITE_WAIT_MS`` for the lock, then is kept
in memory (the quota still applies, to the counts read plus those kept) and written with the next
count, or snapshot, once it lets go; said once per episode with the holder.  Only counts still
kept at ``close`` are lost (said).  Opening a locked file raises ``DatabaseLocked`` (exit 1).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import db_lock
from .db_lock import LockEpisode, busy_timeout, immediate, is_locked, opening
from .errors import InputError
from .state_watch import copy_database
from .statedir import writing_state

log = logging.getLogger(__name__)

WHAT = "the usage database"  # in the lines that name its file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_month (period TEXT PRIMARY KEY, calls INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS usage_total (id INTEGER PRIMARY KEY CHECK (id = 1), calls INTEGER NOT NULL);
INSERT OR IGNORE INTO usage_total (id, calls) VALUES (1, 0);
"""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


# What the API reports as the period's limit when no quota is configured: the reference defines
# ``max_calls`` and ``total_calls`` as integers ("maximum number of API calls you can make during
# the period"), and clients compute the calls left as ``total_calls - calls``; null breaks that
# arithmetic and 0 would read as "none left".  The largest 32-bit integer reads as unlimited.
UNLIMITED_CALLS = 2**31 - 1


@dataclass(frozen=True)
class UsageSnapshot:
    """Counters at one instant; ``max_calls`` is ``None`` when there is no quota.

    ``lifetime_calls`` counts every call since the counters were created (never reset).
    """

    year: int
    month: int
    calls: int
    lifetime_calls: int
    max_calls: int | None

    @property
    def limit(self) -> int:
        """The period's call limit as the API reports it (``UNLIMITED_CALLS`` without a quota)."""
        return self.max_calls or UNLIMITED_CALLS

    @property
    def resets_on(self) -> str:
        """First instant of the next month, in the reference's ``...Z`` format."""
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return f"{year:04d}-{month:02d}-01T00:00:00Z"

    def statistics(self) -> dict[str, object]:
        """Body of ``GET /v1/statistics/``: ``total_calls`` is the period's limit, as in the reference."""
        return {
            "usage": {"month": self.month, "year": self.year, "calls": self.calls,
                      "resets_on": self.resets_on},
            "total_calls": self.limit,
        }

    def short(self) -> dict[str, int]:
        """The ``usage`` object of plate-reader responses and ``/info/``."""
        return {"calls": self.calls, "max_calls": self.limit}


WAL_CHECKPOINT_PAGES = 64  # the -wal file is checkpointed at this many pages (SQLite's default: 1000)
WAL_LIMIT_BYTES = 256 * 1024  # and trimmed to this after a checkpoint


class Usage:
    """Thread-safe persistent counters; see the module docstring."""

    def __init__(self, path: str | Path, max_calls: int = 0,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.path = Path(path)
        self.max_calls = max_calls
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with opening(self.path, WHAT):
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                       timeout=db_lock.BUSY_TIMEOUT_MS / 1000)
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # see the module docstring
                # a few pages of counters: checkpoint often and trim the -wal file after each checkpoint,
                # or it stays at SQLite's default 4 MB beside a 16 kB database on a small SD card
                self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
                self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
                self._db.executescript(_SCHEMA)
            except BaseException:
                self._db.close()
                raise
        busy_timeout(self._db, db_lock.WRITE_WAIT_MS)
        self._lock = threading.Lock()
        self._episode = LockEpisode(self._db, log, "usage", self.path, WHAT)
        self._kept: Counter[str] = Counter()  # per month: calls counted while another process held the file
        self._read = (0, 0)  # the month's calls and the total as last read (while even reads fail)

    def take(self) -> UsageSnapshot:
        """Count one call, or raise ``InputError`` (403) when the month's quota is used up, or
        ``StateError`` when the state folder's file system is full (the call is not counted).
        While another process holds the file locked the call is counted in memory."""
        now = self._clock()
        period = f"{now.year:04d}-{now.month:02d}"
        with self._lock, writing_state(self.path.parent):
            try:
                counted = self._write(period)
            except sqlite3.Error as e:
                if not is_locked(e):
                    raise
                return self._keep(now, period, e)
            if counted is None:
                raise self._used_up(now, self._month_calls(period))
        return UsageSnapshot(year=now.year, month=now.month, calls=counted[0], lifetime_calls=counted[1],
                             max_calls=self.max_calls or None)

    def _write(self, period: str | None) -> tuple[int, int] | None:
        """One transaction (lock held): the calls kept in memory, then this one in ``period``
        unless the quota is used up (None); the month's calls and the total after it."""
        with immediate(self._db):
            for month, n in self._kept.items():  # answered already: counted whatever the quota
                self._db.execute("INSERT INTO usage_month (period, calls) VALUES (?1, ?2) "
                                 "ON CONFLICT(period) DO UPDATE SET calls = calls + ?2", (month, n))
            row = None
            if period is not None:
                # One upsert counts the call unless the quota is used up (then no row comes back);
                # RETURNING saves the separate SELECTs: as few statements as the two counters allow.
                row = self._db.execute(
                    "INSERT INTO usage_month (period, calls) VALUES (?1, 1) "
                    "ON CONFLICT(period) DO UPDATE SET calls = calls + 1 "
                    "WHERE ?2 = 0 OR calls < ?2 RETURNING calls", (period, self.max_calls)).fetchone()
            (total,) = self._db.execute("UPDATE usage_total SET calls = calls + ? WHERE id = 1 RETURNING calls",
                                        (sum(self._kept.values()) + (row is not None),)).fetchone()
        kept, self._kept = sum(self._kept.values()), Counter()
        self._episode.cleared(f"the {kept} call(s) counted meanwhile are written" if kept else "counting again")
        return (int(row[0]), int(total)) if row is not None else None

    def _keep(self, now: datetime, period: str, error: sqlite3.Error) -> UsageSnapshot:
        """Another process holds the file: the call is counted in memory (said once per
        episode), within the quota as the counts read and those kept make it."""
        try:  # reads go on beside another's write lock (WAL)
            self._read = (self._month_calls(period), self._total())
        except sqlite3.Error as e:
            log.debug("usage: counters not read: %s", e)
        calls, total = self._read[0] + self._kept[period], self._read[1] + sum(self._kept.values())
        self._episode.locked(error, "calls are counted in memory meanwhile and written once it lets go")
        if self.max_calls and calls >= self.max_calls:
            raise self._used_up(now, calls)
        self._kept[period] += 1
        return UsageSnapshot(year=now.year, month=now.month, calls=calls + 1, lifetime_calls=total + 1,
                             max_calls=self.max_calls or None)

    def snapshot(self) -> UsageSnapshot:
        """Current counters without counting a call (those kept in memory included, and
        written where the lock has gone)."""
        now = self._clock()
        period = f"{now.year:04d}-{now.month:02d}"
        with self._lock:
            if self._kept:
                try:
                    self._write(None)
                except sqlite3.Error as e:
                    log.debug("usage: counts kept in memory not written yet: %s", e)
            calls = self._month_calls(period) + self._kept[period]
            return self._snapshot(now, calls)

    def save_to(self, path: Path) -> bool:
        """Copy the open file to ``path`` where nothing is (its folder deleted: state_watch)."""
        return copy_database(self._db, self._lock, path)

    def close(self) -> None:
        with self._lock:
            if self._kept:
                try:
                    self._write(None)
                except sqlite3.Error as e:
                    why = self._episode.text() if is_locked(e) else str(e)
                    log.warning("usage: %d call(s) counted while %s was locked not written: %s",
                                sum(self._kept.values()), self.path, why)
            self._db.close()

    def _month_calls(self, period: str) -> int:
        row = self._db.execute("SELECT calls FROM usage_month WHERE period = ?", (period,)).fetchone()
        return int(row[0]) if row else 0

    def _total(self) -> int:
        (total,) = self._db.execute("SELECT calls FROM usage_total WHERE id = 1").fetchone()
        return int(total)

    def _snapshot(self, now: datetime, calls: int) -> UsageSnapshot:
        return UsageSnapshot(year=now.year, month=now.month, calls=calls,
                             lifetime_calls=self._total() + sum(self._kept.values()), max_calls=self.max_calls or None)

    def _used_up(self, now: datetime, calls: int) -> InputError:
        resets_on = UsageSnapshot(now.year, now.month, calls, 0, None).resets_on
        return InputError(f"Monthly call limit reached ({calls} of max_calls {self.max_calls}); it resets on "
                          f"{resets_on}. Raise usage.max_calls in the config (0 = unlimited) to allow more.",
                          status=403)
