"""Why a history write failed, and what to do about it: only a full disk makes room.

Why apart from the store: deleting stored events frees bytes and nothing else.  On a full disk
(``ENOSPC``, ``EDQUOT``, SQLite's ``database or disk is full``) that is what lets the next
event in, so the store deletes its own oldest events there.  Every other failure would cost the
history its events for nothing: a folder the service may not write (``EACCES``/``EPERM``: an
admin chowned it, or ``chattr +i``), a read-only file system (``EROFS``: remounted after
errors), a failing card (``EIO``), the process out of file descriptors (``EMFILE``).  Those
keep what is stored and this event's row where it can be written, without its images, and the
log says once per episode what failed, where, and the fix -- which this module words.

A database another process holds locked (``database is locked``: a second edge-alpr on the same
state folder, a backup tool, a ``sqlite3`` shell in a transaction) is neither: nothing is wrong
with the folder, and the lock will go.  Its fix names the holder where ``/proc/locks`` does
(``lock_holder.py``), and the store keeps the events in memory until then.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .. import statedir
from ..db_lock import is_locked
from ..lock_holder import locked_text
from ..statedir import free_bytes, is_full, user_name
from .schema import DATABASE

SQLITE_READONLY = 8  # sqlite3.h: "attempt to write a readonly database" (primary code)

MAKING_ROOM = "the history deletes its oldest events to make room"
NOFILE_FIX = f"the process is out of file descriptors: {statedir.NOFILE_FIX}"


@dataclass(frozen=True)
class Fault:
    """One failed write: its ``kind`` (an episode lasts while the kind stays), what failed
    (the error, naming its file), and the fix."""

    kind: str  # "full", "locked", "descriptors", "permission", "read-only", "io" or "other"
    what: str
    fix: str

    @property
    def full(self) -> bool:
        """Whether deleting the history's oldest events can make this write fit."""
        return self.kind == "full"

    @property
    def locked(self) -> bool:
        """Whether another process holds the database locked: the write may succeed later."""
        return self.kind == "locked"


def write_fault(error: OSError | sqlite3.Error, root: Path) -> Fault:
    """What ``error``, raised writing the history in ``root``, means and how to fix it."""
    what = str(error)
    if not (isinstance(error, OSError) and error.filename):
        what = f"{root / DATABASE}: {error}"  # SQLite names no file: its database
    if is_locked(error):
        return Fault("locked", what, locked_text(root / DATABASE))
    if is_full(error, free_bytes(root)):
        return Fault("full", what, MAKING_ROOM)
    code = error.errno if isinstance(error, OSError) else None
    sqlite_code = getattr(error, "sqlite_errorcode", 0) & 0xFF if isinstance(error, sqlite3.Error) else 0
    user = user_name(os.geteuid())
    if code in (errno.EMFILE, errno.ENFILE):
        return Fault("descriptors", what, NOFILE_FIX)
    if code in (errno.EACCES, errno.EPERM):
        return Fault("permission", what, f"user {user} may not write there: give the folder back "
                     f"(sudo chown -R {user}: {root}; lsattr -d for an immutable flag), or set "
                     "history.dir to a folder it can write")
    if code == errno.EROFS:
        return Fault("read-only", what, f"the file system holding {root} is read-only (remounted "
                     "after errors? see dmesg): repair and remount it read-write, or set history.dir "
                     "to a writable folder")
    if sqlite_code == SQLITE_READONLY:
        return Fault("read-only", what, f"make {root} and its files writable by user {user} on a "
                     f"read-write file system (sudo chown -R {user}: {root}), or set history.dir")
    if code == errno.EIO or "disk I/O error" in str(error):
        return Fault("io", what, f"the storage under {root} reports I/O errors (a failing SD card "
                     "or disk? see dmesg): check or replace it, or set history.dir to other storage")
    return Fault("other", what, f"check that {root} is a folder user {user} can write, on a "
                 "writable file system, or set history.dir")
