"""One ``serve`` or ``run`` at a time on a state folder: an exclusive lock, held for the process's life.

Why: two processes on one state folder both start without a word, and then both drain its
outbox (measured: 14 of 200 events published twice), both connect to the broker with the same
client id, which makes the broker drop one for the other all the time (18 takeovers and the
retained status flapping online/offline within 15 s), and both read the same cameras and write
the same history images (a thumbnail's rename lost to the other's).  The cause is nearly always
a mistake: a second ``edge-alpr run`` or ``serve`` started by hand, or a second unit or
container, with the running service's ``state_dir``.  So the second one refuses to start, naming
the folder, the process that holds it and the fix, before it opens a camera, loads a model or
binds its port.

How: ``flock(LOCK_EX | LOCK_NB)`` on ``<folder>/edge-alpr.lock``, in the state folder and in
``history.dir`` where that is another folder (two services with their own state folders and
one history folder would write one database), held through an open descriptor until the
process ends.  The kernel drops it when the process ends however it ends (SIGKILL, a crash, a
power cut: a lock is not on disk), so no stale lock is left for anyone to clean up, which a pid
file would leave.  The file stays: its text names the last holder (pid and command) for a
person who looks, and for the error when ``/proc/locks`` cannot name a holder that another pid
namespace hides (a container).  A lock file another user left (a run as root) is locked through a
read-only descriptor, unsigned: it must not stop the service as a state file it cannot write would.

Exit status: a ``StateError``, so ``run`` exits 1 and the unit retries it (``RestartSec=5s``, at
most 10 starts in 2 minutes), not 78 (a config error, never retried).  The lock goes by itself
when its holder stops, whatever this config says: the holder may be an instance still stopping,
a copy started by hand or a container that the admin is about to stop, and the unit should then
start again by itself; a config error would leave the device dark until someone starts it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from .config import Config
from .errors import ConfigError, StateError
from .lifecycle import make_state_dir
from .lock_holder import holders_of
from .names import printable
from .state_room import free_reserve_at_start
from .statedir import LOCK_FILE, opening_state, writable_folder

log = logging.getLogger(__name__)

SAID_CHARS = 300  # of the lock file's text quoted in an error
# what a second process would do to each folder, as the error says it
HARM = {"state_dir": "deliver its outbox's events twice", "history.dir": "write one history database"}


class StateLock:
    """The locks of the state folders this process holds; ``close`` (or the process's end) drops them."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def close(self) -> None:
        """Drop the locks: at the command's end, or where a later folder of the same start failed."""
        while self.fds:
            os.close(self.fds.pop())

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def state_folders(cfg: Config) -> list[tuple[Path, str, str]]:
    """The folders ``serve`` and ``run`` write (path, the config key, the config file that set
    it or ""), each created and checked writable (a ``ConfigError`` naming the fix otherwise)."""
    folders = [(make_state_dir(cfg), "state_dir", cfg.source if cfg.state_dir_set else "")]
    if cfg.history.dir and (cfg.history.enabled or cfg.history.api_reads):
        folders.append((writable_folder(Path(cfg.history.dir), "history.dir", cfg.source), "history.dir", cfg.source))
    return folders


def hold_state(cfg: Config) -> StateLock:
    """Lock ``cfg``'s state folders for this process (see the module docstring), or raise the
    ``StateError`` naming the one another process holds, the holder and the fix."""
    return hold(state_folders(cfg))


def hold(folders: Sequence[tuple[Path, str, str]]) -> StateLock:
    """Lock each of ``folders`` (path, config key, config file) once; on failure none stays locked."""
    held = StateLock()
    seen: set[tuple[int, int]] = set()
    try:
        for folder, setting, origin in folders:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen:  # history.dir set to the state folder itself
                continue
            seen.add((st.st_dev, st.st_ino))
            fd = _locked(folder, setting, origin)
            if fd is not None:
                held.fds.append(fd)
            if setting == "state_dir":  # the lock held: the reserve is no running service's
                free_reserve_at_start(folder)
    except BaseException:
        held.close()
        raise
    return held


def _locked(folder: Path, setting: str, origin: str) -> int | None:
    """An open descriptor of ``folder``'s lock file, locked; None where its file system cannot lock."""
    path = folder / LOCK_FILE
    where = f"{setting} {folder}" + (f" (from {origin})" if origin else "")
    try:
        with opening_state(folder, setting):  # a full disk: said as such
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except PermissionError:  # another user's (a run as root): a lock needs no write access
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(f"{where}: cannot open its lock file {path} ({e}); set {setting} in "
                          f"{origin or 'the config'} to a folder this user can write") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            os.close(fd)  # a file system without locks (some network or FUSE ones): run unguarded
            log.warning("%s: cannot lock %s (%s): a second edge-alpr on this folder would not be "
                        "stopped; keep to one, or put %s on a local file system", where, path, e, setting)
            return None
        said = _holder_text(path, fd)
        os.close(fd)
        # without a file of its own (the defaults) the fix says how to give one: serve and run have
        # no --state-dir
        fix = f"give this one its own {setting} " + (
            f"in {origin}" if origin else f"(`{setting}: DIR` in a file given with --config)")
        # exit 1, retried by the unit, not 78: the lock goes when its holder stops (an instance
        # still stopping, a copy started by hand), and then a retry starts without any edit
        raise StateError(f"{where} is in use by {said}: two processes on one {setting} would {HARM[setting]}; "
                         f"stop it, or {fix}") from e
    _sign(fd)
    return fd


def _holder_text(path: Path, fd: int) -> str:
    """Who holds ``path``'s lock: from ``/proc/locks``, else what the lock file says."""
    found = holders_of([path], command=True)
    if found:
        return ", ".join(found)
    try:
        said = printable(os.pread(fd, SAID_CHARS, 0).decode(errors="replace").strip())
    except OSError:
        said = ""
    unseen = "a process not visible from here (another container or pid namespace?)"
    return f"{unseen}, which its lock file {path} names as {said}" if said else f"{unseen} holding {path}"


def _sign(fd: int) -> None:
    """Write this process's pid and command into its lock file, for a person or another
    edge-alpr that cannot see it in ``/proc``; best effort (the lock is what counts)."""
    try:
        command = Path("/proc/self/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        command = " ".join(sys.argv)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, command: {command}\n".encode(), 0)
    except OSError as e:
        log.debug("could not write the lock file's text: %s", e)
