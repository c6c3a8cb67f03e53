"""The outbox on a file system that fills up (a real tmpfs: needs root, skipped otherwise).

Before: ``put`` raised SQLite's bare ``database or disk is full``; in the running service that
ended the camera's thread with a traceback (restarted by the supervisor, the frames of the
restart's backoff missed).  Now the outbox says once, at error level, the folder, the space left
and the fix, and holds the events in memory until there is room (``test_outbox_held.py``); the
camera goes on; an event sent while its acknowledgement cannot be written is not sent again.
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
from edge_alpr.running import Service
from edge_alpr.stream.config import EventConfig
from edge_alpr.stream.tracker import PlateEvent, Tracker
from edge_alpr.types import Box, Frame, PlateRead, PlateResult, VehicleRead
from edge_alpr.usage import Usage

__all__ = ["small_fs"]  # the fixture, used by name

FULL = "outbox: state_dir {}: the file system is full ("


def _event() -> PlateEvent:
    """A camera's plate event, as its tracker reports it."""
    tracker = Tracker("gate", EventConfig(max_prediction_delay=2.0))
    read = PlateResult(Box(100, 100, 180, 120), 0.9, PlateRead("AB123CD", 0.9, (), "es", 0.8),
                       VehicleRead("Sedan", 0.7, Box(60, 40, 220, 200)))
    frame = Frame(np.zeros((240, 320, 3), np.uint8), "gate", datetime(2026, 12, 1, tzinfo=timezone.utc), 0)
    tracker.update(frame, [read])
    [event] = tracker.flush()
    return event


def test_a_camera_event_on_a_full_disk_is_held_and_queued_once_space_is_freed(
        small_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``Service.deliver`` (a camera's ``on_event``) does not raise, and the event is not lost:
    before, it was counted as dropped for each sink (and a folder camera's file was marked read)."""
    state = small_fs / "state"
    cfg = from_dict({"state_dir": str(state), "mqtt": {"enabled": False},
                     "webhooks": {"targets": [{"url": "http://127.0.0.1:9/hook"}]}})
    box, usage = Outbox(state / "outbox.sqlite"), Usage(state / "usage.sqlite")
    stop = threading.Event()
    mqtt = MqttPublisher(cfg.mqtt)  # not started: its events wait in the outbox
    # no recognizer: ``deliver`` gets events already read
    svc = Service(cfg, recognizer=None, outbox=box, usage=usage, webhooks=Webhooks(cfg.webhooks, box, stop),
                  stop=stop, mqtt=mqtt)
    hook = "webhook:http://127.0.0.1:9/hook"
    try:
        filler = fill(small_fs / "filler")
        ids = []
        for _ in range(1000):
            event = _event()
            ids.append(event.id)
            with caplog.at_level(logging.ERROR, "edge_alpr.delivery.outbox"):
                svc.deliver(event)
            if box.stats()["held"].get(MQTT_SINK):
                break
        lines = [r.getMessage() for r in caplog.records if "held in memory" in r.getMessage()]
        assert len(lines) == 1 and lines[0].startswith(FULL.format(state)), lines
        assert box.stats()["held"] == {MQTT_SINK: 1, hook: 1}
        filler.unlink()
        svc.deliver(_event())
        stats = box.stats()
        assert stats["dropped"] == {MQTT_SINK: 0, hook: 0} and stats["held"] == {MQTT_SINK: 0, hook: 0}
        assert [i.payload["id"] for i in box.peek(MQTT_SINK, 2000)][:len(ids)] == ids  # each, in order
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


@pytest.mark.parametrize("freed", [False, True])
def test_the_stop_line_counts_held_events_only_where_they_went_in(
        small_fs: Path, freed: bool, caplog: pytest.LogCaptureFixture) -> None:
    """A stop with events held in memory: written where the disk has room by then (then said to
    wait for the next start), else lost and said so, never said to wait (before: counted as
    dropped, not said at the stop at all)."""
    state = small_fs / "state"
    cfg = from_dict({"state_dir": str(state), "mqtt": {"enabled": False}, "webhooks": {"targets": []}})
    box, usage = Outbox(state / "outbox.sqlite"), Usage(state / "usage.sqlite")
    stop = threading.Event()
    svc = Service(cfg, recognizer=None, outbox=box, usage=usage, webhooks=Webhooks(cfg.webhooks, box, stop),
                  stop=stop, mqtt=MqttPublisher(cfg.mqtt))
    filler = fill(small_fs / "filler")
    for _ in range(1000):
        svc.deliver(_event())
        if box.stats()["held"].get(MQTT_SINK):
            break
    in_file = box.stats()["pending"][MQTT_SINK] - 1
    if freed:
        filler.unlink()
    with caplog.at_level(logging.ERROR, "edge_alpr.delivery.outbox"):
        svc.close()
    line, waits = svc.stopped_line(), in_file + freed
    assert line.endswith(f"; {waits} event(s) wait in the outbox for: mqtt ({waits}); they are sent at the next start"
                         if waits else "; nothing waits in the outbox"), line
    if not freed:
        lost = [r.getMessage() for r in caplog.records if "lost at this stop" in r.getMessage()]
        assert lost == ["outbox: 1 event(s) held in memory are lost at this stop, for mqtt (1): the disk is still full"]
