"""Events read before a step of the wall clock (time sync on a Raspberry Pi that booted at a stale
date) and not yet delivered, or kept in the history, carry the time of after the step.  Real
outbox and history files; the wall and monotonic clocks are injected (the host's clock cannot be
stepped by a test), as is the boot's id (a reboot cannot be made either).  The running service
with a live camera, MQTT and a webhook is ``tests/test_clock_step_timestamps.py``.

Before: the times stayed as read, 30 days (or whatever the step was) off, in every payload
delivered after the step and in the history's order and searches.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_history_lock import held

from edge_alpr import db_lock
from edge_alpr.clocks import WallOffset
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.event_times import moved
from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.store import EventQuery, History, Sighting
from edge_alpr.stream.config import EventConfig
from edge_alpr.stream.tracker import Tracker
from edge_alpr.types import Box, Frame, PlateRead, PlateResult, VehicleRead

DAY_S = 86400.0
STEP_S = 30 * DAY_S  # the clock booted 30 days behind
STALE = 1_760_000_000.0  # the wall clock at boot (fake-hwclock's last save)


class Clock:
    """A clock the test moves: ``now`` seconds."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _event(n: int, t: float) -> dict[str, Any]:
    """A camera event's MQTT payload read at wall-clock time ``t``."""
    return {"id": f"ev-{n}", "camera_id": "gate", "plate": "ab123cd", "timestamp": _iso(t),
            "first_seen": _iso(t - 1.5), "last_seen": _iso(t + 0.5), "frames": 3}


def _hook(event: dict[str, Any]) -> dict[str, Any]:
    """The webhook payload of the same event (``running.Service.deliver``)."""
    stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    name = f"gate_{stamp:%Y%m%dT%H%M%S}.{stamp.microsecond // 1000:03d}Z.jpg"
    return {"hook": {"target": "http://127.0.0.1:9/hook", "id": None, "event": "image.done"},
            "data": {"processing_time": 80.0, "results": [{"plate": "ab123cd"}], "filename": name, "version": 1,
                     "camera_id": "gate", "timestamp": event["timestamp"], "id": event["id"]}}


def test_queued_events_go_out_at_the_time_after_a_step_and_delivered_ones_are_left(tmp_path: Path) -> None:
    wall, mono = Clock(STALE), Clock(100.0)
    offset = WallOffset(wall, mono, boot="boot-1")
    box = Outbox(tmp_path / "o.sqlite", offset=offset)
    first = _event(1, wall.now)
    box.put_many([("mqtt", first, None), ("webhook:x", _hook(first), None)], clock=offset.now())
    box.put("mqtt", {"id": "api-read", "timestamp": _iso(wall.now)})  # a client's own time: not this clock's
    [delivered] = box.peek("mqtt", 1)
    box.ack("mqtt", delivered.id)  # went out before time sync: cannot change
    second = _event(2, wall.now + 60)
    wall.now += 60
    mono.now += 60
    box.put_many([("mqtt", second, None), ("webhook:x", _hook(second), None)], clock=offset.now())
    wall.now += STEP_S + 5  # time sync: 30 days forward
    mono.now += 5
    [api, mqtt] = [i.payload for i in box.peek("mqtt", 10)]
    assert api == {"id": "api-read", "timestamp": _iso(STALE)}
    assert mqtt["timestamp"] == _iso(STALE + 60 + STEP_S) and mqtt["clock_corrected_s"] == STEP_S
    assert (mqtt["first_seen"], mqtt["last_seen"]) == (_iso(STALE + 58.5 + STEP_S), _iso(STALE + 60.5 + STEP_S))
    assert {k: v for k, v in mqtt.items() if k not in ("timestamp", "first_seen", "last_seen", "clock_corrected_s")} \
        == {k: v for k, v in second.items() if k not in ("timestamp", "first_seen", "last_seen")}
    hooks = [i.payload["data"] for i in box.peek("webhook:x", 10)]
    assert [h["timestamp"] for h in hooks] == [_iso(STALE + STEP_S), _iso(STALE + 60 + STEP_S)]
    moved_at = datetime.fromtimestamp(STALE + 60 + STEP_S, timezone.utc)
    assert hooks[1]["filename"] == f"gate_{moved_at:%Y%m%dT%H%M%S}.000Z.jpg"
    assert hooks[1]["clock_corrected_s"] == STEP_S and hooks[1]["results"] == [{"plate": "ab123cd"}]
    box.close()


