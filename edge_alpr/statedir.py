"""The folders of the durable state (usage counters, outbox, watch lists, history), checked to
be writable by this user before anything opens them.

Why: SQLite opens a file it may not write read-only without a word and fails only at the first
write, as ``attempt to write a readonly database`` (after the models have loaded).  That is what
a folder left by another user looks like: ``make run`` once as root, then as oneself.  Checked
here first, it is one ``ConfigError`` naming the file, its owner and the fix.

What is checked: the folder, and its entries two levels down (``outbox.sqlite`` and its
``-wal``/``-shm``, ``history/history.sqlite``, ``history/images``), not the thumbnails below
that: a history keeps thousands, and the history reports a failed write itself.

A full file system under the folder (a small partition, a tmpfs, logs that filled /var) makes
SQLite fail as it opens the files, ``database or disk is full``: ``opening_state`` turns that
into one ``DiskFull`` naming the folder, the space left and the fix, not a traceback.  It is no
config error (exit 78, never restarted by the unit): room comes back without an edit, so ``run``
exits 75 and the unit starts it again (``state_room.py``, which also frees the outbox's reserve
at such a start).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from .errors import ConfigError, DiskFull, EdgeAlprError, StateError
from .fs_room import NEARLY_FULL_BYTES, short_of
from .mounts import mount_entry, read_only_fix
from .names import user_name

CHECK_DEPTH = 2  # the folder's entries, and theirs
# state_lock.py's lock file: not checked, since a lock needs no write access (one left by a run as
# root is locked through a read-only descriptor)
LOCK_FILE = "edge-alpr.lock"
# the outbox's reserve (delivery/outbox_reserve.py) and the file it is made in: not checked either,
# since it is only ever deleted, which needs the folder's write access, not the file's (one left by
# a run as root is freed like the service's own)
RESERVE_FILE = "outbox.reserve"
UNCHECKED = (LOCK_FILE, RESERVE_FILE, RESERVE_FILE + ".tmp")
SQLITE_FULL = 13  # sqlite3.h: "database or disk is full" (the primary code of any extended one)
# what to do when the process is out of file descriptors, in every warning that says so (the API
# accepting, the history, a folder camera): the same limit, so the same fix
NOFILE_FIX = ("find what holds them (the API's clients: ss -tnp, in the package iproute2) and lower "
              "api.max_connections_per_client; LimitNOFILE= is best left at 1024, since the MQTT client "
              "cannot watch a descriptor numbered 1024 or more")


def writable_folder(path: Path, setting: str, origin: str = "") -> Path:
    """Create ``path`` if needed and check that this user can write it and the state in it;
    else a ``ConfigError`` naming ``setting`` (the config key that chose the folder), ``origin``
    (the config file that set it; "" for a default) and the fix."""
    where = f"{setting} {path}" + (f" (from {origin})" if origin else "")
    set_it = f"set {setting} in {origin or 'the config'}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if is_full(e, None):  # no room for the folder's entry: room may come back (exit 75)
            there = _nearest_existing(path)  # where to watch for room
            free = free_bytes(there)
            raise DiskFull(f"{where}: cannot create it: {short_of(there, e, free)}; "
                           f"free space there, or {set_it} to a folder on a file system with room", there,
                           setting, free) from e
        # not there yet, on a read-only mount (``state_dir: /srv/x`` under ProtectSystem=strict):
        # the mount of the nearest folder that is there, and the same advice as for one that is
        held = read_only_mount(_nearest_existing(path))
        if held is not None:
            raise _read_only_error(where, set_it, held, path, setting) from e
        make = ""
        if isinstance(e, PermissionError) and os.geteuid() != 0:
            # the package's /var/lib/edge-alpr removed, the service started by hand as its user:
            # systemd's StateDirectory= would have made it, owned by that user; this is the same
            user = user_name(os.geteuid())
            make = f", or create it for user {user} (sudo install -d -o {user} -m 0750 {path.absolute()})"
        raise ConfigError(f"{where}: cannot create it ({e}); {set_it} to a writable folder{make}") from e
    bad = first_unwritable(path)
    if bad is None:
        return path
    uid = os.geteuid()
    user = user_name(uid)
    what = "the folder" if bad == path else str(bad.relative_to(path))
    try:
        st = bad.stat()
    except OSError as e:
        raise ConfigError(f"{where}: cannot read {what} ({e}); {set_it} to a folder {user} can write") from e
    held = read_only_mount(bad)
    if held is not None:  # no chmod or chown can help there: the message must not suggest one
        raise _read_only_error(where, set_it, held, path, setting)
    said = (f"{where}: {what} is not writable by user {user} (owner {user_name(st.st_uid)}, "
            f"mode {stat.S_IMODE(st.st_mode):04o})")
    if st.st_uid == uid:
        raise ConfigError(f"{said}; {set_it} to a folder {user} can write, or make it writable "
                          f"(chmod -R u+w {path})")
    if st.st_uid == 0:  # left by a run as root (make run with sudo, then as oneself): take it back
        raise ConfigError(f"{said}; {set_it} to a folder {user} can write, or give it to {user} "
                          f"(sudo chown -R {user} {path})")
    # another user's, e.g. the packaged service's /var/lib/edge-alpr: a chown would take it from them
    raise ConfigError(f"{said}; it is {user_name(st.st_uid)}'s state, so leave it to that user (no chown): "
                      f"set {setting} to a folder of {user}'s own instead, e.g. {own_state_dir()}, "
                      f"{_in_config(origin)}")


def _read_only_error(where: str, set_it: str, held: tuple[Path, bool], path: Path, setting: str) -> ConfigError:
    """The error for the state folder ``path`` on the read-only mount ``held`` (its point, and
    whether its file system is itself read-only)."""
    mount, whole_fs = held
    return ConfigError(f"{where}: the file system holding it ({mount}) is mounted read-only; {set_it} to a "
                       f"folder on a writable file system{read_only_fix(mount, path, setting, whole_fs)}")


def _nearest_existing(path: Path) -> Path:
    """``path``, or its nearest parent that exists (the folder a new state folder is made in)."""
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def read_only_mount(path: Path) -> tuple[Path, bool] | None:
    """The mount point of ``path``'s file system when it is mounted read-only, and whether the
    file system itself is read-only (not only this mount of it), else None: from the kernel's
    mount table (a read-only bind mount has the device number of the file system below it), or
    where that cannot be read, the top folder of the same device."""
    try:
        if not os.statvfs(path).f_flag & os.ST_RDONLY:
            return None
        listed = mount_entry(path)
        if listed is not None:
            return listed
        device, top = os.stat(path).st_dev, path.absolute()
        while top.parent != top and os.stat(top.parent).st_dev == device:
            top = top.parent
    except OSError:
        return None
    return top, False


def own_state_dir() -> str:
    """This user's own state folder (``$XDG_STATE_HOME/edge-alpr``), as a fix suggests it."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "edge-alpr")


