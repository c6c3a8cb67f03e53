"""systemd's notify protocol: ``READY=1``, ``STOPPING=1`` and the watchdog's pings; and the
journal's priorities for what the process writes on stderr.

Why by hand: the protocol is one datagram on a Unix socket named in $NOTIFY_SOCKET, so a few
lines here spare the device a libsystemd binding; outside systemd (no socket) every call is a
no-op.  The watchdog is pinged only while every worker makes progress (``supervision.py``), so
a hung worker gets the whole service restarted by systemd.

journald files every line of a service's stderr at priority 6 (info) unless the line starts
with ``<N>`` (the unit's ``SyslogLevelPrefix=``, on by default): ``JournalFormatter`` adds it,
so that ``journalctl -p err`` shows the service's errors and config errors.  journald also
stamps every line with the time it received it, so ``JournalFormatter`` writes no time of its
own (``journalctl`` would show two on each line).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import IO

from .supervision import Supervisor

# syslog's priorities (sd-daemon.h's SD_ERR, ...) of logging's levels
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
_DEBUG_PRIORITY = 7

# ``service.py`` runs these: its lines keep its logger name.
log = logging.getLogger("edge_alpr.service")


def sd_notify(message: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``message`` to systemd's $NOTIFY_SOCKET (no-op without one); True if sent."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(address)
            # never blocks: with nobody reading the socket (a stale $NOTIFY_SOCKET) a full queue
            # would stop the caller (the watchdog's loop, a wait for room) for good
            s.send(message.encode(), socket.MSG_DONTWAIT)
    except OSError as e:
        log.warning("sd_notify to %s failed: %s", env.get("NOTIFY_SOCKET"), e)
        return False
    return True


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Half of systemd's WatchdogSec (from $WATCHDOG_USEC), or None when not asked for."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


def pet_watchdog(supervisor: Supervisor, environ: dict[str, str] | None = None) -> bool:
    """Ping systemd's watchdog only while every worker made progress within its deadline, so
    that a hung worker gets the process restarted; True if pinged."""
    return not supervisor.stalled() and sd_notify("WATCHDOG=1", environ)


def is_journal(stream: IO[str] | None, environ: dict[str, str] | None = None) -> bool:
    """True when ``stream`` is the journal's stream socket ($JOURNAL_STREAM names its device and
    inode), as under systemd with StandardOutput=/StandardError=journal."""
    env = os.environ if environ is None else environ
    ident = file_id(stream)
    return bool(env.get("JOURNAL_STREAM")) and ident is not None and env["JOURNAL_STREAM"] == f"{ident[0]}:{ident[1]}"


def file_id(stream: IO[str] | None) -> tuple[int, int] | None:
    """(device, inode) of the file, pipe, socket or terminal ``stream`` writes to; None where it
    writes to none (closed, or a test's capture)."""
    if stream is None:
        return None
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def priority_prefix(levelno: int) -> str:
    """``<N>``: the journal's priority for a logging level (3 for ERROR, 6 for INFO...)."""
    return f"<{next((p for level, p in _PRIORITIES if levelno >= level), _DEBUG_PRIORITY)}>"


def with_priority(text: str, levelno: int) -> str:
    """``text`` with every line at the journal priority of ``levelno`` (a traceback's lines too:
    journald takes each line as its own entry)."""
    prefix = priority_prefix(levelno)
    return "\n".join(prefix + line for line in text.splitlines())


class JournalFormatter(logging.Formatter):
    """Prefixes each line of a record (a traceback's too) with its journal priority; its format
    has no time, journald's own stamp is the record's."""

    def __init__(self, fmt: str = "%(levelname)s %(name)s: %(message)s") -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        return with_priority(super().format(record), record.levelno)
