"""A step of the wall clock is one line in the history's log, whichever notices it first (the
service's each-second look, or an event stored): the step, the events moved, and what follows.
Before, each step wrote two info lines (the times moved, and the ages), in either order.

A real history (SQLite, files); the clocks are injected, as a test cannot step the host's.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.sighting import Sighting
from edge_alpr.history.store import History
from edge_alpr.types import Box

STALE = 1_600_000_000.0
STEP_S = 30 * 86400.0


class Clock:
    """A clock the test moves: ``now`` seconds."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _sighting(n: int, wall: Clock, mono: Clock) -> Sighting:
    stamp = datetime.fromtimestamp(wall.now, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event = {"id": f"ev-{n}", "camera_id": "gate", "plate": "ab123cd", "timestamp": stamp}
    return Sighting(f"ev-{n}", "camera", "gate", datetime.fromtimestamp(wall.now, timezone.utc), "AB123CD", 0.9,
                    Box(10, 10, 60, 30), event, None, np.full((60, 80, 3), 90, np.uint8), wall.now - mono.now)


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records
             if r.name.startswith("edge_alpr.history") and r.levelno >= logging.INFO]
    caplog.clear()
    return lines


def test_each_step_is_one_line_in_the_history_s_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    wall, mono = Clock(STALE), Clock(100.0)
    history = History(HistoryConfig(max_age_days=365, min_free_bytes=0), tmp_path / "h", clock=wall,
                      monotonic=mono, boot="boot-1")
    caplog.set_level(logging.DEBUG, logger="edge_alpr")
    try:
        history.publish(_sighting(1, wall, mono))
        history.publish(_sighting(2, wall, mono))
        assert _lines(caplog) == []
        wall.now += STEP_S  # time sync; the service's each-second look sees it first
        history.follow_clock()
        history.publish(_sighting(3, wall, mono))
        assert _lines(caplog) == [
            "history: the wall clock stepped by +2592000 s (time sync?); the times of the 2 event(s) read before it "
            "are moved by it (their order and searches by time follow), and ages count from the real time"]
        wall.now -= 3600  # a step back, an event stored first
        history.publish(_sighting(4, wall, mono))
        history.follow_clock()
        assert _lines(caplog) == [
            "history: the wall clock stepped by -3600 s (time sync?); the times of the 3 event(s) read before it "
            "are moved by it (their order and searches by time follow), and ages count from the real time"]
    finally:
        history.close()
