"""The event history's bounds: what it weighs, and deleting its oldest events to stay within them.

Why apart from the writes: the bounds (``HistoryConfig``) are what keeps weeks of events from
filling an SD card, and the only code that deletes anything, so it is kept where its one rule
can be checked at a glance: only files the history made are ever deleted (named by a row, or
in a day folder older than every row: left by a crash between writing and committing), files
before rows (on a full disk that frees the room SQLite needs); nothing else under
``state_dir`` is touched.  A file that cannot be deleted (its folder given to another user,
``chattr +i``, a read-only remount) does not keep its row: the bounds would then hold for no
event stored after it, for as long as the outage lasts.  The row goes, the file stays (said once
until a delete works again) and goes with its day folder once that is older than every row and
writable again.

Before each event is stored, oldest stored first: ``max_age_days`` (checked at most every
``AGE_CHECK_S`` of the monotonic clock), ``max_bytes`` over images plus rows, and
``min_free_bytes`` of free space left on the file system, whatever else fills it.  Everything
here runs with the store's lock held.

Ages are the wall clock's, since the bound is a promise in days (plates kept no longer than the
site allows), but a device without a real-time clock runs for hours on a wrong one until time
sync steps it by days or years.  So the age counts from ``age_from``: a step seen while running
(``clocks.StepWatch``, checked before each event is stored) moves the ``age_from`` of the events
this run stored before it by the same amount, and an event whose ``age_from`` is ahead of the
clock (stored by an earlier run whose clock was ahead) counts from now.  Before, a step forward
of two days purged every event stored before it (``max_age_days: 1``), and a step back stopped
age pruning until the clock had caught up with the last check (a year for a year's step).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..clocks import STEP_S, StepWatch
from .config import HistoryConfig

log = logging.getLogger(__name__)

AGE_CHECK_S = 60.0
BATCH = 64  # most events deleted at once
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OWN_FILE = re.compile(r"^(\.)?[0-9A-Za-z-]{1,64}-(plate|scene)\.jpg(\.tmp)?$")


class Retention:
    """The bytes and events a history holds, and its bounds; see the module docstring."""

    def __init__(self, db: sqlite3.Connection, cfg: HistoryConfig, root: Path, images: Path,
                 clock: Callable[[], float], free_bytes: Callable[[Path], int],
                 monotonic: Callable[[], float]) -> None:
        self._db = db
        self.cfg = cfg
        self.root = root
        self.images = images
        self._clock = clock
        self._monotonic = monotonic
        self._steps = StepWatch(clock, monotonic)
        self._first_seq = int(db.execute("SELECT IFNULL(MAX(seq), 0) FROM events").fetchone()[0])  # this run's: above
        self._free = free_bytes
        total = db.execute("SELECT IFNULL(SUM(size), 0), COUNT(*) FROM events").fetchone()
        self.bytes, self.count = int(total[0]), int(total[1])
        self.deleted = 0  # this process: events deleted by the bounds
        self._last_age_check = float("-inf")
        self._stuck = False  # a file could not be deleted, and that was said

    def added(self, size: int) -> None:
        """Count one event of ``size`` bytes just stored."""
        self.bytes += size
        self.count += 1

    def make_room(self, incoming: int) -> bool:
        """Apply the bounds for ``incoming`` more bytes; False if the disk has no room at all."""
        now = self._clock()
        self._follow_steps()
        if self._monotonic() - self._last_age_check >= AGE_CHECK_S:
            self._last_age_check = self._monotonic()
            self._db.execute("UPDATE events SET age_from = ?1 WHERE age_from > ?1 + ?2", (now, STEP_S))
            cutoff = now - self.cfg.max_age_days * 86400.0
            while self._delete_where("age_from < ?", (cutoff,), BATCH * 8):
                pass
        while self.bytes + incoming > self.cfg.max_bytes and \
                self.delete_oldest(self._enough_for(self.bytes + incoming - self.cfg.max_bytes)):
            pass
        while (short := self.cfg.min_free_bytes + incoming - self._free(self.root)) > 0:
            if not self.delete_oldest(self._enough_for(short)):
                return False
        return True

    def _follow_steps(self) -> None:
        """A step of the wall clock since the last event: this run's events move with it."""
        step = self._steps.step()
        if step:
            moved = self._db.execute("UPDATE events SET age_from = age_from + ? WHERE seq > ?",
                                     (step, self._first_seq)).rowcount
            # the step's one info line is the times' (``clock_steps.py``), which names the ages too
            log.debug("history: the wall clock stepped by %+.0f s; the ages of the %d event(s) stored before it "
                      "in this run count from their real time", step, moved)
            self._last_age_check = float("-inf")  # what the step made old goes now

    def _enough_for(self, missing: int) -> int:
        """How many of the oldest events likely free ``missing`` bytes (1..BATCH)."""
        average = self.bytes / self.count if self.count else float(missing)
        return max(1, min(BATCH, int(missing / max(average, 1.0)) + 1))

    def delete_oldest(self, count: int) -> int:
        """Delete up to ``count`` of the oldest stored events, files first; how many were."""
        return self._delete_where("1", (), count)

    def _delete_where(self, condition: str, args: tuple[Any, ...], count: int) -> int:
        rows = self._db.execute(f"SELECT seq, size, plate_image, scene_image FROM events "
                                f"WHERE {condition} ORDER BY seq LIMIT ?", (*args, count)).fetchall()
        if not rows:
            return 0
        for _, _, *names in rows:  # files first: on a full disk that is what lets SQLite write
            for name in names:
                if name:
                    self._unlink(self.images / name)
        self._db.execute("DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))",
                         (json.dumps([r[0] for r in rows]),))
        self.bytes -= sum(r[1] for r in rows)
        self.count -= len(rows)
        self.deleted += len(rows)
        self._sweep_days()
        return len(rows)

    def _sweep_days(self) -> None:
        """Remove day folders older than every row (crash leftovers), our own files only."""
        first = self._db.execute("SELECT MIN(stored) FROM events").fetchone()[0]
        keep = datetime.fromtimestamp(first if first is not None else self._clock(),
                                      timezone.utc).strftime("%Y-%m-%d")
        for folder in self.images.iterdir():
            if not (folder.is_dir() and _DAY.fullmatch(folder.name) and folder.name < keep):
                continue
            for path in folder.iterdir():
                if _OWN_FILE.fullmatch(path.name):
                    self._unlink(path)
            try:
                folder.rmdir()
            except OSError:  # something not ours is in it, or it cannot be written: leave it
                pass

    def _unlink(self, path: Path) -> None:
        """Delete one of our files; one that cannot be is left (see the module docstring)."""
        try:
            path.unlink(missing_ok=True)
        except OSError as e:
            if not self._stuck:
                log.warning("history: could not delete %s (%s); the bounds delete the events "
                            "anyway, and their files stay until the folder can be written", path, e)
                self._stuck = True
            return
        self._stuck = False
