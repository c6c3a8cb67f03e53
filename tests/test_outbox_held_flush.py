"""How the events held in memory on a full disk go back into the outbox (real tmpfs file systems:
need root, skipped otherwise).

Before: they were written in one transaction with the next ``put``'s, so where the space freed was
less than them none went in, each attempt filled the ``-wal`` log with every byte freed and the
oldest kept being dropped; another process's lock on a full disk made ``follow_clock`` and
``close`` raise; events that waited for that lock went in ahead of older held ones; another error
was never said; and the log's tight checkpoints stayed on where 16 MiB were never free.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from test_outbox_full import _wait, roomy_fs
from test_outbox_held import PAD, _fill_and_hold, _queued
from test_state_dir import fill, small_fs

from edge_alpr.delivery.outbox import Outbox, OutboxItem
from edge_alpr.delivery.worker import DeliveryWorker

__all__ = ["roomy_fs", "small_fs"]  # the fixtures, used by name

IMAGE = b"i" * 16_000  # a webhook's small scene


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_what_the_space_freed_allows_goes_in_oldest_first_and_the_rest_stays_held(roomy_fs: Path) -> None:
    """2 MiB freed, 3.2 MB held: the oldest go in (before: none did), the newest event goes
    behind the rest, nothing more is dropped, and the log does not keep the space freed."""
    box = Outbox(roomy_fs / "state" / "outbox.sqlite")
    try:
        box.put("webhook:x", {"n": -1}, IMAGE)
        spare = roomy_fs / "spare"
        spare.write_bytes(b"x" * 2 * 1024 * 1024)
        filler = fill(roomy_fs / "filler")
        for n in range(200):
            box.put("webhook:x", {"n": n}, IMAGE)
        held = box.stats()["held"]["webhook:x"]
        assert held > 150, held
        spare.unlink()
        box.put("webhook:x", {"n": 200}, IMAGE)
        box.follow_clock()
        queued = [item.payload["n"] for item in box.peek("webhook:x", 1000)]
        first = 200 - held
        assert len(queued) > first + 1 and queued == list(range(-1, len(queued) - 1)), queued
        assert box.stats()["held"]["webhook:x"] == 200 - len(queued) + 2  # the rest, then the new one
        assert box.stats()["dropped"] == {"webhook:x": 0}
        wal = roomy_fs / "state" / "outbox.sqlite-wal"
        assert not wal.exists() or wal.stat().st_size < 1024 * 1024
        assert _free(roomy_fs) > 0  # left to the other processes on that disk
        filler.unlink()
        box.follow_clock()
        assert [item.payload["n"] for item in box.peek("webhook:x", 1000)] == list(range(-1, 201))
    finally:
        box.close()


def test_a_full_disk_and_another_process_lock_raise_nowhere(
        small_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``follow_clock`` (documented never to raise), ``put`` and ``close`` (each of its steps
    taken) while the disk is full and another process holds the file (before: ``StateError``
    from all three, and the file was never closed)."""
    path = small_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    box.put("mqtt", {"n": -1})
    _, held = _fill_and_hold(box, small_fs, 30)
    assert held
    other = sqlite3.connect(str(path), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        box.follow_clock()
        box.follow_clock()
        box.put("mqtt", {"n": 30})
        assert box.stats()["held"] == {"mqtt": len(held) + 1}
        with caplog.at_level(logging.ERROR, "edge_alpr.delivery.outbox"):
            box.close()
        lost = [r.getMessage() for r in caplog.records if "lost at this stop" in r.getMessage()]
        assert lost and f"for mqtt ({len(held) + 1})" in lost[0], lost
        with pytest.raises(sqlite3.ProgrammingError):  # closed
            box.stats()
    finally:
        other.rollback()
        other.close()


def test_events_that_waited_for_a_lock_go_in_behind_the_older_held(small_fs: Path) -> None:
    """Held on a full disk, then space freed, then a ``put`` that meets another process's lock:
    the held wait beside the file ahead of it (before: it went in ahead of them)."""
    path = small_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    try:
        box.put("mqtt", {"n": -1})
        filler, held = _fill_and_hold(box, small_fs, 30)
        assert held
        filler.unlink()
        other = sqlite3.connect(str(path), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        box.put("mqtt", {"n": 100})
        assert box.stats()["held"] == {"mqtt": 0}  # on disk beside the file now
        other.rollback()
        other.close()
        assert _queued(box) == [-1, *range(30), 100]
    finally:
        box.close()


class _ReadOnly:
    """The outbox's connection on a file system turned read-only: a fake, since a tmpfs with the
    file open for writing cannot be remounted read-only here ("mount point is busy")."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.startswith(("BEGIN", "PRAGMA wal_checkpoint")):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.db, name)


def test_another_error_writing_the_held_is_said_once(small_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An error other than a full disk while events are held: one error line, not one a second,
    and none at all before; they go in once it is gone."""
    box = Outbox(small_fs / "state" / "outbox.sqlite")
    try:
        box.put("mqtt", {"n": -1})
        filler, held = _fill_and_hold(box, small_fs, 10)
        assert held
        filler.unlink()
        real = box._db
        vars(box)["_db"] = vars(box._wal)["_db"] = _ReadOnly(real)
        with caplog.at_level(logging.ERROR, "edge_alpr.delivery.outbox"):
            for _ in range(3):
                box.follow_clock()
        vars(box)["_db"] = vars(box._wal)["_db"] = real
        said = [r.getMessage() for r in caplog.records if "held in memory cannot be written" in r.getMessage()]
        assert len(said) == 1 and f"the {len(held)} event(s)" in said[0], said
        box.follow_clock()
        assert box.stats()["held"] == {"mqtt": 0} and _queued(box) == list(range(-1, 10))
    finally:
        box.close()


def test_the_log_checkpoints_as_by_default_again_where_16_mib_are_never_free(roomy_fs: Path) -> None:
    """On a 16 MiB partition: once all held are in and the disk has room, SQLite's default
    checkpoint is back (before: every 16 pages for as long as the process ran)."""
    box = Outbox(roomy_fs / "state" / "outbox.sqlite")
    try:
        filler = fill(roomy_fs / "filler")
        for n in range(5):
            box.put("mqtt", {"n": n, "pad": PAD})
        assert box.stats()["held"]["mqtt"]
        filler.unlink()
        box.follow_clock()
        assert box.stats()["held"] == {"mqtt": 0}
        box.follow_clock()
        (pages,) = sqlite3.connect(":memory:").execute("PRAGMA wal_autocheckpoint").fetchone()
        assert box._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (pages,)
    finally:
        box.close()


def test_workers_are_woken_when_held_events_go_in(small_fs: Path) -> None:
    """A worker asleep for its idle poll (here longer than the test's wait) sends the held events
    as soon as ``follow_clock`` writes them."""
    box = Outbox(small_fs / "state" / "outbox.sqlite")
    sent: list[int] = []
    stop = threading.Event()

    def send(item: OutboxItem) -> None:
        sent.append(item.payload["n"])

    worker = DeliveryWorker(box, "mqtt", send, stop, idle_poll_s=3600.0)
    try:
        filler, held = _fill_and_hold(box, small_fs, 20)
        assert held
        filler.unlink()
        worker.start()  # sends those in the file, then sleeps
        _wait(lambda: sent == list(range(held[0])) and box.stats()["pending"]["mqtt"] == len(held))
        box.follow_clock()
        _wait(lambda: sent == list(range(20)))
    finally:
        stop.set()
        box.wake()
        worker.join(5)
        box.close()
