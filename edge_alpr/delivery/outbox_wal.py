"""The outbox's ``-wal`` log on a disk that was full: truncated, and checked for room before a write.

Why a module of its own: the events held in memory (``outbox_held.py``), those waiting beside the
file for another process's lock (``outbox_hold.py``) and the reserve that makes the held durable
(``outbox_reserve.py``) all ask it whether the disk has room for a write.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ..statedir import free_bytes
from .outbox_waiting import Row

# The outbox's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.delivery.outbox")

DEFAULT_PAGES = 1000  # SQLite's wal_autocheckpoint
TIGHT_PAGES = 16  # after a full disk, until ROOMY_BYTES are free
ROOMY_BYTES = 8 * 1024 * 1024  # twice the log's default checkpoint (4 MB), once none is held
ONE_ROW_ROOM = 1.2  # a chunk of one row is tried with this many times its size free (the log's pages)


class WalRoom:
    """The ``-wal`` log on a disk that was full (the outbox's lock held for each call).

    Why: SQLite checkpoints on its own at 1000 pages (~4 MB) and then reuses the log without
    shrinking it, so on a disk with less free than that the log takes every byte freed and the
    next write (an acknowledgement, a ``put``) finds the disk full again (measured on a 2 MiB
    tmpfs: of 40 events, 6 acknowledgements took the 312 KB freed, ~50 KB of log each; with this,
    all 40 went in and the log ended at 99 KB).  So after a full disk
    the log is moved into the file and truncated (``PRAGMA wal_checkpoint(TRUNCATE)``), before
    the next write until that succeeds (it fails while the disk is full to the last byte: the
    file grows first), and SQLite checkpoints every ``TIGHT_PAGES`` pages until the disk has
    ``ROOMY_BYTES`` free again (``relax``, each second)."""

    def __init__(self, db: sqlite3.Connection, folder: Path) -> None:
        self._db = db
        self._folder = folder
        self._full = False  # a full disk seen, the log not truncated since
        self._tight = False  # checkpoints every TIGHT_PAGES
        self._by_hand = False  # SQLite's own checkpoints off (``by_hand``)

    def full(self) -> None:
        """A write found the disk full."""
        self._full = True

    def truncate(self, always: bool = False) -> bool:
        """Before a write: truncate the log if the disk was full since (or ``always``); whether it
        was.  It never waits for another process's lock (that write would wait twice): a
        checkpoint it blocks is tried again before the next write."""
        if not (self._full or always):
            return False
        (wait,) = self._db.execute("PRAGMA busy_timeout").fetchone()
        try:
            self._db.execute("PRAGMA busy_timeout=0")
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not (self._tight or self._by_hand):
                self._db.execute(f"PRAGMA wal_autocheckpoint={TIGHT_PAGES}")
        except sqlite3.Error as e:
            log.debug("outbox: checkpoint on a full disk failed: %s", e)
            return False
        finally:
            self._db.execute(f"PRAGMA busy_timeout={int(wait)}")
        self._full, self._tight = bool(busy), True
        return not busy

    def room_for(self, rows: list[Row], pages: bool = False) -> bool:
        """Whether the disk has room for ``rows`` three times (the log, then the file, with their
        pages' overhead), the file's free pages counted where ``pages``; True where that is
        unknown (the write then says).  A single row needs ``ONE_ROW_ROOM`` times its size, free
        pages counted: it cannot be split, and three times a 1 MiB scene blocked every event
        behind it until 3 MiB were free."""
        free = free_bytes(self._folder)
        size = sum(row[5] for row in rows)
        if free is None or free > 3 * size:
            return True
        if len(rows) != 1 and not pages:
            return False
        try:
            (count,) = self._db.execute("PRAGMA freelist_count").fetchone()
            (page,) = self._db.execute("PRAGMA page_size").fetchone()
        except sqlite3.Error:
            count = page = 0
        return free + int(count) * int(page) > (ONE_ROW_ROOM if len(rows) == 1 else 3) * size

    def free(self) -> int | None:
        """The bytes free on the disk under the file (None: unknown)."""
        return free_bytes(self._folder)

    @contextmanager
    def by_hand(self) -> Iterator[None]:
        """SQLite's own checkpoints off while ``flush`` truncates the log itself (after the first
        full disk they ran every ``TIGHT_PAGES``: at each of its transactions, two fsyncs more)."""
        try:
            self._by_hand = True
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            yield
        finally:
            self._by_hand = False
            with suppress(sqlite3.Error):
                self._db.execute(f"PRAGMA wal_autocheckpoint={TIGHT_PAGES if self._tight else DEFAULT_PAGES}")

    def relax(self, held: bool) -> None:
        """Checkpoint as SQLite does by default once the disk has room again: ``ROOMY_BYTES`` free,
        none ``held`` and the log truncated (a small partition may never have more free)."""
        free = free_bytes(self._folder) if self._tight and not held and not self._full else None
        if free is not None and free > ROOMY_BYTES:
            with suppress(sqlite3.Error):
                self._db.execute(f"PRAGMA wal_autocheckpoint={DEFAULT_PAGES}")
                self._tight = False
