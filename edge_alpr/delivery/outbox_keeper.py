"""The outbox's once-a-second work (``Outbox.follow_clock``: clock steps followed, events held
on a full disk written, the reserve made) on a thread of its own, for ``run`` and ``serve`` alike.

Why a thread: making the reserve writes and fsyncs 4 MiB, which on a slow SD card takes seconds;
on the main thread a SIGTERM meanwhile waited for the fsync and met the last-resort exit, the
service never closed.  Apart, the main thread handles the signal at once and the stop ends the
make (``Outbox.stop_making``); a make still inside its fsync ends with the process.
"""

from __future__ import annotations

import threading

from .outbox import Outbox

KEEPER_JOIN_S = 0.5  # at a stop, for the keeper's last step to end


class Keeper:
    """``outbox.follow_clock()`` each second on a daemon thread, from ``start`` until ``end``."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._done = threading.Event()  # its own: the process's stop event is the signals'
        self._thread = threading.Thread(target=self._keep, name="outbox-clock", daemon=True)

    def start(self) -> Keeper:
        self._thread.start()
        return self

    def end(self) -> None:
        """Before the outbox closes: a make in progress ends, the keeper's last step joined."""
        self._done.set()
        self._outbox.stop_making()
        self._thread.join(KEEPER_JOIN_S)

    def _keep(self) -> None:
        while not self._done.wait(1.0):
            self._outbox.follow_clock()  # never raises
