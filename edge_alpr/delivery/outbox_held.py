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
SIGKILL or a power cut while the disk is full, unless the outbox's reserve, freed at the first
write that finds the disk full, leaves room to write them at once (``outbox_reserve.py``).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..credentials import hide_credentials
from .outbox_bounds import DropLog
from .outbox_waiting import Row
from .outbox_wal import WalRoom

# The outbox's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.delivery.outbox")

HELD_MAX_ROWS = 1000  # events held in memory while the disk is full
HELD_MAX_BYTES = 16 * 1024 * 1024  # their payloads and images (a webhook's scene is ~100 KB)
CHUNK_ROWS = 64  # held events written per transaction (each its own, oldest first)
CHUNK_BYTES = 256 * 1024  # and their bytes: one at least, whatever its size
CALL_CHUNKS = 8  # transactions of held events per second; the rest at the next
TRUNCATE_EVERY = 4  # transactions between two truncations of the log (each an fsync or more)
CLOSE_SECONDS = 0.4  # for the held, at each of a stop's two tries (what is not written is lost): stop < 2 s


class Held:
    """The events held in memory, oldest first; the caller (the outbox) holds its lock."""

    def __init__(self, max_rows: int, max_bytes: int, said: DropLog) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.rows: list[Row] = []
        self._said = said
        self._since = 0  # held in this episode (the disk full since it was said)
        self._told = False  # the full disk was said in this episode (``tell``)
        self._failing = False  # an error other than a full disk was said in this episode
        self._blocked = False  # the oldest waiting for room was said in this episode

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, rows: list[Row], dropped: Counter[str], why: str | None) -> None:
        """Hold ``rows`` after the others; the oldest past the bounds are counted in ``dropped``
        (per sink) and said.  ``why``: the full disk, said once per episode (``tell``); None:
        not yet (the outbox first frees its reserve for them, ``outbox_reserve.py``)."""
        if why is not None and rows:
            self.tell(why)
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

    def tell(self, why: str) -> None:
        """Events are held in memory since the disk is full (``why``): said once per episode."""
        if not self._told:
            self._told = True
            log.error("outbox: %s; events are held in memory (at most %d, %d bytes) and go into the outbox once "
                      "there is room", why, self.max_rows, self.max_bytes)

    def written(self) -> None:
        """All are in the outbox (said once, where their being held was)."""
        if self._told:
            log.warning("outbox: there is room again: the event(s) held in memory are in the outbox "
                        "(%d held since the disk filled)", self._since)
        self.take()

    def take(self) -> list[Row]:
        """All, moved elsewhere by the caller (beside the file, while another process holds it)."""
        rows, self.rows, self._since, self._told, self._failing, self._blocked = self.rows, [], 0, False, False, False
        return rows

    def blocked(self, chunk: list[Row], free: int | None, waiting: Path | None = None) -> None:
        """The oldest held (or those ``waiting`` in that file) wait for room on the disk: said once
        per episode, with what they need.  The held behind them wait too (in order); newer events
        go into the outbox ahead of those in the file, where there is room (``outbox_hold.py``)."""
        if not self._blocked:
            self._blocked = True
            size = sum(row[5] for row in chunk)
            sinks = ", ".join(sorted({hide_credentials(row[1]) for row in chunk}))
            if waiting is None:
                after = f"{len(self.rows) - len(chunk)} more held in memory wait behind them"
            else:
                after = (f"newer events go into the outbox ahead of them while there is room "
                         f"({len(self.rows)} held in memory now)")
            log.warning("outbox: the oldest %d event(s) %s (%d bytes, for %s) wait for room: %s bytes free; %s; "
                        "free space under state_dir", len(chunk),
                        "held in memory" if waiting is None else f"waiting in {waiting}", size, sinks, free, after)

    def failed(self, error: Exception) -> None:
        """Writing them failed other than for a full disk: said once per episode, at error level."""
        if not self._failing:
            self._failing = True
            log.error("outbox: the %d event(s) held in memory cannot be written (%s: %s); tried again each "
                      "second; check the state_dir file system (read-only? failing?)",
                      len(self.rows), type(error).__name__, error)

    def lost(self) -> None:
        """The process stops with the disk still full: the events held are lost, said per sink."""
        if self.rows:
            log.error("outbox: %d event(s) held in memory are lost at this stop, for %s: the disk is still full",
                      len(self.rows), ", ".join(f"{hide_credentials(sink)} ({n})"
                                                for sink, (n, _) in sorted(self.by_sink().items())))

    def by_sink(self) -> dict[str, tuple[int, int]]:
        """Per sink: how many are held, and their bytes."""
        out: dict[str, tuple[int, int]] = {}
        for row in self.rows:
            n, size = out.get(row[1], (0, 0))
            out[row[1]] = (n + 1, size + row[5])
        return out


