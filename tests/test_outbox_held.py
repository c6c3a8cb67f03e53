"""Events put while the disk under the outbox is full: held in memory, written once there is room
(real tmpfs file systems: need root, skipped otherwise).

Before: each event whose ``put`` found the disk full was lost (a ``StateError``, counted as
dropped), and a folder camera marked its file read so that it was never read again.  Now the
outbox holds them in memory (bounded: past the bound the oldest are dropped, counted and
logged) and writes them, in order, at the next ``put``, each second (``follow_clock``) and at
``close``.  And on a disk with less free than the ``-wal`` log's 1000-page checkpoint (~4 MB),
the log no longer takes every byte freed: a full disk checkpoints and truncates it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path

import pytest
from test_outbox_full import _wait
from test_state_dir import fill, small_fs

from edge_alpr.delivery.outbox import Outbox, OutboxItem
from edge_alpr.delivery.worker import DeliveryWorker

__all__ = ["small_fs"]  # the fixture, used by name

PAD = "x" * 400


def _fill_and_hold(box: Outbox, root: Path, n: int) -> tuple[Path, list[int]]:
    """Fill the disk, then put events ``0..n-1``; the filler, and which of them are held (the
    ``-wal`` log's free pages may take the first few)."""
    filler = fill(root / "filler")
    for i in range(n):
        box.put("mqtt", {"n": i, "pad": PAD})
    held = box.stats()["held"].get("mqtt", 0)
    return filler, list(range(n - held, n))


def _queued(box: Outbox) -> list[int]:
    return [i.payload["n"] for i in box.peek("mqtt", 10_000)]


def test_events_put_on_a_full_disk_are_held_and_go_in_at_the_next_put(
        small_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(small_fs / "state" / "outbox.sqlite")
    box.put("mqtt", {"n": -1})
    with caplog.at_level(logging.ERROR, "edge_alpr.delivery.outbox"):
        filler, held = _fill_and_hold(box, small_fs, 40)
    assert held, "nothing was held: the disk did not fill"
    stats = box.stats()
    assert stats["dropped"] == {"mqtt": 0} and stats["pending"] == {"mqtt": 41}
    said = [r.getMessage() for r in caplog.records if "held in memory" in r.getMessage()]
    assert len(said) == 1 and f"state_dir {small_fs / 'state'}: the file system is full" in said[0], said
    filler.unlink()
    box.put("mqtt", {"n": 40})
    assert box.stats()["held"] == {"mqtt": 0}
    assert _queued(box) == list(range(-1, 41))  # in order, each once
    box.close()
    again = Outbox(small_fs / "state" / "outbox.sqlite")  # on disk
    try:
        assert _queued(again) == list(range(-1, 41)) and again.stats()["dropped"] == {"mqtt": 0}
    finally:
        again.close()


def test_held_events_go_in_each_second_without_a_new_put(small_fs: Path) -> None:
    """``follow_clock`` (the service's each second) writes them once there is room."""
    box = Outbox(small_fs / "state" / "outbox.sqlite")
    try:
        filler, held = _fill_and_hold(box, small_fs, 30)
        assert held
        box.follow_clock()  # still full: nothing changes, nothing raised
        assert box.stats()["held"] == {"mqtt": len(held)}
        filler.unlink()
        box.follow_clock()
        assert box.stats()["held"] == {"mqtt": 0} and _queued(box) == list(range(30))
    finally:
        box.close()


def test_held_events_are_written_at_close_where_there_is_room(small_fs: Path) -> None:
    box = Outbox(small_fs / "state" / "outbox.sqlite")
    filler, held = _fill_and_hold(box, small_fs, 30)
    assert held
    filler.unlink()
    box.close()
    again = Outbox(small_fs / "state" / "outbox.sqlite")
    try:
        assert _queued(again) == list(range(30))
    finally:
        again.close()


def test_past_its_bound_the_oldest_held_are_dropped_counted_and_logged(
        small_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The bound is the outbox's ``max_rows`` where smaller than ``HELD_MAX_ROWS``."""
    box = Outbox(small_fs / "state" / "outbox.sqlite", max_rows=10)
    try:
        with caplog.at_level(logging.WARNING, "edge_alpr.delivery.outbox"):
            filler, held = _fill_and_hold(box, small_fs, 60)
        assert held == list(range(50, 60))  # the newest 10
        assert box.stats()["dropped"]["mqtt"] > 0
        lines = [r.getMessage() for r in caplog.records if "are held in memory, dropped" in r.getMessage()]
        assert lines and "of mqtt" in lines[0], lines
        filler.unlink()
        box.follow_clock()
        assert _queued(box) == list(range(50, 60)) and box.stats()["dropped"] == {"mqtt": 50}
    finally:
        box.close()


def test_the_wal_gives_back_the_space_freed_on_a_2_mib_disk(small_fs: Path) -> None:
    """``test_outbox_full``'s acknowledgements on a full disk, on 2 MiB: before, once the space was
    freed the ``-wal`` log took it all on its way to its 1000-page checkpoint, the disk was full
    again and no acknowledgement went in (the 30 s wait failed); now each is acknowledged, once."""
    box = Outbox(small_fs / "state" / "outbox.sqlite")
    for n in range(40):
        box.put("s", {"n": n, "pad": "x" * 2000})
    sent: Counter[int] = Counter()
    full = threading.Event()

    def send(item: OutboxItem) -> None:
        full.wait()
        sent[item.payload["n"]] += 1

    stop = threading.Event()
    worker = DeliveryWorker(box, "s", send, stop, backoff_initial_s=0.05, backoff_max_s=0.05, idle_poll_s=0.1)
    worker.start()
    try:
        filler = fill(small_fs / "filler")
        full.set()
        _wait(lambda: worker.state.outbox_errors >= 5)
        filler.unlink()
        _wait(lambda: not box.stats()["pending"].get("s"))
        assert sent == Counter(range(40))
    finally:
        stop.set()
        box.wake()
        worker.join(5)
        box.close()
