"""The outbox on a file system that fills up (a real 2 MiB tmpfs: needs root, skipped otherwise).

Before: ``put`` raised SQLite's bare ``database or disk is full``; in the running service that
ended the camera's thread with a traceback (restarted by the supervisor, the frames of the
restart's backoff missed), the event was counted nowhere, and an API read with a webhook was a
500.  Now: a ``StateError`` naming the folder, the space left and the fix; the events not queued
are counted as dropped (in ``stats`` at once, in the file once space returns); the camera's
event is logged and the camera goes on; events are queued again once space is freed.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from test_state_dir import fill, small_fs

from edge_alpr.config import from_dict
from edge_alpr.delivery.mqtt import MQTT_SINK, MqttPublisher
from edge_alpr.delivery.outbox import Outbox, OutboxItem
from edge_alpr.delivery.webhooks import Webhooks
from edge_alpr.delivery.worker import DeliveryWorker
from edge_alpr.errors import StateError
from edge_alpr.running import Service
from edge_alpr.stream.config import EventConfig
from edge_alpr.stream.tracker import PlateEvent, Tracker
from edge_alpr.types import Box, Frame, PlateRead, PlateResult, VehicleRead
from edge_alpr.usage import Usage

__all__ = ["small_fs"]  # the fixture, used by name

FULL = "event(s) not queued for delivery, counted as dropped: state_dir {}: the file system is full ("


def _put_until_full(box: Outbox, sink: str) -> tuple[int, StateError]:
    """Events put until one is refused (the WAL's free pages may take the first few): how many
    went in, and the error of the one refused."""
    for n in range(1000):
        try:
            box.put(sink, {"n": n, "pad": "x" * 400})
        except StateError as e:
            return n, e
    raise AssertionError("a full file system took 1000 events")


def test_a_put_on_a_full_disk_names_the_folder_counts_the_event_and_recovers(small_fs: Path) -> None:
    state = small_fs / "state"
    box = Outbox(state / "outbox.sqlite")
    box.put("mqtt", {"n": -1})
    filler = fill(small_fs / "filler")
    queued, error = _put_until_full(box, "mqtt")
    text = str(error)
    assert text.startswith("1 " + FULL.format(state)), text
    assert "database or disk is full" in text and "free space there, or set state_dir" in text
    stats = box.stats()
    assert stats["dropped"] == {"mqtt": 1} and stats["pending"] == {"mqtt": queued + 1}
    assert [i.payload["n"] for i in box.peek("mqtt", 1000)] == list(range(-1, queued))  # the earlier ones kept
    filler.unlink()
    box.put("mqtt", {"n": "after"})
    box.close()
    again = Outbox(state / "outbox.sqlite")  # the count went into the file with the next write
    try:
        assert again.stats()["dropped"] == {"mqtt": 1}
        assert again.peek("mqtt", 1000)[-1].payload == {"n": "after"}
    finally:
        again.close()


def _event() -> PlateEvent:
    """A camera's plate event, as its tracker reports it."""
    tracker = Tracker("gate", EventConfig(max_prediction_delay=2.0))
    read = PlateResult(Box(100, 100, 180, 120), 0.9, PlateRead("AB123CD", 0.9, (), "es", 0.8),
                       VehicleRead("Sedan", 0.7, Box(60, 40, 220, 200)))
    frame = Frame(np.zeros((240, 320, 3), np.uint8), "gate", datetime(2026, 12, 1, tzinfo=timezone.utc), 0)
    tracker.update(frame, [read])
    [event] = tracker.flush()
    return event


def test_a_camera_event_on_a_full_disk_is_logged_and_the_camera_goes_on(
        small_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``Service.deliver`` (a camera's ``on_event``) does not raise: the camera is not restarted."""
    state = small_fs / "state"
    cfg = from_dict({"state_dir": str(state), "mqtt": {"enabled": False},
                     "webhooks": {"targets": [{"url": "http://127.0.0.1:9/hook"}]}})
    box, usage = Outbox(state / "outbox.sqlite"), Usage(state / "usage.sqlite")
    stop = threading.Event()
    mqtt = MqttPublisher(cfg.mqtt)  # not started: its events wait in the outbox
    # no recognizer: ``deliver`` gets events already read
    svc = Service(cfg, recognizer=None, outbox=box, usage=usage, webhooks=Webhooks(cfg.webhooks, box, stop),
                  stop=stop, mqtt=mqtt)
    try:
        filler = fill(small_fs / "filler")
        for _ in range(1000):
            event = _event()
            with caplog.at_level(logging.ERROR, "edge_alpr.service"):
                svc.deliver(event)
            if box.stats()["dropped"]:
                break
        lines = [r.getMessage() for r in caplog.records if "not queued" in r.getMessage()]
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"camera gate: plate ab123cd, event {event.id}: 2 " + FULL.format(state)), lines
        assert box.stats()["dropped"] == {MQTT_SINK: 1, "webhook:http://127.0.0.1:9/hook": 1}
        filler.unlink()
        svc.deliver(_event())
        assert box.stats()["dropped"] == {MQTT_SINK: 1, "webhook:http://127.0.0.1:9/hook": 1}
    finally:
        box.close()
        usage.close()


@pytest.fixture()
def roomy_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB tmpfs: room for the ``-wal`` log to reach its checkpoint (1000 pages) once
    space is freed; on 2 MiB it takes every byte freed and the disk is full again."""
    mount = tmp_path / "roomy"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_an_event_sent_while_its_acknowledgement_cannot_be_written_is_not_sent_again(roomy_fs: Path) -> None:
    """The disk fills while a sink delivers: the event sent is not acknowledged in the file (its
    deletion needs room too).  Before: it was sent again at each retry of the worker's backoff
    until space was freed (measured: 11 copies in 5 s at a 0.5 s backoff, a copy every
    ``mqtt.retry_max_s`` for as long as the disk stays full); now it is acknowledged once the
    file takes it, sent once."""
    box = Outbox(roomy_fs / "state" / "outbox.sqlite")
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
        filler = fill(roomy_fs / "filler")
        full.set()
        _wait(lambda: worker.state.outbox_errors >= 5)  # acknowledgements failed and were retried
        assert worker.state.outbox_failing and "disk is full" in (worker.state.last_error or "")
        filler.unlink()
        _wait(lambda: not box.stats()["pending"].get("s"))
        assert sent == Counter(range(40))  # each once
        _wait(lambda: not worker.state.outbox_failing)
        assert worker.state.last_error is None and worker.state.sent == 40
    finally:
        stop.set()
        box.wake()
        worker.join(5)
        box.close()


def _wait(done: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < end, "not within 30 s"
        time.sleep(0.02)
