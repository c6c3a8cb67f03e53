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
disk with less than its own size free.

It holds no data: deleting it by hand (to free space) loses nothing, and it is no state file that
``state_watch.py`` watches.  Its name keeps it out of an ``outbox.sqlite*`` backup.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import suppress
from pathlib import Path

from ..statedir import RESERVE_FILE, free_bytes

# The outbox's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.delivery.outbox")

RESERVE_NAME = RESERVE_FILE  # not checked writable at a start (statedir.UNCHECKED): only ever deleted
# 4 MiB: a full hold of MQTT events (1000 of ~0.7 KB) with the three times their size that the
# held's writes need (the log, then the file, with their pages' overhead), or a dozen webhook
# events with 100 KB scenes; 0.01% of a 32 GB SD card, and less than the 8 MiB free after which
# the log is checkpointed as by default again (``outbox_wal.ROOMY_BYTES``)
RESERVE_BYTES = 4 * 1024 * 1024
WRITE_BYTES = 256 * 1024  # written a piece at a time: never 4 MiB of random bytes in memory at once


class Reserve:
    """``outbox.reserve`` beside the outbox (``size`` bytes; 0: none).  Thread-safe: it is made
    outside the outbox's lock (``make``: up to 4 MiB written and fsynced) and freed under it."""

    def __init__(self, path: Path, size: int = RESERVE_BYTES) -> None:
        self.path = path
        self.size = size
        self._lock = threading.Lock()
        self._used = False  # freed for the held since it was last made (said when made again)

    def make(self) -> bool:
        """Make the file where it is not there at its size (never made, freed, or deleted by hand)
        and the disk has twice its size free; whether it is there now.  Never raises: a failure
        is said at debug level, tried again at the next call (a ``stat`` where it is there)."""
        if self.size <= 0:
            return False
        with self._lock:
            try:
                if self.path.stat().st_size >= self.size:
                    return True
            except OSError:
                pass
            free = free_bytes(self.path.parent)
            if free is None or free < 2 * self.size:
                return False
            tmp = self.path.with_name(self.path.name + ".tmp")
            try:
                self._write(tmp)
                os.replace(tmp, self.path)
                _sync_folder(self.path.parent)
            except OSError as e:
                log.debug("outbox: %s not made (%s); tried again each second", self.path, e)
                tmp.unlink(missing_ok=True)
                return False
            if self._used:
                log.warning("outbox: there is room under state_dir again: %s (%d bytes) is made again, for the "
                            "next full disk", self.path, self.size)
                self._used = False
            return True

    def free(self) -> int:
        """Delete the file, and one half made when a process died (the disk is full); the bytes
        they took (0: neither was there)."""
        if self.size <= 0:
            return 0
        with self._lock:
            taken = 0
            for path in (self.path, self.path.with_name(self.path.name + ".tmp")):
                try:
                    blocks = path.stat().st_blocks * 512
                    path.unlink()
                    taken += blocks
                except FileNotFoundError:
                    pass
                except OSError as e:
                    log.debug("outbox: %s not freed (%s)", path, e)
            if taken:
                with suppress(OSError):  # its blocks may be taken again once the deletion is committed
                    _sync_folder(self.path.parent)
            self._used = self._used or taken > 0
            return taken

    def _write(self, tmp: Path) -> None:
        """``size`` random bytes in ``tmp``, on disk (an ``OSError`` where the disk fills meanwhile)."""
        with open(tmp, "wb") as f:
            left = self.size
            while left > 0:
                f.write(os.urandom(min(WRITE_BYTES, left)))
                left -= WRITE_BYTES
            f.flush()
            os.fsync(f.fileno())


def _sync_folder(folder: Path) -> None:
    """Make a file's new name, or its deletion, durable (its folder's entry)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
