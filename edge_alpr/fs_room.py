"""How much room a state folder's file system has: bytes and inodes, as a start that failed on a
full disk waits for them (``state_room.py``) and as its error says what is short.

Why inodes too: a file system can refuse a new file with bytes to spare (a tmpfs's or ext4's
inodes all taken by many small files), and a user can reach a disk quota (``EDQUOT``) on a file
system with room.  Both fail as ``ENOSPC``/``EDQUOT``, a full disk; counting bytes alone said
"33554432 bytes free" for them and waited for bytes that were never short.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

NEARLY_FULL_BYTES = 1 << 20  # an I/O error with less than this free is taken for a full disk
# a start's new files: the lock, usage's and the outbox's databases with their -wal and -shm, the
# history's folders and database: a dozen, with some to spare
ROOM_INODES = 16


@dataclass(frozen=True)
class Room:
    """Bytes free to this user, and inodes (None: the file system counts none, as btrfs)."""

    bytes: int
    inodes: int | None

    def inodes_short(self) -> bool:
        """Fewer inodes left than a start makes files."""
        return self.inodes is not None and self.inodes < ROOM_INODES

    def short(self) -> bool:
        """Too little of either for a start's state files."""
        return self.bytes < NEARLY_FULL_BYTES or self.inodes_short()

    def covers(self, wanted: Room) -> bool:
        """At least ``wanted``'s bytes and inodes."""
        inodes_ok = self.inodes is None or wanted.inodes is None or self.inodes >= wanted.inodes
        return self.bytes >= wanted.bytes and inodes_ok

    def text(self) -> str:
        """``N bytes free`` (and the inodes where counted), for a log line."""
        return f"{self.bytes} bytes free" + ("" if self.inodes is None else f", {self.inodes} inodes")


def room_in(path: Path) -> Room | None:
    """The room on ``path``'s file system, or None where it cannot be read."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return Room(st.f_bavail * st.f_frsize, st.f_favail if st.f_files else None)


def short_of(path: Path, error: BaseException, free: int | None) -> str:
    """What a full-disk ``error`` on ``path`` (``free`` bytes free) ran short of, for its message:
    bytes, or, where bytes are plentiful, inodes or this user's quota."""
    if free is None or free < NEARLY_FULL_BYTES:
        return f"the file system is full ({free} bytes free; {error})"
    room = room_in(path)
    if room is not None and room.inodes_short():
        return (f"the file system has no inode left for a new file ({room.inodes} inodes free, {free} bytes; "
                f"{error}: many small files take them)")
    if _errno_of(error) == errno.EDQUOT:
        return f"this user's disk quota there is used up ({free} bytes free on the file system; {error})"
    return f"the file system is full ({free} bytes free; {error}; its inodes or a quota may be what is short)"


def _errno_of(error: BaseException | None) -> int | None:
    """The errno of ``error`` or of what caused it (an ``OSError`` under a wrapper)."""
    while error is not None:
        if isinstance(error, OSError):
            return error.errno
        error = error.__cause__ or error.__context__
    return None