def _in_config(origin: str) -> str:
    """Where to set it: in ``origin`` if this user may edit it, else in a copy given with
    ``--config`` (``/etc/edge-alpr/config.yaml`` is the service's, and root's to edit)."""
    if not origin:
        return "in a config file given with --config"
    if os.access(origin, os.W_OK):
        return f"in {origin}"
    return f"in a copy of {origin} given with --config"


def nearly_full_warning(path: Path, setting: str = "state_dir") -> str | None:
    """``check-config``'s word on a state folder whose file system has less than
    ``NEARLY_FULL_BYTES`` free (``state_room.py``: what a start does then), else None."""
    free = free_bytes(_nearest_existing(path))
    if free is None or free >= NEARLY_FULL_BYTES:
        return None
    return (f"{setting} {path}: the file system is full ({free} bytes free): a start of edge-alpr run or serve "
            f"frees {RESERVE_FILE} there if it is there, else it cannot open the state files and exits 75 (the "
            f"unit starts it again until there is room); free space there, or set {setting} to a folder on a "
            "file system with room")


def first_unwritable(path: Path, depth: int = CHECK_DEPTH) -> Path | None:
    """The first of ``path`` and its entries (``depth`` levels down) this user cannot write,
    or None.  A folder needs write and search access (new files, SQLite's journals), a file
    write access."""
    if not os.access(path, os.W_OK | os.X_OK):
        return path
    if depth == 0:
        return None
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return path
    for entry in entries:
        if entry.is_dir(follow_symlinks=True):
            bad = first_unwritable(Path(entry.path), depth - 1)
            if bad is not None:
                return bad
        elif entry.name not in UNCHECKED and entry.is_file(follow_symlinks=True) and not os.access(entry.path, os.W_OK):
            return Path(entry.path)
    return None


@contextmanager
def opening_state(path: Path, setting: str) -> Iterator[None]:
    """Around opening the state files in ``path`` at a start: a full file system (SQLite's
    ``database or disk is full``, ``ENOSPC``) becomes a ``DiskFull`` naming ``setting``, the space
    left and the fix (exit 75, restarted: see the module docstring); any other error passes."""
    import sqlite3  # here, not at the top: check-config imports this module and loads no sqlite3
    try:
        yield
    except (sqlite3.Error, OSError) as e:
        free = free_bytes(path)
        text = full_text(path, setting, e, free)
        if text is None:
            raise
        raise DiskFull(text, path, setting, free) from e


def writing_state(path: Path, setting: str = "state_dir") -> AbstractContextManager[None]:
    """Around a write to the state files in ``path`` while running: a full file system becomes a
    ``StateError`` naming ``setting``, the space left and the fix; any other error passes."""
    return _full_as(StateError, path, setting)


@contextmanager
def _full_as(kind: type[EdgeAlprError], path: Path, setting: str) -> Iterator[None]:
    """``kind`` (with ``full_text``'s message) where what runs inside fails on a full file system."""
    import sqlite3  # as in opening_state
    try:
        yield
    except (sqlite3.Error, OSError) as e:
        text = full_text(path, setting, e)
        if text is None:
            raise
        raise kind(text) from e


def full_text(path: Path, setting: str, error: BaseException, free: int | None = None) -> str | None:
    """What to say when ``error`` means that ``path``'s file system is full (``free`` bytes free;
    measured here where None); else None."""
    free = free_bytes(path) if free is None else free
    if not is_full(error, free):
        return None
    return (f"{setting} {path}: {short_of(path, error, free)}; free space "
            f"there, or set {setting} in the config to a folder on a file system with room for the state")


def is_full(error: BaseException, free: int | None) -> bool:
    """Whether ``error`` says the disk is full (or is an I/O error on a nearly full one)."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    # not every sqlite3 error has a code (a closed database's ProgrammingError has none); an
    # sqlite3 error means sqlite3 is loaded already, so it is looked up, not imported
    sqlite3 = sys.modules.get("sqlite3")
    if (sqlite3 is not None and isinstance(error, sqlite3.Error)
            and getattr(error, "sqlite_errorcode", 0) & 0xFF == SQLITE_FULL):
        return True
    text = str(error)
    return "disk is full" in text or ("I/O error" in text and free is not None and free < NEARLY_FULL_BYTES)


def free_bytes(path: Path) -> int | None:
    """The bytes this user may still write on ``path``'s file system, or None if unknown."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None
