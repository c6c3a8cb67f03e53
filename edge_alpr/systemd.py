"""systemd's notify protocol: ``READY=1``, ``STOPPING=1`` and the watchdog's pings.

Why by hand: the protocol is one datagram on a Unix socket named in $NOTIFY_SOCKET, so a few
lines here spare the device a libsystemd binding; outside systemd (no socket) every call is a
no-op.  The watchdog is pinged only while every worker makes progress (``supervision.py``), so
a hung worker gets the whole service restarted by systemd.
"""

from __future__ import annotations

import logging
import os
import socket

from .supervision import Supervisor

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
            s.sendall(message.encode())
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
