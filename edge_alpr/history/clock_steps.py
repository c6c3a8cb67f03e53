"""The times of the history's events, moved by the steps of the wall clock seen after they were read.

Why: a Raspberry Pi boots at a stale date (no real-time clock), and a camera's events are
stamped with it until time sync steps the clock, days or weeks later.  Kept as they were, they
would sort weeks before the events after the step and escape every search by their real time.
Each row keeps ``clock``: the wall clock's offset (``clocks.WallOffset``) its ``ts`` and its
payload's times are on, NULL where they are not this device's clock (a folder camera's file
times, an API read's own ``timestamp``) or were read before the last reboot (nothing can tell how
long the device was off: those stay as they are).  A step seen while running (``follow``: on
each event stored, each query, and each second from the service) moves ``ts`` and the payload's
times (``event_times.moved``) of every such row by the offset's change since, newest first, at
most ``BATCH_ROWS`` a transaction (a week of a busy road's events moves over several calls, none
holding the store's lock for long); a sighting read before a step and stored after it is moved as it goes in (``row``).
``size`` is left as it was (the few bytes of ``clock_corrected_s`` are within its overhead).

Everything here runs with the store's lock held.
"""

from __future__ import annotations

import json
import logging
import sqlite3

from ..clocks import BATCH_ROWS, STEP_S, StepCatchUp, WallOffset, same_boot
from ..db_lock import immediate
from ..event_times import moved
from .sighting import Sighting

# The history's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.history.store")


class TimeFollower:
    """Follows the wall clock's steps for one history database; see the module docstring."""

    def __init__(self, db: sqlite3.Connection, offset: WallOffset) -> None:
        self._db = db
        self.offset = offset
        with immediate(db):
            if not same_boot(db, offset.boot):  # read before a reboot: cannot be put right
                db.execute("UPDATE events SET clock = NULL WHERE clock IS NOT NULL")
        self._catch_up = StepCatchUp(offset)

    def row(self, s: Sighting, payload: str) -> tuple[float, str, float | None]:
        """The ``ts``, payload and ``clock`` that ``s`` goes in with: moved by the steps since
        it was read, if any."""
        ts = s.timestamp.timestamp()
        step = round(self.offset.since(s.clock), 3) if s.clock is not None else 0.0  # as moved() does
        if s.clock is None or not step:
            return ts, payload, s.clock
        return ts + step, json.dumps(moved(json.loads(payload), step)), s.clock + step

    def follow(self) -> None:
        """After a step: the times of the newest ``BATCH_ROWS`` rows read before it moved, in one
        transaction, the rest at the next calls; nothing (two clock reads) where the clock did not step."""
        def move(now: float) -> int:
            with immediate(self._db):
                rows = self._db.execute("SELECT seq, ts, payload, clock FROM events WHERE clock IS NOT NULL AND "
                                        "ABS(?1 - clock) > ?2 ORDER BY seq DESC LIMIT ?3",
                                        (now, STEP_S, BATCH_ROWS)).fetchall()
                self._db.executemany("UPDATE events SET ts = ?, payload = ?, clock = ? WHERE seq = ?",
                                     [(ts + round(now - clock, 3), json.dumps(moved(json.loads(text), now - clock)),
                                       now, seq) for seq, ts, text, clock in rows])
            return len(rows)

        done = self._catch_up.follow(move)
        if done is not None:  # the step's one line in the history's log (its ages: ``retention.py``)
            log.info("history: the wall clock stepped by %+.0f s (time sync?); the times of the %d event(s) read "
                     "before it are moved by it (their order and searches by time follow), and ages count from "
                     "the real time", *done)

    def follow_quietly(self) -> None:
        """``follow``, where a failure (another process's lock, a full disk) waits for the next call."""
        try:
            self.follow()
        except sqlite3.Error as e:
            log.debug("history: the times of the events before a clock step not moved yet: %s", e)
