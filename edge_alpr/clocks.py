"""Clocks for ages and bounds that a wall-clock step must not move: the device's running time,
kept across restarts, and the steps of the wall clock seen while running.

Why: a Raspberry Pi has no real-time clock.  It boots with the time of its last shutdown
(fake-hwclock) or 1970, runs like that for seconds to hours, and then time sync steps the clock
by days or years, forward or back, while the service runs.  An age measured on the wall clock
across that step is wrong by the whole step: events queued before it looked weeks old and were
dropped, or looked to come from the future and were never pruned.

* ``RunClock``: seconds this state has been in use, on the monotonic clock, kept in a SQLite
  table so that it goes on from where the last run stopped.  Ages on it never step; time the
  device was off does not count (no clock on a Pi can say how long that was).
* ``StepWatch``: notices a step as a change of (wall - monotonic), which slewing (NTP's small
  corrections, at most 0.5 ms a second) changes far less than ``STEP_S``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

STEP_S = 2.0  # a change of (wall - monotonic) larger than this is a step, not slewing

_TABLE = "CREATE TABLE IF NOT EXISTS run_clock (id INTEGER PRIMARY KEY CHECK (id = 1), seconds REAL NOT NULL)"


class RunClock:
    """Running time in seconds, persisted in ``db``'s ``run_clock`` table (see the module
    docstring); not thread-safe: its owner's lock guards it with the connection."""

    def __init__(self, db: sqlite3.Connection, floor: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """``floor``: the running time already given to rows of this file (a run killed before
        it saved its clock still goes on from there)."""
        self._db = db
        self._monotonic = monotonic
        db.execute(_TABLE)
        row = db.execute("SELECT seconds FROM run_clock WHERE id = 1").fetchone()
        self._base = max(float(row[0]) if row else 0.0, floor)
        self._started = monotonic()

    def now(self) -> float:
        """Seconds of running time: never steps, never goes back, across restarts too."""
        return self._base + (self._monotonic() - self._started)

    def save(self, db: sqlite3.Connection | None = None) -> None:
        """Keep the running time in the file (inside the caller's transaction, if any); ``db``:
        another connection to that file, for an owner that holds none between writes."""
        (self._db if db is None else db).execute("INSERT INTO run_clock (id, seconds) VALUES (1, ?1) "
                         "ON CONFLICT (id) DO UPDATE SET seconds = MAX(seconds, ?1)", (self.now(),))


class StepWatch:
    """Steps of the wall clock relative to the monotonic one (see the module docstring)."""

    def __init__(self, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._offset = wall() - monotonic()

    def step(self) -> float:
        """Seconds the wall clock stepped (forward > 0, back < 0) since the last call, 0.0 if
        it did not; slewing below ``STEP_S`` is absorbed silently."""
        offset = self._wall() - self._monotonic()
        moved = offset - self._offset
        self._offset = offset
        return moved if abs(moved) > STEP_S else 0.0
