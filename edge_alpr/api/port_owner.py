"""Which program holds a TCP port: what a "port in use" error can name instead of a command.

Why not ``ss -ltnp``: ``ss`` (iproute2) is not on a minimal Debian system, and whoever reads the
error would have to run it.  The kernel says the same in files: ``/proc/net/tcp`` and ``tcp6``
list each listening socket with its port, owner's uid and inode, and ``/proc/<pid>/fd/*`` links
name the socket inodes each process holds.  Only the processes this user may inspect are seen
(root sees all); for the others the socket's owner is still known.  Reading stops after
``budget_s``: an error message must not wait on a machine with very many processes, and nothing
here may raise (``OSError`` and malformed lines are skipped), since it runs while reporting
another error.
"""

from __future__ import annotations

import os
import pwd
import time
from dataclasses import dataclass
from pathlib import Path

from ..names import printable

_LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp's "st" column


@dataclass(frozen=True)
class PortOwner:
    """Who holds a listening socket: its owner's user name, and the process when it was found."""

    user: str
    pid: int | None = None
    program: str = ""

    def __str__(self) -> str:
        if self.pid is None:
            return f"a program of user {self.user}"
        return f"{self.program or 'a program'} (pid {self.pid}, user {self.user})"


def port_in_use(port: int) -> str:
    """"port N is in use by <who>", or where nothing says who, the command that would say."""
    owner = port_owner(port)
    if owner is not None and owner.pid is not None:
        return f"port {port} is in use by {owner}"
    # nothing found, or another user's socket: as root the command sees every process
    by = f" by {owner}" if owner else ", perhaps by an edge-alpr already running"
    return (f"port {port} is in use{by} (as root, `ss -ltnp 'sport = :{port}'` names the program; "
            "ss is in the package iproute2)")


def port_owner(port: int, proc: Path = Path("/proc"), budget_s: float = 0.3) -> PortOwner | None:
    """Who listens on TCP ``port`` in this network namespace; ``None`` when nothing found says."""
    try:
        sockets = _listening(port, proc)
        if not sockets:
            return None
        found = socket_process(set(sockets), proc, time.monotonic() + budget_s)
        if found is None:
            return PortOwner(_user(next(iter(sockets.values()))))
        pid, inode = found
        return PortOwner(_user(sockets[inode]), pid, _program(proc / str(pid)))
    except (OSError, ValueError):  # /proc unlike Linux's, or gone: say nothing rather than fail
        return None


def _listening(port: int, proc: Path) -> dict[str, int]:
    """The inodes of the sockets listening on ``port``, each with its owner's uid."""
    found: dict[str, int] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text(encoding="ascii", errors="replace").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN or ":" not in fields[1]:
                continue
            try:
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] != "0":
                    found.setdefault(fields[9], int(fields[7]))
            except ValueError:
                continue
    return found


def socket_process(inodes: set[str], proc: Path, deadline: float) -> tuple[int, str] | None:
    """The first process holding one of the socket ``inodes``, with that inode; ``None`` when
    none this user may inspect does, or when ``deadline`` passes first."""
    links = {f"socket:[{inode}]": inode for inode in inodes}
    try:
        pids = [entry.name for entry in os.scandir(proc) if entry.name.isdigit()]
    except OSError:
        return None
    for pid in pids:
        if time.monotonic() > deadline:
            return None
        fd_dir = proc / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # another user's process, or one that just ended
            continue
        for fd in fds:
            try:
                inode = links.get(os.readlink(fd_dir / fd))
            except OSError:
                continue
            if inode is not None:
                return int(pid), inode
    return None


def _program(pid_dir: Path) -> str:
    """The process's command name, printable (a process may name itself anything)."""
    try:
        name = (pid_dir / "comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return printable(name)


def _user(uid: int) -> str:
    """The user's name, or ``uid N`` for a uid without one (a container's, a removed user's)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
