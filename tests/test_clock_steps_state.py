"""The outbox's and the history's age bounds when the wall clock steps or was wrong in an earlier
run (a Raspberry Pi without a real-time clock: booted at 1970 or at its last shutdown's time, then
stepped by time sync).  Real SQLite files; the clocks are injected.  The running service with a
step is ``tests/test_clock_step_service.py``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.outbox_waiting import SUFFIX
from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.store import EventQuery, History, Sighting
from edge_alpr.types import Box

DAY_S = 86400.0
YEAR_S = 365 * DAY_S
SCENE = np.full((120, 160, 3), 90, np.uint8)


class Clock:
    """A clock the test moves: ``now`` seconds."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _sighting(n: int) -> Sighting:
    return Sighting(f"ev-{n}", "camera", "gate", datetime.fromtimestamp(1_700_000_000 + n, timezone.utc),
                    f"AB{n}CD", 0.9, Box(10, 10, 60, 30), {"plate": f"ab{n}cd", "camera_id": "gate"}, None, SCENE)


def _plates(history: History) -> set[str]:
    return {e["plate"] for e in history.query(EventQuery())[0]}


def test_the_outbox_ages_on_running_time_across_a_restart(tmp_path: Path) -> None:
    """The age goes on after a restart (the new boot's monotonic clock starts again from 0), and
    the time the device was off does not count, whatever the wall clock says of it."""
    first = Clock(50_000.0)
    box = Outbox(tmp_path / "o.sqlite", max_age_s=3600, clock=first)
    box.put("s", {"n": 0})
    first.now += 3000
    box.close()
    second = Clock(5.0)  # a reboot
    box = Outbox(tmp_path / "o.sqlite", max_age_s=3600, clock=second)
    box.put("s", {"n": 1})
    second.now += 500
    assert [i.payload["n"] for i in box.peek("s", 10)] == [0, 1]  # 3500 s queued
    second.now += 101
    assert [i.payload["n"] for i in box.peek("s", 10)] == [1]  # 3601 s
    assert box.stats()["dropped"]["s"] == 1
    box.close()


def test_an_older_outbox_file_and_waiting_rows_keep_their_ages(tmp_path: Path) -> None:
    """A file from before running time (ages by the wall clock, once) and its waiting rows: an
    event the clock is behind of (queued at a later time than now) counts as new."""
    path = tmp_path / "o.sqlite"
    now = time.time()
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
                   "sink TEXT NOT NULL, created REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
                   "size INTEGER NOT NULL DEFAULT 0, last_error TEXT, payload TEXT NOT NULL, blob BLOB)")
        for n, created in enumerate((now - 7200, now - 100, now + YEAR_S)):
            db.execute("INSERT INTO outbox (id, sink, created, payload, size) VALUES (?, 's', ?, ?, 9)",
                       (f"e{n}", created, json.dumps({"n": n})))
        db.commit()
    waiting = {"rows": [["w", "s", now - 100, json.dumps({"n": 3}), None, 9]]}  # an older version's line
    path.with_name(path.name + SUFFIX).write_text(json.dumps(waiting) + "\n")
    box = Outbox(path, max_age_s=3600)
    assert [i.payload["n"] for i in box.peek("s", 10)] == [1, 2, 3]
    box.close()


def test_a_step_back_of_a_year_does_not_stop_the_history_age_bound(tmp_path: Path) -> None:
    """Before: the age check ran once the clock passed the last check again, a year later."""
    wall, mono = Clock(1_760_000_000.0), Clock(1000.0)
    history = History(HistoryConfig(max_age_days=1, min_free_bytes=0), tmp_path / "h", clock=wall, monotonic=mono)
    history.publish(_sighting(1))
    wall.now -= YEAR_S  # time sync: the clock was a year ahead
    wall.now += 2 * DAY_S
    mono.now += 2 * DAY_S
    history.publish(_sighting(2))
    assert _plates(history) == {"ab2cd"}  # two days old: gone
    history.close()


def test_events_an_earlier_run_stored_ahead_of_the_clock_still_age(tmp_path: Path) -> None:
    """Stored by a run whose clock was a year ahead: aged from when this run first saw it."""
    cfg = HistoryConfig(max_age_days=1, min_free_bytes=0)
    wall, mono = Clock(1_760_000_000.0 + YEAR_S), Clock(1000.0)
    history = History(cfg, tmp_path / "h", clock=wall, monotonic=mono)
    history.publish(_sighting(1))
    history.close()
    wall, mono = Clock(1_760_000_000.0), Clock(10.0)  # the next boot, with the right time
    history = History(cfg, tmp_path / "h", clock=wall, monotonic=mono)
    history.publish(_sighting(2))
    for clock in (wall, mono):
        clock.now += 2 * DAY_S
    history.publish(_sighting(3))
    assert _plates(history) == {"ab3cd"}  # ab1cd: before, kept until the clock reached its year
    history.close()
