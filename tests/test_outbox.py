"""The durable outbox: order, durability across reopen and SIGKILL, bounds, worker retries."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge_alpr.delivery.outbox import Outbox, OutboxItem
from edge_alpr.delivery.worker import DeliveryWorker


def test_fifo_per_sink_and_ack(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    ids = [box.put("a", {"n": i}) for i in range(3)]
    box.put("b", {"n": 99})
    assert len(set(ids)) == 3
    items = box.peek("a", 10)
    assert [i.payload["n"] for i in items] == [0, 1, 2]
    assert [i.id for i in items] == ids
    box.ack("a", ids[0])
    assert [i.payload["n"] for i in box.peek("a", 10)] == [1, 2]
    assert [i.payload["n"] for i in box.peek("b", 10)] == [99]
    stats = box.stats()
    assert stats["pending"] == {"a": 2, "b": 1}
    assert stats["delivered"]["a"] == 1


def test_put_many_queues_for_every_sink_or_for_none(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    ids = box.put_many([("mqtt", {"event": "e1"}, None), ("webhook:x", {"event": "e1"}, b"jpg")])
    assert len(set(ids)) == 2
    assert [i.payload for i in box.peek("mqtt", 5)] == [{"event": "e1"}]
    assert [(i.payload, i.blob) for i in box.peek("webhook:x", 5)] == [({"event": "e1"}, b"jpg")]
    # The second row breaks the schema (sink NOT NULL) inside the transaction: the first row,
    # already inserted, must be rolled back with it.
    with pytest.raises(sqlite3.IntegrityError):
        box.put_many([("mqtt", {"event": "e2"}, None), (None, {"event": "e2"}, None)])
    assert [i.payload for i in box.peek("mqtt", 5)] == [{"event": "e1"}]
    box.put("mqtt", {"event": "e3"})  # and the outbox still works afterwards
    assert [i.payload["event"] for i in box.peek("mqtt", 5)] == ["e1", "e3"]


def test_blob_and_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    event = box.put("a", {"x": 1}, blob=b"\xff\xd8jpeg")
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    (item,) = again.peek("a", 5)
    assert (item.id, item.payload, item.blob) == (event, {"x": 1}, b"\xff\xd8jpeg")


def test_bounded_by_rows_and_age_with_dropped_counter(tmp_path: Path) -> None:
    now = [1000.0]
    box = Outbox(tmp_path / "o.sqlite", max_rows=3, max_age_s=60, clock=lambda: now[0])
    for i in range(5):
        box.put("a", {"n": i})
    assert [i.payload["n"] for i in box.peek("a", 10)] == [2, 3, 4]
    assert box.stats()["dropped"]["a"] == 2
    now[0] += 61
    box.put("b", {"n": 5})
    assert box.peek("a", 10) == []
    assert box.stats()["dropped"]["a"] == 5
    assert box.stats()["pending"]["b"] == 1


def test_a_bound_that_goes_on_dropping_warns_once_an_hour_not_once_an_event(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A sink down for days keeps the outbox at its bound: each new event drops an old one.
    Before: a warning per dropped event (per sink), thousands a day in the journal; now the first
    drops of each bound and sink are warned of, then how many since, at most once an hour."""
    now = [1000.0]
    box = Outbox(tmp_path / "o.sqlite", max_rows=4, max_age_s=7 * 86400, clock=lambda: now[0])
    sinks = ("mqtt", "webhook:http://h/")
    first = now[0] + 2 * 60  # the third put's time
    try:
        with caplog.at_level(logging.DEBUG, "edge_alpr.delivery.outbox"):
            for i in range(50):  # an event a minute for both sinks; the third put is the first over the bound
                box.put_many([(sink, {"n": i}, None) for sink in sinks])
                now[0] += 60
            warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert [w.split(" (counted")[0] for w in warned] == [
                f"outbox: full (4 rows), dropped 1 oldest event(s) of {sink}" for sink in sinks], warned
            said = [r for r in caplog.records if r.levelno == logging.DEBUG and "dropped" in r.getMessage()]
            assert len(said) == 2 * 47  # the others, one line each at debug level
            caplog.clear()
            now[0] += 3600
            box.put_many([(sink, {"n": 50}, None) for sink in sinks])
            warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert [w.split(" (counted")[0] for w in warned] == [
            f"outbox: full (4 rows), dropped 48 oldest event(s) of {sink} in the last {now[0] - first:.0f} s"
            for sink in sinks], warned
        assert box.stats()["dropped"] == {sink: 49 for sink in sinks}
    finally:
        box.close()


def test_worker_retries_in_order_with_backoff(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    for i in range(4):
        box.put("s", {"n": i})
    seen: list[int] = []
    attempts: list[float] = []

    def send(item: OutboxItem) -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= 3:
            raise ConnectionError("receiver down")
        seen.append(item.payload["n"])

    stop = threading.Event()
    worker = DeliveryWorker(box, "s", send, stop, backoff_initial_s=0.05, backoff_max_s=1.0)
    worker.start()
    deadline = time.monotonic() + 5
    while len(seen) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    box.wake()
    worker.join(2)
    assert seen == [0, 1, 2, 3]
    gaps = [b - a for a, b in zip(attempts, attempts[1:4])]
    assert gaps[1] > gaps[0] * 1.5  # exponential: 0.05 then 0.1 then 0.2
    assert box.stats()["pending"]["s"] == 0
    assert worker.state.consecutive_failures == 0 and not worker.state.disabled


def test_worker_disables_after_max_failures_and_keeps_events(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put("s", {"n": 1})

    def send(item: OutboxItem) -> None:
        raise OSError("refused")

    stop = threading.Event()
    worker = DeliveryWorker(box, "s", send, stop, backoff_initial_s=0.01, max_failures=3)
    worker.start()
    worker.join(5)
    assert not worker.is_alive()
    assert worker.state.disabled and worker.state.consecutive_failures == 3
    assert "refused" in (worker.state.last_error or "")
    (item,) = box.peek("s", 5)
    assert item.attempts == 3
    assert any(r.levelname == "ERROR" and "delivery to s disabled" in r.getMessage() for r in caplog.records)


def test_worker_stops_quickly(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    stop = threading.Event()
    worker = DeliveryWorker(box, "idle", lambda item: None, stop)
    worker.start()
    time.sleep(0.1)
    started = time.monotonic()
    stop.set()
    box.wake()
    worker.join(2)
    assert not worker.is_alive() and time.monotonic() - started < 1.0


_CHILD = """
import sys
from edge_alpr.delivery.outbox import Outbox
box = Outbox(sys.argv[1])
n = 0
while True:
    print(box.put("s", {"n": n}), flush=True)
    n += 1
"""


def test_put_is_durable_across_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(db)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert child.stdout is not None
    acknowledged = [child.stdout.readline().strip() for _ in range(40)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    stored = [item.id for item in Outbox(db).peek("s", 10_000)]
    assert stored[:40] == acknowledged


def test_a_damaged_file_is_set_aside_once_and_a_new_outbox_made(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Garbage over the file (no SQLite header) used to stop every start with a traceback."""
    path = tmp_path / "outbox.sqlite"
    garbage = bytes(range(256)) * 32
    path.write_bytes(garbage)
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery.outbox")
    box = Outbox(path)
    try:
        box.put("mqtt", {"plate": "abc"})
        assert [item.payload for item in box.peek("mqtt", 5)] == [{"plate": "abc"}]
    finally:
        box.close()
    kept = list(tmp_path.glob("outbox.sqlite.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == garbage
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(kept[0]) in errors[0] and "is damaged" in errors[0], errors
