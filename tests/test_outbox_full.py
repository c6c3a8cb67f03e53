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
import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from test_state_dir import fill, small_fs

from edge_alpr.config import from_dict
from edge_alpr.delivery.mqtt import MQTT_SINK, MqttPublisher
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.webhooks import Webhooks
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
