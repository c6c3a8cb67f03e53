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
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import InputError
from .statedir import writing_state

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
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # see the module docstring
        self._db.execute("PRAGMA busy_timeout=5000")
        # a few pages of counters: checkpoint often and trim the -wal file after each checkpoint,
        # or it stays at SQLite's default 4 MB beside a 16 kB database on a small SD card
        self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def take(self) -> UsageSnapshot:
        """Count one call, or raise ``InputError`` (403) when the month's quota is used up, or
        ``StateError`` when the state folder's file system is full (the call is not counted)."""
        now = self._clock()
        period = f"{now.year:04d}-{now.month:02d}"
        with self._lock, writing_state(self.path.parent):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # One upsert counts the call unless the quota is used up (then no row comes back);
                # RETURNING saves the separate SELECTs: four statements in all, as few as the
                # two counters allow.
                row = self._db.execute(
                    "INSERT INTO usage_month (period, calls) VALUES (?1, 1) "
                    "ON CONFLICT(period) DO UPDATE SET calls = calls + 1 "
                    "WHERE ?2 = 0 OR calls < ?2 RETURNING calls", (period, self.max_calls)).fetchone()
                if row is None:
                    calls = self._month_calls(period)
                    raise InputError(
                        f"Monthly call limit reached ({calls} of max_calls {self.max_calls}); "
                        f"it resets on {self._snapshot(now, calls).resets_on}. Raise "
                        "usage.max_calls in the config (0 = unlimited) to allow more.",
                        status=403,
                    )
                (total,) = self._db.execute(
                    "UPDATE usage_total SET calls = calls + 1 WHERE id = 1 RETURNING calls").fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite ends it itself on a full disk: its error stands
                    self._db.execute("ROLLBACK")
                raise
        return UsageSnapshot(year=now.year, month=now.month, calls=int(row[0]),
                             lifetime_calls=int(total), max_calls=self.max_calls or None)

    def snapshot(self) -> UsageSnapshot:
        """Current counters without counting a call."""
        now = self._clock()
        with self._lock:
            calls = self._month_calls(f"{now.year:04d}-{now.month:02d}")
            return self._snapshot(now, calls)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _month_calls(self, period: str) -> int:
        row = self._db.execute("SELECT calls FROM usage_month WHERE period = ?", (period,)).fetchone()
        return int(row[0]) if row else 0

    def _snapshot(self, now: datetime, calls: int) -> UsageSnapshot:
        (total,) = self._db.execute("SELECT calls FROM usage_total WHERE id = 1").fetchone()
        return UsageSnapshot(year=now.year, month=now.month, calls=calls, lifetime_calls=int(total),
                             max_calls=self.max_calls or None)
