"""A start of ``run`` or ``serve`` on a full disk under the state folder: the outbox's reserve is
freed so that the state files open, and where there is still no room the process exits 75
(EX_TEMPFAIL), which the unit restarts, once it has waited a while for room.

Why: the disk under ``state_dir`` fills in the field (logs, a crash or a reboot while it was
full), and a start that cannot open the state files used to exit 78 (a config error), which the
unit never restarts (``RestartPreventExitStatus=78``): the device stayed dark after the disk had
room again, until someone came.  A full disk is no config error: no edit mends it, room comes
back by itself (a rotation of the logs, a file deleted), so:

- at a start with less than ``NEARLY_FULL_BYTES`` free, ``outbox.reserve`` (4 MiB kept for the
  outbox's events on a full disk, ``delivery/outbox_reserve.py``) is deleted, once the state
  folder's lock is held (never a running service's), and said once with its path, the space free
  and the fix; the service runs, and the outbox makes the reserve again once 8 MiB are free;
- a start that still finds no room raises ``DiskFull``: ``run`` and ``serve`` say it in one line
  (the folder, the space free, the fix) and exit ``EXIT_TEMPFAIL``.  Under systemd
  ($NOTIFY_SOCKET: the unit is ``Type=notify``) the process first waits up to ``FULL_WAIT_S`` for
  room, checking each ``ROOM_POLL_S``, with ``STATUS=`` saying why (``systemctl status``) and
  ``EXTEND_TIMEOUT_USEC`` keeping ``TimeoutStartSec`` from ending it; it exits as soon as
  ``ROOM_BYTES`` more are free.  So while the disk stays full the unit starts it at most once a
  ``FULL_WAIT_S`` plus ``RestartSec=`` (5 s), 2 starts in the unit's 2-minute start limit window
  of 10: it never gives up, on systemd 252 (bookworm) as on 257 (trixie), without
  ``RestartSteps=``/``RestartMaxDelaySec=`` (254 and later).  Once room comes back the service
  is up again within a poll, ``RestartSec=`` and its start.  By hand (no $NOTIFY_SOCKET) it exits
  at once: a person reads the line.

Exiting, rather than waiting for room inside ``build``: a failed start has already stopped what
it had started, and a new process starts from the beginning (config, cameras, models) with
nothing left over from the failed one.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from .delivery.outbox_reserve import RESERVE_NAME, Reserve
from .errors import DiskFull
from .statedir import NEARLY_FULL_BYTES, free_bytes
from .systemd import sd_notify

log = logging.getLogger("edge_alpr")

EXIT_TEMPFAIL = 75  # sysexits.h EX_TEMPFAIL: not in the unit's RestartPreventExitStatus
FULL_WAIT_S = 60.0  # the longest wait for room before exit 75 (under systemd)
ROOM_POLL_S = 1.0
ROOM_BYTES = NEARLY_FULL_BYTES  # freed since the failed start: room again
EXTEND_USEC = 10_000_000  # each poll: the start's timeout at least this far off


def free_reserve_at_start(folder: Path, setting: str = "state_dir") -> int:
    """Delete ``folder``'s outbox reserve where its file system has less than
    ``NEARLY_FULL_BYTES`` free, and say so once; the bytes freed (0: room enough, or none there).
    Call it holding the folder's lock: a running service's reserve is its own."""
    free = free_bytes(folder)
    if free is None or free >= NEARLY_FULL_BYTES:
        return 0
    path = folder / RESERVE_NAME
    taken = Reserve(path).free()
    if taken:
        log.warning("%s %s: the file system is full at this start (%d bytes free): freed %s (%d bytes) so that "
                    "the state files open; free space there (old logs, files left in that file system), or set "
                    "%s to a folder on a file system with room; the reserve is made again once there is room",
                    setting, folder, free, path, taken, setting)
    return taken


def full_at_start(error: DiskFull, held: bool, environ: dict[str, str] | None = None) -> int:
    """After ``error`` (said already) ends a start: the state folder's reserve freed where it is
    still there (``held``: this process holds the folder's lock; it failed with more free than
    ``free_reserve_at_start`` frees it at), so that the next start has room; then, under systemd,
    wait for room (see the module docstring).  The exit status, ``EXIT_TEMPFAIL``."""
    if held and error.setting == "state_dir":
        path = error.folder / RESERVE_NAME
        taken = Reserve(path).free()
        if taken:
            log.warning("%s %s: freed %s (%d bytes) for the next start", error.setting, error.folder, path, taken)
    env = dict(os.environ) if environ is None else environ
    if not env.get("NOTIFY_SOCKET"):
        return EXIT_TEMPFAIL
    wanted = (error.free or 0) + ROOM_BYTES
    status = (f"STATUS=waiting for room on {error.setting} {error.folder} (full at start; "
              f"exit {EXIT_TEMPFAIL} and a restart once {ROOM_BYTES} more bytes are free, "
              f"or within {FULL_WAIT_S:.0f} s)")
    deadline = time.monotonic() + FULL_WAIT_S
    while True:
        sd_notify(f"{status}\nEXTEND_TIMEOUT_USEC={EXTEND_USEC}", env)
        free = free_bytes(error.folder)
        if free is not None and free >= wanted:
            log.warning("%s %s: there is room again (%d bytes free): exit %d, for systemd to start the service again",
                        error.setting, error.folder, free, EXIT_TEMPFAIL)
            return EXIT_TEMPFAIL
        if time.monotonic() >= deadline:
            log.warning("%s %s: still full after %.0f s (%s bytes free): exit %d, for systemd to try again",
                        error.setting, error.folder, FULL_WAIT_S, free, EXIT_TEMPFAIL)
            return EXIT_TEMPFAIL
        time.sleep(ROOM_POLL_S)
