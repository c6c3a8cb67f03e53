"""How much of the held one call writes once the disk has room again (real tmpfs file systems:
need root, skipped otherwise).

Before: every held event went in at the first ``put`` or second after space came back, each
transaction with a truncation of the log (an fsync or more each): 16 MB held held the outbox's
lock for 1 to 5 s on an SD card, and a stop then overran.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from test_outbox_held import _fill_and_hold, _queued
from test_state_dir import small_fs

from edge_alpr.delivery import outbox_held
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.outbox_waiting import Row

__all__ = ["small_fs"]  # the fixture, used by name

N = 1000


def test_each_second_writes_a_bounded_part_of_the_held_oldest_first(small_fs: Path) -> None:
    path = small_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    try:
        box.put("mqtt", {"n": -1})
        filler, held = _fill_and_hold(box, small_fs, N)
        assert len(held) > outbox_held.CALL_CHUNKS * outbox_held.CHUNK_ROWS, len(held)
        filler.unlink()
        checkpoints: list[str] = []
        box._db.set_trace_callback(lambda s: checkpoints.append(s) if "wal_checkpoint" in s.lower() else None)
        box.follow_clock()
        box._db.set_trace_callback(None)
        left = box.stats()["held"]["mqtt"]
        assert left == len(held) - outbox_held.CALL_CHUNKS * outbox_held.CHUNK_ROWS, left
        assert 0 < len(checkpoints) < outbox_held.CALL_CHUNKS, checkpoints  # not one per transaction
        box.put("mqtt", {"n": N})  # behind those still held
        assert _queued(box) == list(range(-1, N + 1))
    finally:
        box.close()


def test_a_put_once_the_disk_has_room_writes_all_the_held_and_its_own_before_it_returns(small_fs: Path) -> None:
    """Before: a put wrote 8 transactions of the held and kept its own event in memory behind the
    rest, lost to a kill -9 although the disk had room."""
    path = small_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    try:
        box.put("mqtt", {"n": -1})
        filler, held = _fill_and_hold(box, small_fs, N)
        assert len(held) > outbox_held.CALL_CHUNKS * outbox_held.CHUNK_ROWS, len(held)
        filler.unlink()
        box.put("mqtt", {"n": N})
        other = sqlite3.connect(str(path))  # what a restart after kill -9 finds
        try:
            on_disk = [json.loads(text)["n"] for (text,) in other.execute("SELECT payload FROM outbox ORDER BY rowid")]
        finally:
            other.close()
        assert on_disk == list(range(-1, N + 1))
        assert box.stats()["held"] == {"mqtt": 0}
    finally:
        box.close()


def test_a_stop_writes_all_the_held_where_it_has_the_time(small_fs: Path) -> None:
    path = small_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    box.put("mqtt", {"n": -1})
    filler, held = _fill_and_hold(box, small_fs, N)
    assert len(held) > N // 2, len(held)  # more than one call's part
    filler.unlink()
    box.close()
    box = Outbox(path)
    try:
        assert _queued(box) == list(range(-1, N))
    finally:
        box.close()


class _SlowDisk:
    """A disk where each transaction takes ``cost`` seconds, on a clock of its own (no SD card
    here: the clock ``flush`` reads is this one, advanced by each write)."""

    def __init__(self, cost: float) -> None:
        self.now = 0.0
        self.cost = cost
        self.sizes: list[int] = []

    def monotonic(self) -> float:
        return self.now

    def wrap(self, write: Callable[..., None]) -> Callable[..., None]:
        def slow(rows: list[Row], *args: object, **kwargs: object) -> None:
            self.now += self.cost
            self.sizes.append(len(rows))
            write(rows, *args, **kwargs)
        return slow


def test_a_stop_writes_the_held_in_small_transactions_within_its_time(
        small_fs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: 256 events (1 MB) per transaction at a stop, and the time checked only before each,
    so the last one and its truncation overran ``CLOSE_SECONDS`` on a slow disk."""
    path = small_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    try:
        box.put("mqtt", {"n": -1})
        filler, held = _fill_and_hold(box, small_fs, N)
        filler.unlink()
        disk = _SlowDisk(outbox_held.CLOSE_SECONDS * 0.3)
        monkeypatch.setattr(outbox_held, "time", disk)
        monkeypatch.setattr(box, "_write", disk.wrap(box._write))
        box.write_held()
        assert disk.sizes and max(disk.sizes) <= outbox_held.CHUNK_ROWS, disk.sizes
        assert disk.now <= outbox_held.CLOSE_SECONDS, disk.sizes
        assert 0 < box.stats()["held"]["mqtt"] < len(held)
    finally:
        monkeypatch.undo()
        box.close()
