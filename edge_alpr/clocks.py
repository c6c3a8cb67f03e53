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
* ``WallOffset``: that offset now, and the boot it holds for.  A time read from the wall clock
  together with the offset of that moment can be put right later: add the offset's change since
  (the steps in between; the clock after a step is taken to be right, which is what time sync
  makes it).  The monotonic clock counts from the boot, so an offset kept in a file holds for
  the boot it was taken in only (``same_boot``): a time taken before a reboot cannot be put
  right, as nothing on a Pi measures how long it was off.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path

STEP_S = 2.0  # a change of (wall - monotonic) larger than this is a step, not slewing

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")  # Linux: a new one at each boot

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


def boot_id(path: Path = BOOT_ID) -> str:
    """This boot's id (Linux); where it cannot be read, one of this process alone (offsets kept
    then hold for this run only)."""
    try:
        return path.read_text().strip() or uuid.uuid4().hex
    except OSError:
        return uuid.uuid4().hex


class WallOffset:
    """(wall - monotonic) now, the basis a wall-clock time is put right against (see the module
    docstring); ``boot``: the boot that its values hold for."""

    def __init__(self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 boot: str | None = None) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self.boot = boot if boot is not None else boot_id()

    def now(self) -> float:
        """The offset now: it changes by the size of each step of the wall clock, and by nothing
        else (slewing moves the monotonic clock alike)."""
        return self._wall() - self._monotonic()

    def since(self, offset: float) -> float:
        """Seconds a time taken at ``offset`` must move to read on the clock of now: the steps
        since, 0.0 where they come to no more than ``STEP_S``."""
        moved = self.now() - offset
        return moved if abs(moved) > STEP_S else 0.0


def same_boot(db: sqlite3.Connection, boot: str) -> bool:
    """Whether the offsets kept in ``db`` were taken in the boot ``boot``, which it keeps as theirs
    from now on (inside the caller's transaction)."""
    db.execute("CREATE TABLE IF NOT EXISTS clock_boot (id INTEGER PRIMARY KEY CHECK (id = 1), boot TEXT NOT NULL)")
    row = db.execute("SELECT boot FROM clock_boot WHERE id = 1").fetchone()
    db.execute("INSERT INTO clock_boot (id, boot) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET boot = ?1", (boot,))
    return row is not None and row[0] == boot


BATCH_ROWS = 2000  # rows a follower moves per transaction (about 0.2 s of JSON work on an x86 core)


class StepCatchUp:
    """The bookkeeping of a follower that moves stored times after a step of the wall clock in
    batches (the outbox's and the history's): whether a step is still to be followed, and, once
    its last batch is moved, the step and how many rows it moved in all."""

    def __init__(self, offset: WallOffset) -> None:
        self.offset = offset
        self._applied = offset.now()  # every row's times are on this offset (give or take STEP_S)
        self._moved = 0  # rows moved so far for the step being followed

    def follow(self, move: Callable[[float], int]) -> tuple[float, int] | None:
        """After a step, ``move(now)`` moves the next batch of rows not on the offset ``now`` (at
        most ``BATCH_ROWS``) and says how many; (step, rows moved in all) once fewer than a batch
        were left, else None (nothing to do, or more to move at the next call)."""
        now = self.offset.now()
        if abs(now - self._applied) <= STEP_S:
            return None
        count = move(now)
        self._moved += count
        if count == BATCH_ROWS:
            return None
        done = (now - self._applied, self._moved)
        self._applied, self._moved = now, 0
        return done
