"""Events set aside: one its receiver refuses for its size (``EventTooLarge``) no longer blocks
its sink's queue, is kept (across SIGKILL too), leaves the other sinks alone, and is queued again,
in its place, at the next start.  The sinks here are functions standing in for a receiver (the
real broker's refusals are ``test_mqtt_limits.py``'s)."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_alpr.delivery.outbox import Outbox, OutboxItem
from edge_alpr.delivery.worker import DeliveryWorker
from edge_alpr.errors import EventTooLarge


def _drain(box: Outbox, sink: str, send: Callable[[OutboxItem], None], until: int) -> DeliveryWorker:
    stop = threading.Event()
    worker = DeliveryWorker(box, sink, send, stop, backoff_initial_s=0.05, backoff_max_s=0.1)
    worker.start()
    deadline = time.monotonic() + 10
    while worker.state.sent + worker.state.aside < until and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    box.wake()
    worker.join(2)
    return worker


def test_a_refused_event_is_set_aside_and_the_later_ones_go_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put_many([("mqtt", {"id": "big"}, None), ("webhook:x", {"id": "big"}, None)])
    for n in range(3):
        box.put("mqtt", {"id": f"e{n}"})
    sent: list[str] = []

    def send(item: OutboxItem) -> None:
        if item.payload["id"] == "big":
            raise EventTooLarge("event big is 9000 bytes, over the broker's 400; raise max_packet_size", 9000, 400)
        sent.append(item.payload["id"])

    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    worker = _drain(box, "mqtt", send, 4)
    assert sent == ["e0", "e1", "e2"]
    assert worker.state.aside == 1 and worker.state.consecutive_failures == 0
    stats = box.stats()
    assert stats["aside"] == {"mqtt": 1, "webhook:x": 0} and stats["pending"]["mqtt"] == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "event big is 9000 bytes" in warnings[0] and "set aside" in warnings[0], warnings
    assert box.peek("mqtt", 10) == []  # passed by until the next start
    assert [i.payload["id"] for i in box.peek("webhook:x", 10)] == ["big"]  # the other sink's copy goes as usual
    box.close()


_CHILD = """
import sys, time
from edge_alpr.delivery.outbox import Outbox
box = Outbox(sys.argv[1])
box.put("mqtt", {"id": "big"})
box.put("mqtt", {"id": "later"})
box.set_aside("mqtt", box.peek("mqtt", 1)[0].id, "too large")
print("aside", flush=True)
time.sleep(60)
"""


def test_a_set_aside_event_survives_sigkill_and_is_queued_again_first_at_the_next_start(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "o.sqlite"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(db)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "aside"
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery.outbox")
    box = Outbox(db)
    try:
        assert [i.payload["id"] for i in box.peek("mqtt", 10)] == ["big", "later"]
        assert box.stats()["aside"] == {"mqtt": 0}
        assert [r.getMessage() for r in caplog.records if "queued again" in r.getMessage()], caplog.records
    finally:
        box.close()


def test_a_file_from_before_set_aside_events_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    Outbox(path).close()
    db = sqlite3.connect(path)  # the layout of the version before: no aside column
    db.executescript("DROP INDEX outbox_sink_aside_seq; ALTER TABLE outbox DROP COLUMN aside; "
                     "CREATE INDEX outbox_sink_seq ON outbox (sink, seq); "
                     "INSERT INTO outbox (id, sink, created, payload, size) VALUES ('x', 'mqtt', 0, '{\"n\": 1}', 8);")
    db.close()
    box = Outbox(path)
    try:
        [item] = box.peek("mqtt", 5)
        box.set_aside("mqtt", item.id, "too large")
        assert box.peek("mqtt", 5) == [] and box.stats()["aside"] == {"mqtt": 1}
    finally:
        box.close()
