"""The events held in memory on a full disk, around another process's lock (real tmpfs file
systems: need root, skipped otherwise).

Before: a lock met by a delivery read left the outbox's lock episode open until a later write or
read, and meanwhile neither ``follow_clock`` nor ``close`` tried the held events, so after the lock
went and space was freed ``close`` dropped them as "the disk is still full".
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_outbox_held import _fill_and_hold, _queued
from test_state_dir import small_fs

from edge_alpr import db_lock
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.errors import DatabaseLocked

__all__ = ["small_fs"]  # the fixture, used by name


def _hold_then_meet_a_lock(path: Path, root: Path) -> tuple[Outbox, list[int]]:
    """Events held on a full disk, then a delivery read that meets another process's lock, then
    the lock gone and the space freed; the outbox, and which events were held."""
    box = Outbox(path)
    box.put("mqtt", {"n": -1})
    filler, held = _fill_and_hold(box, root, 30)
    assert held
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(DatabaseLocked):
        box.peek("mqtt", 1)
    other.rollback()
    other.close()
    filler.unlink()
    return box, held


def test_close_writes_the_held_after_a_lock_met_and_gone(small_fs: Path) -> None:
    path = small_fs / "state" / "outbox.sqlite"
    box, held = _hold_then_meet_a_lock(path, small_fs)
    box.close()
    box = Outbox(path)
    try:
        assert _queued(box) == list(range(-1, 30))
    finally:
        box.close()


def test_follow_clock_writes_the_held_after_a_lock_met_and_gone(small_fs: Path) -> None:
    path = small_fs / "state" / "outbox.sqlite"
    box, held = _hold_then_meet_a_lock(path, small_fs)
    try:
        box.follow_clock()
        assert box.stats()["held"] == {"mqtt": 0}
        assert _queued(box) == list(range(-1, 30))
    finally:
        box.close()


def test_follow_clock_never_waits_for_another_process_lock(small_fs: Path) -> None:
    """Each second, with events held: every checkpoint and transaction ``follow_clock`` begins
    runs with ``busy_timeout`` 0 (waiting would stall the outbox's lock, and every ``put``, each
    second); afterwards ``put`` waits as the lock episode says."""
    path = small_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    try:
        box.put("mqtt", {"n": -1})
        filler, held = _fill_and_hold(box, small_fs, 30)
        assert held
        filler.unlink()
        other = sqlite3.connect(str(path), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        seen: list[str] = []
        box._db.set_trace_callback(seen.append)
        box.follow_clock()
        box._db.set_trace_callback(None)
        other.rollback()
        other.close()
        wait, checked = None, 0
        for statement in seen:
            text = statement.strip().upper()
            if text.startswith("PRAGMA BUSY_TIMEOUT="):
                wait = int(text.split("=")[1])
            elif "WAL_CHECKPOINT" in text or text.startswith("BEGIN"):
                assert wait == 0, (statement, seen)
                checked += 1
        # The lock was met: the episode's short wait for the next puts, not the outbox's own
        # (500 ms each put, before, while the episode lasted).
        assert box._episode.active
        assert checked and wait == db_lock.BUSY_RETRY_MS, seen
        assert _queued(box) == list(range(-1, 30))
    finally:
        box.close()
