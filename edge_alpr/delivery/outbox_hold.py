"""How the outbox writes on a disk that may be full (``Outbox`` inherits it; its lock held for each
call): the events held in memory first, in small transactions, then the new ones behind them.

Why a module of its own: the outbox's writes on a full disk (``outbox_held.py``) meet another
process's lock too (``outbox_waiting.py``), and each case keeps the events' order and never
raises where the service runs on: ``follow_clock`` and ``close`` go on whatever the disk does.
"""

from __future__ import annotations

import errno
import logging
import math
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from .. import db_lock
from ..db_lock import LockEpisode, busy_timeout, is_locked
from ..errors import StateError
from ..statedir import full_text
from .outbox_held import ALL, CLOSING, EACH_SECOND, Held, Pace, chunk_of, flush
from .outbox_reserve import Reserve
from .outbox_waiting import Row, WaitingFile
from .outbox_wal import WalRoom

# The outbox's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.delivery.outbox")


class HoldingWrites:
    """The outbox's writes that hold events in memory on a full disk (``outbox.Outbox``'s base)."""

    path: Path
    max_rows: int
    max_bytes: int
    _held: Held
    _wal: WalRoom
    _waiting: WaitingFile
    _reserve: Reserve
    _episode: LockEpisode
    _db: sqlite3.Connection
    _waiting_tried = -math.inf  # when the log was last truncated to make room for the waiting events

    def _write(self, rows: list[Row], refused: Counter[str], waiting: bool = True) -> None:
        """One transaction: the waiting rows (unless not ``waiting``), then ``rows`` (``Outbox._write``)."""
        raise NotImplementedError

    def _waiting_in(self) -> None:
        """Before a read: the events that waited for another process's lock go in, all at once,
        where the disk has room for them (``_move_waiting``); else they wait on in their file (the
        read goes on), and an error raises."""
        if self._waiting and self._move_waiting() is None:
            self._write([], Counter())

    def _waiting_at_start(self) -> None:
        """At a start: the events the last run kept beside the file go in as at a read
        (``_waiting_in``: all at once, where the disk has room for them), else they stay in their
        file, said; another error raises.  Before, they went in in one transaction whatever the
        room: with less free than they need it took the disk to 0 bytes and failed, and the
        outbox could not open until space was freed."""
        try:
            self._waiting_in()
        except sqlite3.Error as e:
            if (why := self._full(e)) is None:
                raise
            self._wal.full()
            log.warning("outbox: %d event(s) stay in %s (%s); they go into the outbox once there is room",
                        len(self._waiting), self._waiting.path, why)

    def _leave_waiting(self) -> None:
        """At ``close``: the events waiting beside the file go in where it is free, else stay (said)."""
        if self._waiting:
            try:
                self._write([], Counter())
            except sqlite3.Error as e:
                why = self._episode.text() if is_locked(e) else str(e)
                log.warning("outbox: %d event(s) stay in %s (%s); they go into the outbox at the next start",
                            len(self._waiting), self._waiting.path, why)

    def _move_waiting(self) -> str | None:
        """Whether the waiting events may go in (None: the next write takes them all, in its one
        transaction, and deletes their file), else why not yet ("": no room, said once).  They
        need three times their size free (the log, then the file, with their pages' overhead),
        free pages of the file counted, the log truncated first (at most once a second); until
        then they stay in their file (on disk) and newer events go in ahead of them.

        Why all at once: a chunk moved in, delivered and acknowledged (deleted) while the file
        still listed it went in again at the next start (48 of 101 delivered twice after a stop);
        and in one transaction with less freed than they need, each attempt took the disk to 0
        bytes free and every delivery read raised."""
        rows = self._waiting.rows
        if self._wal.room_for(rows, pages=True):
            return None
        if time.monotonic() - self._waiting_tried < 1.0:  # a truncation is an fsync: not at every put
            return ""
        self._waiting_tried = time.monotonic()
        self._wal.truncate(always=True)
        if self._wal.room_for(rows, pages=True):
            return None
        self._held.blocked(rows, self._wal.free(), self._waiting.path)
        return ""

    def _write_or_hold(self, rows: list[Row], refused: Counter[str], pace: Pace = ALL) -> None:
        """``_write`` the events held (``outbox_held.flush``: oldest first, in small transactions),
        then ``rows`` behind them (lock held); on a full disk the ``-wal`` is checkpointed and the
        write tried once more (``outbox_wal.WalRoom``), then ``rows`` are held in memory, behind
        any still held, and the reserve is freed to write them at once (``_spend_reserve``).
        While another process holds the file the held wait beside it ahead of ``rows`` (in
        memory still, where the disk is too full for that file)."""
        pending, counted = rows, refused  # not yet held, and not yet counted as dropped
        try:
            # waiting events without room yet stay in their file (on disk); newer ones go in
            # meanwhile, ahead of them, not held in memory behind them (a 5.6 MB file held back
            # 1,100 events with 14 MB free: 100 dropped, the rest lost at the stop)
            take = not self._waiting or self._move_waiting() is None

            def write(chunk: list[Row]) -> None:
                self._write(chunk, Counter(), take)

            why = None
            if self._held:
                why = flush(self._held, self._wal, write, self._full, pace)
            if why is None and (rows or refused):
                why = self._write_new(rows, refused, take)
            if why is not None:
                self._waiting.dropped.update(refused)
                self._held.add(rows, self._waiting.dropped, None)
                pending, counted = [], Counter()
                if (left := self._spend_reserve(why, pace, write)) is not None:
                    self._held.tell(left or why or self._no_room())
        except sqlite3.Error as e:
            if not is_locked(e):
                raise
            moving = [*self._held.rows, *pending]
            try:
                self._keep_waiting(moving, counted, e)
            except StateError:
                if not self._held:
                    raise
                self._episode.locked(e, f"events wait in memory: {self._waiting.path} cannot be written either")
                self._waiting.dropped.update(counted)
                return self._held.add(pending, self._waiting.dropped, "")
            self._held.take()

    def _keep_waiting(self, moving: list[Row], counted: Counter[str], error: sqlite3.Error) -> None:
        """Another process holds the file (``error``): ``moving`` wait beside it
        (``WaitingFile.keep``).  Where the disk is too full for that file the reserve is freed
        and it is tried once more: before, the event was lost (``StateError``) where without the
        reserve it would have waited there.  ``StateError`` where it still cannot be written."""
        for retry in (True, False):
            try:  # where the disk has no room for them, a torn line would be all it got
                if self._held and not self._wal.room_for(moving):
                    raise StateError(f"no room for {self._waiting.path}")
                self._waiting.keep(moving, counted, error, self._episode, (self.max_rows, self.max_bytes))
                return
            except StateError as e:
                full = e.__cause__ is None or getattr(e.__cause__, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
                if not (retry and full and (freed := self._reserve.free())):
                    raise
                log.error("outbox: state_dir %s: the file system is full (%s); freed %s (%d bytes, kept for this) so "
                          "that %d event(s) wait on disk in %s for another process's lock to go; %s is made again "
                          "once nothing waits or is held and %d bytes are free", self.path.parent,
                          e.__cause__ or "no room", self._reserve.path, freed, len(moving), self._waiting.path,
                          self._reserve.path.name, 2 * self._reserve.size)

    def _spend_reserve(self, why: str, pace: Pace, write: Callable[[list[Row]], None]) -> str | None:
        """The held found no room (``why``): free the reserve and write them at once (where it has
        not been freed since it was last made, and not where only the ``pace`` stopped them);
        None once all are in, else why not (``outbox_held.flush``).  Said once, at error level."""
        if not self._held or (pace is EACH_SECOND and not why and self._wal.room_for(chunk_of(self._held.rows))):
            return why
        freed = self._reserve.free()
        if not freed:
            return why
        before = len(self._held)
        left = flush(self._held, self._wal, write, self._full, CLOSING if pace is CLOSING else ALL)
        log.error("outbox: %s; freed %s (%d bytes, kept for this) and wrote %d of the %d event(s) held in memory "
                  "into the outbox (on disk now; %d still held); newer events go in until that space is used "
                  "too, then are held in memory, where a crash, kill -9 or power cut loses them; %s is made "
                  "again once nothing is held and %d bytes are free", why or self._no_room(),
                  self._reserve.path, freed, before - len(self._held), before, len(self._held),
                  self._reserve.path.name, 2 * self._reserve.size)
        return left

    def _no_room(self) -> str:
        """What a disk with no room for the held is said as, where no write failed (none was tried)."""
        return (f"state_dir {self.path.parent}: the file system is full ({self._wal.free()} bytes free, too few "
                "for the events held in memory); free space there")

    def _write_new(self, rows: list[Row], refused: Counter[str], waiting: bool = True) -> str | None:
        """``_write`` ``rows`` (the waiting ones first, where ``waiting``), once more after a
        checkpoint where the disk is full; None once written, else why the disk is full."""
        for retry in (True, False):
            try:
                self._wal.truncate()
                self._write(rows, refused, waiting)
                return None
            except sqlite3.Error as e:
                if (why := self._full(e)) is None:
                    raise
                self._wal.full()
                if not (retry and self._wal.truncate()):
                    return why
        return None

    def _full(self, error: sqlite3.Error) -> str | None:
        """What a full disk under the file is said as, where ``error`` is one."""
        return full_text(self.path.parent, "state_dir", error)

    def _flush_held(self, wait: bool = True, pace: Pace = ALL) -> bool:
        """``write_held`` with the lock held; whether any went in.  Tried whatever the last lock
        episode said (it ends only at a write or a read, and ``close`` must not lose the held to
        one that ended meanwhile); ``wait``: another process's lock is waited for as a ``put``
        waits, else not at all (each second, ``follow_clock``); ``pace``: how much is written
        (``outbox_held.Pace``).  Never raises: still full (said),
        that lock (the held wait beside the file, or in memory), or another error (said once,
        ``Held.failed``)."""
        before = len(self._held)
        if not before:
            return False
        try:
            if not wait:
                busy_timeout(self._db, 0)
            self._write_or_hold([], Counter(), pace)
        except (sqlite3.Error, StateError, OSError) as e:
            self._held.failed(e)
        finally:  # the wait a put has now: the lock episode's (a lock met: BUSY_RETRY_MS), else its own
            if not wait:
                busy_timeout(self._db, db_lock.BUSY_RETRY_MS if self._episode.active else db_lock.WRITE_WAIT_MS)
        return len(self._held) < before
