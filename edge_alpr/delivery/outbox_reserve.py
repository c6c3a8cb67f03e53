"""A file of real bytes kept beside the outbox, freed when the disk fills so that the events held
in memory go into the outbox at once, on disk.

Why: on a full disk under ``state_dir`` a ``put`` holds its events in memory (``outbox_held.py``)
until there is room, and a crash, a ``kill -9`` or a power cut meanwhile lost them all.  With
``outbox.reserve`` (``RESERVE_BYTES``, written with random bytes so that no file system stores
it sparse or compressed) the first write that finds the disk full deletes it and writes the held
events into the outbox in the space it leaves: they are on disk before that ``put`` returns, and
so are the events put after them until that space is used too.  It is said once, at error level,
with the path and the fix; once nothing is held and the disk has ``2 * RESERVE_BYTES`` free the
file is made again (each second, ``Outbox.follow_clock``), so that what it takes never leaves the
disk with less than its own size free.  The events that wait beside the outbox for another
process's lock (``outbox_waiting.py``) free it too where their file finds the disk full.

It holds no data: deleting it by hand (to free space) loses nothing, and it is no state file that
``state_watch.py`` watches.  Its name keeps it out of an ``outbox.sqlite*`` backup.

Only a regular file is ours: a folder or a link at ``outbox.reserve`` or ``outbox.reserve.tmp``
(an admin's, a restore's) is left as it is, never written through, deleted or counted as freed
(said once; no reserve is made while it is there).  A make that fails (a read-only file system,
an immutable file, a quota) is said once and tried again every ``RETRY_S``, not each second:
4 MiB written and fsynced each second wore an SD card for nothing.  One stopped by another
writer filling the disk is tried again once there is room (the room it needs gates it).  A make
writes and fsyncs outside the lock that ``free`` takes, so a ``put`` finding the disk full never
waits for it: ``free`` deletes (and empties) the half-made file and the make stops without
renaming it.  A stop (SIGTERM: ``stop``) ends a make the same way at its next piece or before its
fsync, and no make starts after it; ``serve`` makes it on a thread of its own, so that a stop
during a make on a slow card is handled at once (a ``tmp`` left by a make cut in its fsync is
deleted by the next make or ``free``).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import stat
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from ..statedir import free_bytes
from .outbox_waiting import sync_folder

# The outbox's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.delivery.outbox")

# 4 MiB: a full hold of MQTT events (1000 of ~0.7 KB) with the three times their size that the
# held's writes need (the log, then the file, with their pages' overhead), or ~40 webhook events
# with 100 KB scenes (39 measured, docs/fleet.md); 0.01% of a 32 GB SD card, and less than the 8
# MiB free after which the log is checkpointed as by default again (``outbox_wal.ROOMY_BYTES``)
RESERVE_BYTES = 4 * 1024 * 1024
WRITE_BYTES = 256 * 1024  # written a piece at a time: never 4 MiB of random bytes in memory at once
RETRY_S = 600.0  # after a make that failed: not tried again before (each an up to 4 MiB write)
FOREIGN = -1  # ``_size``: something other than a regular file is at the path
CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Reserve:
    """``outbox.reserve`` beside the outbox (``size`` bytes; 0: none).  Thread-safe: it is made
    outside the outbox's lock (``make``: up to 4 MiB written and fsynced, outside its own lock
    too) and freed under it (``free``, which never waits for a make).  ``clock``: a clock that
    never steps, for ``RETRY_S``."""

    def __init__(self, path: Path, size: int = RESERVE_BYTES, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.size = size
        self._clock = clock
        self._lock = threading.Lock()  # held for a stat, a rename or a deletion, never a write
        self._used = False  # freed for the held since it was last made (said when made again)
        self._making = False  # a make writes ``tmp`` now
        self._cancelled = False  # ``free`` or ``stop`` ended the make in progress: no rename
        self._stopped = False  # the process stops: no make any more
        self._retry_at = -math.inf  # a make failed: not tried again before this
        self._said: set[str] = set()  # "foreign", "failed": said once, until it is made

    def make(self) -> bool:
        """Make the file where it is not there at its size (never made, freed, or deleted by hand)
        and the disk has twice its size free; whether it is there now.  Never raises: a failure
        is said once, at warning level, and tried again after ``RETRY_S``."""
        if self.size <= 0:
            return False
        try:
            with self._lock:
                if not self._may_make():
                    return (self._size(self.path) or 0) >= self.size
                self._making, self._cancelled = True, False
        except OSError as e:  # the folder cannot be read (its permissions, a file system gone)
            self._failed(e)
            return False
        try:
            made = self._write_and_rename()
        except OSError as e:
            self._failed(e)
            return False
        finally:
            with self._lock:
                self._making = False
        if made:
            self._said.clear()
            if self._used:
                log.warning("outbox: there is room under state_dir again: %s (%d bytes) is made again, for the "
                            "next full disk", self.path, self.size)
                self._used = False
        return made

    def free(self) -> int:
        """Delete the file, and one half made (by a make in progress, which then stops, or by a
        process that died), where they are regular files (the disk is full); the bytes they took
        (0: neither was there).  Never waits for a make's writes."""
        if self.size <= 0:
            return 0
        with self._lock:
            self._cancelled = self._making
            taken = _delete(self.path) + _delete(self.tmp)
            self._used = self._used or taken > 0
        if taken:
            with suppress(OSError):  # its blocks may be taken again once the deletion is committed
                sync_folder(self.path.parent)
        return taken

    def stop(self) -> None:
        """The process stops (SIGTERM): a make in progress ends at its next piece (or before its
        fsync), its ``tmp`` deleted, and none starts; so a stop never waits for up to 4 MiB
        written and fsynced on a slow card."""
        with self._lock:
            self._stopped = True
            self._cancelled = self._cancelled or self._making

    def _may_make(self) -> bool:
        """Whether a make is due now (lock held): none is there at its size, nothing foreign is in
        the way, no failure is waited out, the disk has room and no make is in progress."""
        size, tmp = self._size(self.path), self._size(self.tmp)
        if (size or 0) >= self.size or self._making or self._stopped:
            return False
        if FOREIGN in (size, tmp):
            self._once("foreign", "outbox: %s is not a regular file (a folder or a link): not the outbox's reserve, "
                                  "so it is left as it is and no reserve is made while it is there; remove it to "
                                  "have one", self.path if size == FOREIGN else self.tmp)
            return False
        if self._clock() < self._retry_at:
            return False
        free = free_bytes(self.path.parent)
        return free is not None and free >= 2 * self.size

    def _write_and_rename(self) -> bool:
        """``size`` random bytes in a new ``tmp`` (a regular file left by a process that died is
        deleted first), on disk, then renamed to the path; False where ``free`` deleted it
        meanwhile.  An ``OSError`` where it fails (the disk fills meanwhile), its ``tmp`` deleted."""
        if self._size(self.tmp) is not None:  # a regular file: checked by ``_may_make``
            os.unlink(self.tmp)  # never follows a link
        fd = os.open(self.tmp, CREATE, 0o600)  # nothing there now, or it fails: never written through
        try:
            try:
                left = self.size
                while left > 0 and not self._cancelled:
                    left -= os.write(fd, os.urandom(min(WRITE_BYTES, left)))
                if not self._cancelled:
                    os.fsync(fd)
            finally:
                os.close(fd)
            with self._lock:
                if self._cancelled:  # deleted by ``free``, or made after it (then empty): not kept
                    with suppress(FileNotFoundError):
                        os.unlink(self.tmp)
                    return False
                os.replace(self.tmp, self.path)
        except OSError:
            with self._lock, suppress(OSError):
                if not self._cancelled:  # else ``free`` deleted it already
                    os.unlink(self.tmp)
            raise
        sync_folder(self.path.parent)
        return True

    def _failed(self, error: OSError) -> None:
        """A make failed: said once, not tried again before ``RETRY_S``; except where another
        writer filled the disk meanwhile (the room it needs gates the next try)."""
        if error.errno == errno.ENOSPC and (free_bytes(self.path.parent) or 0) < 2 * self.size:
            log.debug("outbox: %s not made (%s); made once there is room again", self.path, error)
            return
        if error.errno in (errno.EMFILE, errno.ENFILE):  # the process's trouble, said where it is met
            self._retry_at = self._clock() + 10.0
            log.debug("outbox: %s not made (%s); tried again in 10 s", self.path, error)
            return
        self._retry_at = self._clock() + RETRY_S
        self._once("failed", "outbox: %s (%d bytes freed for the outbox's events on a full disk) cannot be made: "
                             "%s; tried again every %.0f s (events held in memory on a full disk are lost to a "
                             "crash meanwhile)", self.path, self.size, error, RETRY_S)

    def _once(self, what: str, message: str, *args: object) -> None:
        if what not in self._said:
            self._said.add(what)
            log.warning(message, *args)

    @staticmethod
    def _size(path: Path) -> int | None:
        """The size of the regular file at ``path`` (a link not followed), ``FOREIGN`` for anything
        else there, None where nothing is."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else FOREIGN


def _delete(path: Path) -> int:
    """The bytes freed by deleting ``path`` where it is a regular file (a link, a folder: 0, left
    as they are).  Emptied first: a make still writing it holds it open, and its blocks would be
    freed only once it closes."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            return 0
        with suppress(OSError):
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)
        os.unlink(path)
    except FileNotFoundError:
        return 0
    except OSError as e:
        log.debug("outbox: %s not freed (%s)", path, e)
        return 0
    return int(st.st_blocks) * 512
