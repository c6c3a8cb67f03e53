"""The events held on a full disk that waited beside the file for another process's lock, on a
disk short of room again (real tmpfs file systems: need root, skipped otherwise).

Before: they went back in one transaction ahead of every write, whatever the room, so with less
freed than they need none went in, each attempt took the disk to 0 bytes free, and every delivery
read raised "database or disk is full"; and a ``put`` that met a lock moved the held beside the
file only where the disk had room for them three times (else a torn line was all it got).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from test_outbox_full import roomy_fs
from test_state_dir import fill

from edge_alpr.delivery.outbox import Outbox

__all__ = ["roomy_fs"]  # the fixture, used by name

IMAGE = b"i" * 16_000


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _queued(box: Outbox) -> list[int]:
    return [item.payload["n"] for item in box.peek("webhook:x", 10_000)]


def _hold(box: Outbox, root: Path, spare_bytes: int, n: int) -> Path:
    """A full disk but ``spare_bytes`` in a spare file, then events ``0..n-1`` put (all held);
    the filler (the spare file is deleted)."""
    box.put("webhook:x", {"n": -1}, IMAGE)
    spare = root / "spare"
    spare.write_bytes(b"x" * spare_bytes)
    filler = fill(root / "filler")
    for i in range(n):
        box.put("webhook:x", {"n": i}, IMAGE)
    assert box.stats()["held"] == {"webhook:x": n}
    spare.unlink()
    return filler


def _locked_put(box: Outbox, path: Path, n: int) -> None:
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        box.put("webhook:x", {"n": n}, IMAGE)
    finally:
        other.rollback()
        other.close()


def _drain(box: Outbox, seen: Counter[int]) -> None:
    """Deliver (peek and acknowledge) every queued event, counting each."""
    while items := box.peek("webhook:x", 50):
        for item in items:
            seen[item.payload["n"]] += 1
            box.ack("webhook:x", item.id)


def test_waiting_events_wait_in_their_file_until_they_fit_and_are_delivered_once(roomy_fs: Path) -> None:
    """With less freed than the waiting events need, none go in (they stay on disk; a newer one
    with room goes in ahead of them), and delivered events are not queued again at the next start."""
    path = roomy_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    seen: Counter[int] = Counter()
    try:
        filler = _hold(box, roomy_fs, 9 * 1024 * 1024, 100)
        _locked_put(box, path, 100)
        assert box.stats()["waiting"] == {"webhook:x": 101}
        taken = roomy_fs / "taken"  # another process takes the space back but 1.2 MB
        taken.write_bytes(b"x" * (_free(roomy_fs) - 1200 * 1024))
        box.put("webhook:x", {"n": 101}, IMAGE)
        assert not any(box.stats()["held"].values())  # in ahead of the waiting, not held behind them
        box.follow_clock()
        _drain(box, seen)  # raised "database or disk is full" before the chunks
        assert _free(roomy_fs) > 0
        assert box.stats()["waiting"] == {"webhook:x": 101}
        assert box.stats()["dropped"] == {"webhook:x": 0}
    finally:
        box.close()
    taken.unlink()
    filler.unlink()
    box = Outbox(path)
    try:
        _drain(box, seen)
        box.put("webhook:x", {"n": 102}, IMAGE)
        _drain(box, seen)
        assert not path.with_name("outbox.sqlite-waiting").exists()
    finally:
        box.close()
    assert [n for n, times in seen.items() if times > 1] == []  # 48 of 101 twice before
    assert sorted(seen) == list(range(-1, 103))  # 101 went in ahead of the waiting: not held in memory


def test_a_lock_keeps_the_held_in_memory_where_the_disk_has_no_room_for_them_three_times(roomy_fs: Path) -> None:
    """The room check before the held move beside the file: 60 events of 16 KB (1.3 MB as written
    there) with 1.6 MB free stay in memory; the file is not written at all."""
    path = roomy_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    try:
        filler = _hold(box, roomy_fs, 1600 * 1024, 60)
        assert 1300 * 1024 < _free(roomy_fs) < 3 * 60 * len(IMAGE)
        _locked_put(box, path, 60)
        assert box.stats()["held"] == {"webhook:x": 61}
        assert not path.with_name("outbox.sqlite-waiting").exists()
        filler.unlink()
        box.follow_clock()
        assert _queued(box) == list(range(-1, 61))
    finally:
        box.close()


def _waiting_without_room(box: Outbox, root: Path, path: Path) -> tuple[Path, Path]:
    """101 events of 16 KB waiting beside the file, 1.2 MB free (they need three times 1.6 MB);
    the filler and the file that takes the rest."""
    filler = _hold(box, root, 9 * 1024 * 1024, 100)
    _locked_put(box, path, 100)
    assert box.stats()["waiting"] == {"webhook:x": 101}
    taken = root / "taken"
    taken.write_bytes(b"x" * (_free(root) - 1200 * 1024))
    return filler, taken


def test_the_line_for_waiting_events_without_room_says_newer_ones_go_in_ahead(
        roomy_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Before: it said the events held in memory "wait behind them", which they no longer do."""
    path = roomy_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    try:
        _waiting_without_room(box, roomy_fs, path)
        with caplog.at_level(logging.WARNING, "edge_alpr.delivery.outbox"):
            box.put("webhook:x", {"n": 101}, IMAGE)
        assert _queued(box) == [-1, 101]  # in ahead of the waiting
    finally:
        box.close()
    said = [r.getMessage() for r in caplog.records if "waiting in" in r.getMessage()]
    assert len(said) == 1 and "outbox.sqlite-waiting" in said[0], said
    assert "behind them" not in said[0] and "newer events go into the outbox ahead of them" in said[0], said


def test_waiting_events_without_room_at_a_start_stay_in_their_file(roomy_fs: Path) -> None:
    """Before: the start moved them in one transaction whatever the room, which took the disk to 0
    bytes free and failed, so the outbox could not open ("database or disk is full").  Now they
    stay in their file, a newer event goes in, and once there is room each is delivered once."""
    path = roomy_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    try:
        filler, taken = _waiting_without_room(box, roomy_fs, path)
    finally:
        box.close()
    assert path.with_name("outbox.sqlite-waiting").exists()
    seen: Counter[int] = Counter()
    box = Outbox(path)
    try:
        assert box.stats()["waiting"] == {"webhook:x": 101}
        box.put("webhook:x", {"n": 101}, IMAGE)
        _drain(box, seen)
        assert _free(roomy_fs) > 0 and box.stats()["waiting"] == {"webhook:x": 101}
        taken.unlink()
        filler.unlink()
        box.follow_clock()
        _drain(box, seen)
        assert box.stats()["waiting"] == {"webhook:x": 0}
        assert not path.with_name("outbox.sqlite-waiting").exists()
    finally:
        box.close()
    assert [n for n, times in seen.items() if times > 1] == []
    assert sorted(seen) == list(range(-1, 102))