def test_the_move_is_durable_and_once_and_an_event_read_for_sending_is_moved_as_sent(tmp_path: Path) -> None:
    """At least once: a copy sent again after a restart (same boot) has the times of the first;
    an event peeked before the step (being sent when it came) goes out moved too."""
    wall, mono = Clock(STALE), Clock(100.0)
    box = Outbox(tmp_path / "o.sqlite", offset=WallOffset(wall, mono, boot="boot-1"))
    box.put_many([("mqtt", _event(n, wall.now), None) for n in range(3)], clock=wall.now - mono.now)
    [peeked, *_] = box.peek("mqtt", 3)
    wall.now += STEP_S
    sent = box.restamped(peeked)
    assert sent.id == peeked.id and sent.payload["timestamp"] == _iso(STALE + STEP_S)
    assert peeked.payload["timestamp"] == _iso(STALE)  # what was read is not changed under the sender
    box.fail("mqtt", sent.id, "broker gone")
    again = box.peek("mqtt", 3)
    assert [i.payload["timestamp"] for i in again] == [_iso(STALE + STEP_S)] * 3
    assert box.restamped(again[0]) == again[0]  # moved once, not once more as sent
    box.close()
    box = Outbox(tmp_path / "o.sqlite", offset=WallOffset(wall, mono, boot="boot-1"))  # a restart, same boot
    assert [i.payload["timestamp"] for i in box.peek("mqtt", 3)] == [_iso(STALE + STEP_S)] * 3
    box.close()
    with closing(sqlite3.connect(tmp_path / "o.sqlite")) as db:
        sizes = db.execute("SELECT size, length(CAST(payload AS BLOB)) FROM outbox").fetchall()
    assert all(size == length for size, length in sizes), sizes  # max_bytes counts what is there


def test_steps_back_and_several_steps_add_up(tmp_path: Path) -> None:
    wall, mono = Clock(STALE), Clock(100.0)
    box = Outbox(tmp_path / "o.sqlite", offset=WallOffset(wall, mono, boot="boot-1"))
    box.put("mqtt", {"x": 0})  # no times of this clock: never moved
    box.put_many([("mqtt", _event(1, wall.now), None)], clock=wall.now - mono.now)
    wall.now -= 3600  # a saved time that was an hour ahead
    assert box.peek("mqtt", 2)[1].payload["timestamp"] == _iso(STALE - 3600)
    wall.now += DAY_S  # then a day forward
    item = box.peek("mqtt", 2)[1].payload
    assert item["timestamp"] == _iso(STALE - 3600 + DAY_S) and item["clock_corrected_s"] == DAY_S - 3600
    wall.now = STALE  # and back where it was: as first queued
    assert [i.payload for i in box.peek("mqtt", 2)] == [{"x": 0}, _event(1, STALE)]
    wall.now += 1.5  # slewing, not a step: not moved
    assert box.peek("mqtt", 2)[1].payload == _event(1, STALE)
    box.close()


def test_events_queued_before_a_reboot_keep_their_times(tmp_path: Path) -> None:
    """Nothing on a Pi can say how long it was off, so an earlier boot's times stay as they are."""
    wall, mono = Clock(STALE), Clock(100.0)
    box = Outbox(tmp_path / "o.sqlite", offset=WallOffset(wall, mono, boot="boot-1"))
    box.put_many([("mqtt", _event(1, wall.now), None)], clock=wall.now - mono.now)
    box.close()
    wall, mono = Clock(STALE + 600), Clock(20.0)  # rebooted at the saved time
    box = Outbox(tmp_path / "o.sqlite", offset=WallOffset(wall, mono, boot="boot-2"))
    box.put_many([("mqtt", _event(2, wall.now), None)], clock=wall.now - mono.now)
    wall.now += STEP_S
    assert [i.payload["timestamp"] for i in box.peek("mqtt", 2)] == [_iso(STALE), _iso(STALE + 600 + STEP_S)]
    box.close()


