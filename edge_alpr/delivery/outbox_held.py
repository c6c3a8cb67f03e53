"""The events whose ``put`` found the disk under the outbox full: held in memory until it has room.

Why: an admin's full disk (logs that filled /var, a small partition) used to cost every event
of the outage, and a folder camera marked each file read once its event was "queued", so it was
never read again.  Now a ``put`` on a full disk keeps its events here, in order, and returns; the
outbox writes them, oldest first and ahead of any newer event, at its next ``put`` and each
second (``Outbox.follow_clock``), and at ``close`` where the disk has room by then.  The outage
is said once, at error level, with the folder, the space left and the fix; its end once too.

Bounded, since memory on a Raspberry Pi is small: ``HELD_MAX_ROWS`` events and ``HELD_MAX_BYTES``
(payloads plus images; never more than the outbox's own ``max_rows`` and ``max_bytes``).  Past
either, the oldest make way: counted in their sink's ``dropped`` (in the file at the next write
that fits) and logged as the outbox's bounds are.  What stays: memory is lost to a crash, a
SIGKILL or a power cut while the disk is full (``docs/fleet.md``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from contextlib import suppress
from pathlib import Path

from ..credentials import hide_credentials
from ..statedir import free_bytes
from .outbox_bounds import DropLog
from .outbox_waiting import Row

# The outbox's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.delivery.outbox")

HELD_MAX_ROWS = 1000  # events held in memory while the disk is full
HELD_MAX_BYTES = 16 * 1024 * 1024  # their payloads and images (a webhook's scene is ~100 KB)
DEFAULT_PAGES = 1000  # SQLite's wal_autocheckpoint
TIGHT_PAGES = 16  # after a full disk, until ROOMY_BYTES are free
ROOMY_BYTES = 16 * 1024 * 1024  # four times the log's default checkpoint (4 MB)


class Held:
    """The events held in memory, oldest first; the caller (the outbox) holds its lock."""

    def __init__(self, max_rows: int, max_bytes: int, said: DropLog) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.rows: list[Row] = []
        self._said = said
        self._since = 0  # held in this episode (the disk full since it was said)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, rows: list[Row], dropped: Counter[str], why: str) -> None:
        """Hold ``rows`` after the others; the oldest past the bounds are counted in ``dropped``
        (per sink) and said.  ``why``: the full disk, said once per episode."""
        if not self._since and rows:
            log.error("outbox: %s; events are held in memory (at most %d, %d bytes) and go into the outbox once "
                      "there is room", why, self.max_rows, self.max_bytes)
        self._since += len(rows)
        kept = [*self.rows, *rows]
        over = max(0, len(kept) - self.max_rows)
        total = sum(row[5] for row in kept[over:])
        while over < len(kept) and total > self.max_bytes:
            total -= kept[over][5]
            over += 1
        gone = Counter(row[1] for row in kept[:over])
        dropped.update(gone)
        for sink, n in gone.items():
            self._said.dropped(sink, n, f"the disk is full and {self.max_rows} events or {self.max_bytes} bytes "
                                        "are held in memory")
        self.rows = kept[over:]

    def written(self) -> None:
        """All are in the outbox (said once, where the disk was full)."""
        if self._since:
            log.warning("outbox: there is room again: the %d event(s) held in memory are in the outbox "
                        "(%d held since the disk filled)", len(self.rows), self._since)
        self.rows, self._since = [], 0

    def lost(self) -> None:
        """The process stops with the disk still full: the events held are lost, said."""
        if self.rows:
            log.error("outbox: %d event(s) held in memory are lost at this stop, for %s: the disk is still full",
                      len(self.rows), ", ".join(sorted(map(hide_credentials, self.by_sink()))))

    def by_sink(self) -> dict[str, tuple[int, int]]:
        """Per sink: how many are held, and their bytes."""
        out: dict[str, tuple[int, int]] = {}
        for row in self.rows:
            n, size = out.get(row[1], (0, 0))
            out[row[1]] = (n + 1, size + row[5])
        return out


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

    def full(self) -> None:
        """A write found the disk full."""
        self._full = True

    def truncate(self) -> bool:
        """Before a write: truncate the log if the disk was full since; whether it was."""
        if not self._full:
            return False
        try:
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not self._tight:
                self._db.execute(f"PRAGMA wal_autocheckpoint={TIGHT_PAGES}")
        except sqlite3.Error as e:
            log.debug("outbox: checkpoint on a full disk failed: %s", e)
            return False
        self._full, self._tight = bool(busy), True
        return not busy

    def relax(self) -> None:
        """Checkpoint as SQLite does by default once the disk has room again."""
        if not self._tight:
            return
        free = free_bytes(self._folder)
        if free is not None and free > ROOMY_BYTES:
            with suppress(sqlite3.Error):
                self._db.execute(f"PRAGMA wal_autocheckpoint={DEFAULT_PAGES}")
                self._tight = False
