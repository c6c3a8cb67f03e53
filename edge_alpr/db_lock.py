"""A SQLite database of the service that another process holds locked: how long a write waits for
the lock, how the error is told, and what is said, once per episode.

Why: a backup tool, a ``sqlite3`` shell with a transaction open, or a second edge-alpr on the same
files takes SQLite's write lock; SQLite says only ``database is locked``, after its busy timeout.
The history (``history/store.py``), the outbox (``delivery/outbox.py``) and the usage counters
(``usage.py``) each keep what they could not write (events, counts) and write it once the lock
goes; what they share is here:

* ``BUSY_TIMEOUT_MS`` at open (a start waits that long for a lock, then exits 1: retried by the
  unit), ``WRITE_WAIT_MS`` for a running write (a camera or an HTTP request must not stall 5 s:
  past it the write is kept for later), ``BUSY_RETRY_MS`` while an episode lasts.
* ``is_locked``: whether an error is that lock.
* ``immediate``: one write transaction, rolled back on any error.
* ``opening``: a lock met while opening becomes ``DatabaseLocked`` naming the file and the holder.
* ``LockEpisode``: one warning when the lock is first met (the holder from ``/proc/locks``,
  ``lock_holder.py``), one line when it goes, and the busy timeout of each phase.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import DatabaseLocked
from .lock_holder import locked_text

SQLITE_BUSY, SQLITE_LOCKED = 5, 6  # sqlite3.h: "database is locked", "database table is locked"
BUSY_TIMEOUT_MS = 5000  # opening a database: how long another's lock is waited for (Python's default)
WRITE_WAIT_MS = 500  # a running write of the outbox or the usage counters: then it is kept for later
BUSY_RETRY_MS = 100  # the same while an episode lasts: each event or count tries once, briefly

log = logging.getLogger(__name__)


def is_locked(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's ``database is locked`` (busy: another connection writes)."""
    if not isinstance(error, sqlite3.Error):
        return False
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # an extended code's primary one
    return code in (SQLITE_BUSY, SQLITE_LOCKED) or "database is locked" in str(error)


@contextmanager
def opening(database: Path, what: str, setting: str = "state_dir") -> Iterator[None]:
    """Around opening ``database`` (``what`` it is): another process's lock becomes
    ``DatabaseLocked`` naming the file, its holder and the fix; any other error passes."""
    try:
        yield
    except sqlite3.Error as e:
        if not is_locked(e):
            raise
        raise DatabaseLocked(f"{setting}: cannot open {what}: {locked_text(database, what, setting)}") from e


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (the caller holds its lock); ``ROLLBACK`` on any error.
    Immediate: the write lock is taken at the start, so another process's lock is met there,
    before any statement ran."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # a failed COMMIT (a full disk) ended it: that error stands
            db.execute("ROLLBACK")
        raise


def busy_timeout(db: sqlite3.Connection, ms: int) -> None:
    """Set how long ``db``'s writes wait for another's lock (the caller holds its lock)."""
    try:
        db.execute(f"PRAGMA busy_timeout={int(ms)}")
    except sqlite3.Error as e:  # a closed database: the next write says so
        log.debug("busy_timeout not set: %s", e)


class LockEpisode:
    """The lock of another process on one database, from the first write it fails to the first it
    lets through: said once each way, whatever the number of writes between (not thread-safe:
    the caller serialises its writers)."""

    def __init__(self, db: sqlite3.Connection, logger: logging.Logger, name: str, database: Path,
                 what: str) -> None:
        self._db = db
        self._log = logger
        self._name = name  # the lines' prefix: "outbox", "usage"
        self.database = database
        self.what = what  # "the outbox database"
        self._since: float | None = None

    @property
    def active(self) -> bool:
        """Whether the lock was met and no write has gone through since."""
        return self._since is not None

    def text(self) -> str:
        """Who holds the database where ``/proc/locks`` says, and the fix."""
        return locked_text(self.database, self.what, "state_dir")

    def locked(self, error: sqlite3.Error, meanwhile: str) -> None:
        """A write met the lock: the first of the episode is said (the file, the holder, the fix,
        and what is done ``meanwhile``); the next writes wait ``BUSY_RETRY_MS`` only."""
        if self._since is None:
            self._since = time.monotonic()
            self._log.warning("%s: %s: %s; %s", self._name, error, self.text(), meanwhile)
            busy_timeout(self._db, BUSY_RETRY_MS)

    def cleared(self, done: str) -> None:
        """A write went through: the end of an episode is said, with what was ``done`` then."""
        if self._since is not None:
            self._log.warning("%s: %s is writable again after %.0f s; %s", self._name, self.database,
                              time.monotonic() - self._since, done)
            self._since = None
            busy_timeout(self._db, WRITE_WAIT_MS)