@pytest.mark.parametrize("boot", ["boot-1", "boot-2"])
def test_events_waiting_beside_a_locked_outbox_are_moved_as_they_go_in(tmp_path: Path, boot: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process (a backup) holds the file as time sync steps the clock; the service stops
    meanwhile and starts again in the same boot (moved as they go in) or after a reboot (not)."""
    monkeypatch.setattr(db_lock, "BUSY_TIMEOUT_MS", 300)
    monkeypatch.setattr(db_lock, "WRITE_WAIT_MS", 200)
    path, wall, mono = tmp_path / "o.sqlite", Clock(STALE), Clock(100.0)
    box = Outbox(path, offset=WallOffset(wall, mono, boot="boot-1"))
    with held(path):
        box.put_many([("mqtt", _event(1, wall.now), None)], clock=wall.now - mono.now)
        box.close()
    assert (tmp_path / "o.sqlite-waiting").is_file()
    wall.now += STEP_S
    box = Outbox(path, offset=WallOffset(wall, mono, boot=boot))
    [item] = box.peek("mqtt", 2)
    assert item.payload["timestamp"] == _iso(STALE + STEP_S if boot == "boot-1" else STALE)
    box.close()


def test_a_step_moves_a_large_outbox_once_in_short_batches_not_at_each_delivery(tmp_path: Path) -> None:
    wall, mono = Clock(STALE), Clock(100.0)
    box = Outbox(tmp_path / "o.sqlite", offset=WallOffset(wall, mono, boot="boot-1"))
    n = 10_000
    for start in range(0, n, 1000):
        box.put_many([("mqtt", _event(i, wall.now + i), None) for i in range(start, start + 1000)],
                     clock=wall.now - mono.now)
    started = time.perf_counter()
    box.peek("mqtt", 16)
    before = time.perf_counter() - started
    wall.now += STEP_S
    calls: list[float] = []
    with closing(sqlite3.connect(tmp_path / "o.sqlite")) as db:
        def unmoved() -> int:
            return int(db.execute("SELECT COUNT(*) FROM outbox WHERE ABS(clock - ?) > 1", (wall.now - mono.now,))
                       .fetchone()[0])
        while unmoved() and len(calls) < n:
            started = time.perf_counter()
            items = box.peek("mqtt", 16)
            calls.append(time.perf_counter() - started)
            assert items[0].payload["timestamp"] == _iso(STALE + STEP_S)  # the next to go out: moved first
        started = time.perf_counter()
        box.peek("mqtt", 16)
        after = time.perf_counter() - started
        last = json.loads(db.execute("SELECT payload FROM outbox ORDER BY seq DESC LIMIT 1").fetchone()[0])
    print(f"peek of 16 in {n} queued: {before * 1000:.1f} ms; after a step {len(calls)} peeks moved them all, "
          f"the longest in {max(calls) * 1000:.0f} ms; the next: {after * 1000:.1f} ms")
    assert 1 < len(calls) <= n // 1000, calls  # in batches, each of a bounded share of the queue
    assert last["timestamp"] == _iso(STALE + n - 1 + STEP_S)
    assert after < max(0.05, max(calls) / 5), (before, calls, after)  # then done: nothing at each delivery
    box.close()


SCENE = np.full((120, 160, 3), 90, np.uint8)


def _sighting(n: int, t: float, clock: float | None) -> Sighting:
    event = _event(n, t)
    return Sighting(event["id"], "camera", "gate", datetime.fromtimestamp(t, timezone.utc), f"AB{n}CD", 0.9,
                    Box(10, 10, 60, 30), event, None, SCENE, clock)


def test_the_history_keeps_events_at_their_real_time_after_a_step(tmp_path: Path) -> None:
    wall, mono = Clock(STALE), Clock(100.0)
    cfg = HistoryConfig(max_age_days=365, min_free_bytes=0)
    history = History(cfg, tmp_path / "h", clock=wall, monotonic=mono, boot="boot-1")
    history.publish(_sighting(1, wall.now, wall.now - mono.now))
    history.publish(_sighting(2, wall.now, None))  # a folder camera's file time: not this clock's
    late = _sighting(3, wall.now + 1, wall.now + 1 - (mono.now + 1))  # read before the step...
    wall.now += STEP_S + 10
    mono.now += 10
    history.publish(late)  # ...stored after it
    history.publish(_sighting(4, wall.now, wall.now - mono.now))  # after time sync
    events = history.query(EventQuery())[0]
    assert [e["id"] for e in events] == ["ev-4", "ev-3", "ev-1", "ev-2"]  # newest first, by real time
    times = {e["id"]: e["timestamp"] for e in events}
    assert times == {"ev-1": _iso(STALE + STEP_S), "ev-2": _iso(STALE), "ev-3": _iso(STALE + 1 + STEP_S),
                     "ev-4": _iso(STALE + STEP_S + 10)}
    one = history.get("ev-1")
    assert one is not None and one["result"]["timestamp"] == times["ev-1"]
    assert one["result"]["first_seen"] == _iso(STALE - 1.5 + STEP_S) and one["result"]["clock_corrected_s"] == STEP_S
    since = EventQuery(since=STALE + STEP_S - 60)
    assert {e["id"] for e in history.query(since)[0]} == {"ev-1", "ev-3", "ev-4"}
    history.close()


def test_the_history_moves_many_events_in_short_batches_newest_first(tmp_path: Path) -> None:
    wall, mono = Clock(STALE), Clock(100.0)
    history = History(HistoryConfig(max_age_days=365, min_free_bytes=0), tmp_path / "h", clock=wall,
                      monotonic=mono, boot="boot-1")
    n = 5000
    for i in range(n):  # no scene: rows only
        event = _event(i, STALE + i)
        history.publish(Sighting(event["id"], "camera", "gate", datetime.fromtimestamp(STALE + i, timezone.utc),
                                 f"AB{i}CD", 0.9, Box(10, 10, 60, 30), event, None, None, STALE - mono.now))
    wall.now += STEP_S
    calls = 0
    with closing(sqlite3.connect(tmp_path / "h" / "history.sqlite")) as db:
        def moved_rows() -> int:
            return int(db.execute("SELECT COUNT(*) FROM events WHERE ts >= ?", (STALE + STEP_S,)).fetchone()[0])
        while moved_rows() < n and calls < n:
            history.follow_clock()  # the service's each second
            calls += 1
            if calls == 1:  # the newest, which a console shows first, moved first; the rest still waiting
                assert history.query(EventQuery(limit=1))[0][0]["timestamp"] == _iso(STALE + n - 1 + STEP_S)
                assert 0 < moved_rows() < n
    assert 1 < calls <= n // 1000
    first = history.get("ev-0")
    assert first is not None and first["result"]["timestamp"] == _iso(STALE + STEP_S)
    history.close()


def test_the_history_follows_a_step_back_without_a_new_event_but_not_across_a_reboot(tmp_path: Path) -> None:
    wall, mono = Clock(STALE), Clock(100.0)
    cfg = HistoryConfig(max_age_days=365, min_free_bytes=0)
    history = History(cfg, tmp_path / "h", clock=wall, monotonic=mono, boot="boot-1")
    history.publish(_sighting(1, wall.now, wall.now - mono.now))
    wall.now -= 7200  # two hours back
    history.follow_clock()  # the service's each second
    history.close()
    history = History(cfg, tmp_path / "h", clock=wall, monotonic=mono, boot="boot-1")  # a restart: kept
    assert history.query(EventQuery())[0][0]["timestamp"] == _iso(STALE - 7200)
    history.close()
    wall, mono = Clock(STALE + 600), Clock(30.0)  # a reboot
    history = History(cfg, tmp_path / "h", clock=wall, monotonic=mono, boot="boot-2")
    wall.now += DAY_S
    assert history.query(EventQuery())[0][0]["timestamp"] == _iso(STALE - 7200)
    history.close()


def _read(plate: str) -> PlateResult:
    return PlateResult(Box(100, 100, 180, 120), 0.9, PlateRead(plate, 0.9, (), "es", 0.8),
                       VehicleRead("Sedan", 0.7, Box(60, 40, 220, 200)))


def test_a_camera_event_followed_across_a_step_is_on_the_clock_after_it() -> None:
    """A car in view as time sync comes: its first frames at the stale date, its last after it."""
    tracker = Tracker("gate", EventConfig(max_prediction_delay=2.0, memory_decay=0), wall_clock=True)
    image = np.zeros((240, 320, 3), np.uint8)
    mono, offset = 100.0, STALE - 100.0
    for i in range(6):
        if i == 3:
            offset += STEP_S
        frame = Frame(image, "gate", datetime.fromtimestamp(mono + offset, timezone.utc), i, captured=mono)
        events = tracker.update(frame, [_read("AB123CD")], t=mono)
        assert not events
        mono += 0.3
    [event] = tracker.flush()
    assert event.clock == offset
    assert event.first_seen == datetime.fromtimestamp(STALE + STEP_S, timezone.utc)
    assert event.last_seen == datetime.fromtimestamp(STALE + 1.5 + STEP_S, timezone.utc)
    files = Tracker("gate", EventConfig(max_prediction_delay=2.0))  # a file's times are not this clock's
    files.update(Frame(image, "gate", datetime.fromtimestamp(STALE, timezone.utc), 0), [_read("AB123CD")])
    assert files.flush()[0].clock is None


def test_times_move_in_their_own_precision_and_other_fields_stay() -> None:
    assert moved({"timestamp": "2024-05-01T10:00:00.123456Z", "plate": "x"}, 3600.0) == \
        {"timestamp": "2024-05-01T11:00:00.123456Z", "plate": "x", "clock_corrected_s": 3600.0}
    assert moved({"timestamp": "2024-05-01T10:00:00Z"}, -0.5)["timestamp"] == "2024-05-01T09:59:59Z"
    assert moved({"timestamp": "not a time", "n": 1}, 60.0) == {"timestamp": "not a time", "n": 1}
    assert moved({"timestamp": "9999-12-31T23:00:00.000Z"}, DAY_S) == {"timestamp": "9999-12-31T23:00:00.000Z"}
    there = moved({"timestamp": "2024-05-01T10:00:00.123Z"}, 0.0004 + timedelta(days=30).total_seconds())
    assert moved(there, -timedelta(days=30).total_seconds()) == {"timestamp": "2024-05-01T10:00:00.123Z"}