def chunk_of(rows: list[Row], most: int = CHUNK_ROWS, most_bytes: int = CHUNK_BYTES) -> list[Row]:
    """The oldest of ``rows``, as many as one transaction writes (``most``, ``most_bytes``; one
    at least)."""
    size, n = rows[0][5], 1
    while n < min(most, len(rows)) and size + rows[n][5] <= most_bytes:
        size, n = size + rows[n][5], n + 1
    return rows[:n]


@dataclass(frozen=True)
class Pace:
    """How much one call writes of the held: at most ``chunks`` transactions (``chunk_of``),
    within ``seconds``; the rest go in at the next call.

    Why: each transaction is an fsync (synchronous=FULL) and the log is truncated every
    ``TRUNCATE_EVERY`` of them, so 16 MB held (63 chunks) held the outbox's lock for 1 to 5 s
    on an SD card in the once-a-second write once space came back (``EACH_SECOND``).  A ``put``
    writes them all (``ALL``): its own events go behind them, and must be on disk when it
    returns wherever the disk has room.  At a stop what is not written is lost: as many as
    ``CLOSE_SECONDS`` allow, counted with the truncations, in the same small transactions
    (``CLOSING``; 1 MB ones, with the log they left, overran it on a slow disk)."""

    chunks: int = CALL_CHUNKS
    seconds: float = math.inf


EACH_SECOND = Pace()  # the once-a-second write (``Outbox.follow_clock``)
ALL = Pace(chunks=HELD_MAX_ROWS)  # a put: one row per chunk at least, so all of them
CLOSING = Pace(chunks=HELD_MAX_ROWS, seconds=CLOSE_SECONDS)


def flush(held: Held, wal: WalRoom, write: Callable[[list[Row]], None],
          full: Callable[[sqlite3.Error], str | None], pace: Pace = ALL) -> str | None:
    """Write the ``held`` events, oldest first, one ``chunk_of`` per transaction (``write``), at
    the ``pace`` given, the log truncated before the first and every ``TRUNCATE_EVERY`` or where
    the disk has no room for what it holds and the next; None once all are in, else why the disk
    is full (``full``: that text, or None for another error, raised; "": no room, or the pace).

    Why chunks: the space freed on a full disk is often less than the events held (16 MB at most).
    In one transaction none went in, each attempt (each ``put``, each second) filled the log with
    every byte freed, for every process on that disk, and the oldest kept being dropped; and one
    that went in left a log as large as the events, which no checkpoint could move into the file.
    Now what fits goes in and the rest waits: a chunk that finds the disk full is tried once more
    only where the checkpoint left room for it three times (the log, then the file, with their
    pages' overhead), and none is tried without that room, with what the log holds since its last
    truncation (it would take the last bytes of the disk from every process)."""
    with wal.by_hand():
        return _flush(held, wal, write, full, pace)


def _flush(held: Held, wal: WalRoom, write: Callable[[list[Row]], None],
           full: Callable[[sqlite3.Error], str | None], pace: Pace) -> str | None:
    """``flush``, SQLite's own checkpoints off."""
    retried, logged, done, slowest = False, list[Row](), 0, 0.0
    until = time.monotonic() + pace.seconds
    while held.rows:
        began = time.monotonic()
        if done >= pace.chunks or began + slowest > until:  # the next, with its truncation, would overrun
            return ""
        chunk = chunk_of(held.rows)
        if not logged or done % TRUNCATE_EVERY == 0 or not wal.room_for([*logged, *chunk]):
            wal.truncate(always=True)
            logged = []
        if not wal.room_for(chunk):
            held.blocked(chunk, wal.free())
            return ""
        try:
            write(chunk)
        except sqlite3.Error as e:
            text = full(e)
            if text is None:
                raise
            wal.full()
            logged = []
            if not retried and wal.truncate() and wal.room_for(chunk):
                retried = True
                continue
            return text
        held.rows = held.rows[len(chunk):]
        logged, done = [*logged, *chunk], done + 1
        slowest = max(slowest, time.monotonic() - began)
    held.written()
    return None
