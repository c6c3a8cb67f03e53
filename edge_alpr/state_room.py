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
  The same where the file system has fewer than ``ROOM_INODES`` inodes left (a file freed frees
  one); the line then names inodes, or the user's quota, where bytes are plentiful;
- a start that still finds no room raises ``DiskFull``: ``run`` and ``serve`` say it in one line
  (the folder, the space free, the fix) and exit ``EXIT_TEMPFAIL``.  Under systemd
  ($NOTIFY_SOCKET: the unit is ``Type=notify``) the process first waits for room, checking each
  ``ROOM_POLL_S``, with ``STATUS=`` saying why (``systemctl status``) and
  ``EXTEND_TIMEOUT_USEC`` keeping ``TimeoutStartSec`` from ending it.  It exits once there has
  been room (``ROOM_BYTES`` more than at the failure and at least ``NEARLY_FULL_BYTES``, and
  ``ROOM_INODES`` inodes) at ``ROOM_POLLS`` polls in a row, but never before ``MIN_POLLS`` polls
  (about ``MIN_WAIT_S``), and at the latest after ``FULL_POLLS`` (about ``FULL_WAIT_S``).  A
  blip of room (another writer deleting a file, then writing again) does not end it early, and
  whatever the disk does the unit starts it at most once a ``MIN_WAIT_S`` plus ``RestartSec=``
  (5 s): 9 starts in the unit's 2-minute start limit window of 10, 2 while the disk stays full.
  It never gives up, on systemd 252 (bookworm) as on 257 (trixie), without
  ``RestartSteps=``/``RestartMaxDelaySec=`` (254 and later).  Once room comes back the service
  is up again within ``ROOM_POLLS`` polls (``MIN_WAIT_S`` after the failed start at the soonest),
  ``RestartSec=`` and its start.  A stop (SIGTERM) ends the wait at once; so does a
  $NOTIFY_SOCKET that takes no message (nothing behind it: no systemd to tell).  By hand (no
  $NOTIFY_SOCKET) it exits at once: a person reads the line.

Exiting, rather than waiting for room inside ``build``: a failed start has already stopped what
it had started, and a new process starts from the beginning (config, cameras, models) with
nothing left over from the failed one.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from .delivery.outbox_reserve import Reserve
from .errors import DiskFull
from .fs_room import NEARLY_FULL_BYTES, ROOM_INODES, Room, room_in
from .statedir import RESERVE_FILE
from .systemd import sd_notify

log = logging.getLogger("edge_alpr")

EXIT_TEMPFAIL = 75  # sysexits.h EX_TEMPFAIL: not in the unit's RestartPreventExitStatus
ROOM_POLL_S = 1.0
FULL_WAIT_S = 60.0  # the longest wait for room before exit 75 (under systemd)
MIN_WAIT_S = 10.0  # the shortest: however room comes and goes, no faster than a start each 15 s
FULL_POLLS = round(FULL_WAIT_S / ROOM_POLL_S)
MIN_POLLS = round(MIN_WAIT_S / ROOM_POLL_S)
ROOM_POLLS = 3  # in a row with room: a blip of room (a file deleted, then written again) is none
ROOM_BYTES = NEARLY_FULL_BYTES  # freed since the failed start: room again
EXTEND_USEC = 10_000_000  # each poll: the start's timeout at least this far off


def free_reserve_at_start(folder: Path, setting: str = "state_dir") -> int:
    """Delete ``folder``'s outbox reserve where its file system has less than
    ``NEARLY_FULL_BYTES`` or ``ROOM_INODES`` inodes free, and say so once; the bytes freed (0:
    room enough, or none there).  Call it holding the folder's lock: a running service's reserve
    is its own."""
    room = room_in(folder)
    if room is None or not room.short():
        return 0
    path = folder / RESERVE_FILE
    taken = Reserve(path).free()
    if taken:
        log.warning("%s %s: the file system is full at this start (%s): freed %s (%d bytes) so that "
                    "the state files open; free space there (old logs, files left in that file system), or set "
                    "%s to a folder on a file system with room; the reserve is made again once there is room",
                    setting, folder, room.text(), path, taken, setting)
    return taken


def full_at_start(error: DiskFull, held: bool, environ: dict[str, str] | None = None,
                  stop: threading.Event | None = None) -> int:
    """After ``error`` (said already) ends a start: the state folder's reserve freed where it is
    still there (``held``: this process holds the folder's lock; it failed with more free than
    ``free_reserve_at_start`` frees it at), so that the next start has room; then, under systemd,
    wait for room (see the module docstring), sleeping on ``stop`` (SIGTERM sets it: the wait
    ends at once).  The exit status: ``EXIT_TEMPFAIL``, 0 where ``stop`` ended the wait."""
    if held and error.setting == "state_dir":
        path = error.folder / RESERVE_FILE
        taken = Reserve(path).free()
        if taken:
            log.warning("%s %s: freed %s (%d bytes) for the next start", error.setting, error.folder, path, taken)
    env = dict(os.environ) if environ is None else environ
    if not env.get("NOTIFY_SOCKET"):
        return EXIT_TEMPFAIL
    stop = threading.Event() if stop is None else stop
    wanted = _wanted(error)
    status = (f"STATUS=waiting for room on {error.setting} {error.folder} (full at start; "
              f"exit {EXIT_TEMPFAIL} and a restart once {wanted.bytes} bytes and {wanted.inodes} inodes are free "
              f"for {ROOM_POLLS} s, "
              f"or within {FULL_WAIT_S:.0f} s)")
    with_room = 0
    for poll in range(1, FULL_POLLS + 1):
        if not sd_notify(f"{status}\nEXTEND_TIMEOUT_USEC={EXTEND_USEC}", env):
            log.warning("%s %s: cannot tell systemd that this start waits for room ($NOTIFY_SOCKET %s takes no "
                        "message): exit %d now", error.setting, error.folder, env["NOTIFY_SOCKET"], EXIT_TEMPFAIL)
            return EXIT_TEMPFAIL
        room = room_in(error.folder)
        with_room = with_room + 1 if room is not None and room.covers(wanted) else 0
        if with_room >= ROOM_POLLS and poll > MIN_POLLS:  # after MIN_POLLS waits
            log.warning("%s %s: there is room again (%s): exit %d, for systemd to start the service again",
                        error.setting, error.folder, room.text() if room else "", EXIT_TEMPFAIL)
            return EXIT_TEMPFAIL
        if stop.wait(ROOM_POLL_S):
            log.info("%s %s: stopped while waiting for room", error.setting, error.folder)
            return 0
    room = room_in(error.folder)
    log.warning("%s %s: still full after %.0f s (%s): exit %d, for systemd to try again",
                error.setting, error.folder, FULL_WAIT_S, room.text() if room else "unknown", EXIT_TEMPFAIL)
    return EXIT_TEMPFAIL


def _wanted(error: DiskFull) -> Room:
    """The room that ends the wait: ``ROOM_BYTES`` more than at the failure (at least
    ``NEARLY_FULL_BYTES``) and ``ROOM_INODES`` inodes; where the failure found bytes enough and
    inodes short, bytes only up to ``NEARLY_FULL_BYTES`` (what is short is what must come back)."""
    now = room_in(error.folder)
    failed = error.free or 0
    if now is not None and now.inodes_short() and failed >= NEARLY_FULL_BYTES:
        return Room(NEARLY_FULL_BYTES, ROOM_INODES)
    return Room(max(NEARLY_FULL_BYTES, failed + ROOM_BYTES), ROOM_INODES)
