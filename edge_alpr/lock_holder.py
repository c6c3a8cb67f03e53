"""Who holds a SQLite database of the service locked: what a "database is locked" error can name.

Why: SQLite says only ``database is locked``; whoever reads it must guess between a second
edge-alpr started on the same state folder, a backup tool, and a ``sqlite3`` shell left in a
transaction.  The kernel knows: SQLite locks with POSIX record locks, and ``/proc/locks`` lists
each with its process and the file's device and inode.  A writer holds a WRITE lock on the
database file (rollback journal, or ``locking_mode=EXCLUSIVE``) or on its ``-shm`` file (WAL);
every connection also holds READ locks on ``-shm`` while it has the database open, so only WRITE
locks name the holder.  Nothing here may raise: it runs while reporting another error, and says
nothing rather than something wrong (a /proc unlike Linux's, a process gone meanwhile).

The history, the outbox and the usage counters (``db_lock.py``) name the holder of their
database this way; the state folder's own lock (``state_lock.py``: ``flock``, listed as
``FLOCK ... WRITE``) names its holder the same way, through ``holders_of``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .names import printable, user_name

PROGRAM = "edge-alpr"
COMMAND_CHARS = 300  # of a holder's command line shown: enough for its options, not a screenful


def holders(database: Path, proc: Path = Path("/proc")) -> list[str]:
    """The processes other than this one holding a WRITE lock on ``database`` or its WAL files,
    each as ``python3 (pid 123, user backup)``; ``another edge-alpr (pid ...)`` for ours."""
    wal_files = (database.with_name(database.name + "-shm"), database.with_name(database.name + "-wal"))
    return holders_of((database, *wal_files), proc)


def holders_of(paths: Iterable[Path], proc: Path = Path("/proc"), command: bool = False) -> list[str]:
    """The processes other than this one holding a WRITE lock (a POSIX record lock or a
    ``flock``) on any of ``paths``, described as ``holders`` says; ``command``: with each one's
    command line too (``..., command: edge-alpr run --config c.yaml)``)."""
    files = set()
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        files.add(f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}")
    try:
        lines = (proc / "locks").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return []
    pids: list[int] = []
    for line in lines:
        # "1: POSIX  ADVISORY  WRITE 1234 fe:00:2195892 120 120"; "1: -> POSIX ..." waits for one;
        # "2: FLOCK  ADVISORY  WRITE 1234 fe:00:2195893 0 EOF"; pid 0: not visible from here
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->" or fields[3] != "WRITE" or fields[5] not in files:
            continue
        try:
            pid = int(fields[4])
        except ValueError:
            continue
        if pid > 0 and pid != os.getpid() and pid not in pids:
            pids.append(pid)
    return [described(pid, proc / str(pid), command) for pid in pids]


def described(pid: int, pid_dir: Path, with_command: bool = False) -> str:
    try:
        name = (pid_dir / "comm").read_text(encoding="utf-8", errors="replace").strip()
        argv = (pid_dir / "cmdline").read_bytes().decode(errors="replace").split("\0")
        user = user_name(pid_dir.stat().st_uid)
    except OSError:  # ended meanwhile, or out of this user's sight
        return f"pid {pid}"
    name = printable(name) or "a program"
    command = " ".join(argv).strip()
    shown = f", command: {printable(command)[:COMMAND_CHARS]}" if with_command and command else ""
    if is_edge_alpr(argv):
        return f"another {PROGRAM} (pid {pid}, user {user}{shown})"
    return f"{name} (pid {pid}, user {user}{shown})"


def is_edge_alpr(argv: list[str]) -> bool:
    """Whether a command line runs edge-alpr: the ``edge-alpr`` script (alone or through an
    interpreter) or ``python -m edge_alpr``.  Why not a substring: the package's own virtual
    environment (``/opt/venvs/edge-alpr/bin/python``) runs other programs too, a backup script
    among them, and a folder named after the project is no sign of the service."""
    if any(Path(a).name == PROGRAM for a in argv[:2]):
        return True
    return any(a == "-m" and b.split(".")[0] == "edge_alpr" for a, b in zip(argv, argv[1:]))


def locked_text(database: Path, what: str = "the history database",
                setting: str = "state_dir (or history.dir)") -> str:
    """What a ``database is locked`` on ``database`` (``what`` it is, kept under ``setting``)
    means, who holds it where known, and the fix."""
    found = holders(database)
    said = f"another process holds {what} {database} locked"
    likely = (f"a second edge-alpr using the same {setting}, or a backup tool or sqlite3 "
              "shell with a transaction open")
    if any(h.startswith(f"another {PROGRAM}") for h in found):
        return (f"{said}: {', '.join(found)}; two services on one state_dir: stop one, or give each its own "
                f"{setting}")
    if found:
        return f"{said}: {', '.join(found)}, perhaps {likely}; let it finish, or stop it"
    return f"{said}, perhaps {likely}; let it finish, or stop it, or give each edge-alpr its own state_dir"
