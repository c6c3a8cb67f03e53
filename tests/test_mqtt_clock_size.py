"""An event just under ``mqtt.max_message_bytes`` that a clock step moves (its times corrected,
``clock_corrected_s`` added) still goes: the correction's bytes are taken from its last
candidates, or, with too few, the marker is left out.  Before, it went over the limit by the
marker's bytes and was set aside (kept, and not delivered until the next start).

A real mosquitto whose ``message_size_limit`` is the configured one (MQTT 3.1.1: the broker
would discard a larger message unseen), and a real outbox whose wall clock the test steps.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr.clocks import WallOffset
from edge_alpr.delivery.mqtt import MQTT_SINK, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.mqtt_size import CORRECTED, within
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.worker import DeliveryWorker

pytest_plugins = ["mosquitto"]
LIMIT = 700
STEP_S = 30 * 86400.0  # time sync, 30 days forward
STALE = 1_600_000_000.0


class Clock:
    """A clock the test moves: ``now`` seconds."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _event(event_id: str, candidates: int) -> dict[str, Any]:
    """A camera event whose JSON is 10 bytes under ``LIMIT``, with ``candidates`` readings."""
    event: dict[str, Any] = {
        "box": {"xmin": 10, "ymin": 20, "xmax": 110, "ymax": 60}, "plate": "ab123cd",
        "score": 0.91, "candidates": [{"plate": f"ab123c{i}", "score": 0.5} for i in range(candidates)],
        "id": event_id, "camera_id": "gate", "timestamp": "2020-09-13T12:26:40.000Z",
        "first_seen": "2020-09-13T12:26:38.500Z", "last_seen": "2020-09-13T12:26:40.500Z", "frames": 3,
        "region": {"code": ""}}
    event["region"]["code"] = "x" * (LIMIT - 10 - len(json.dumps(event)))
    assert len(json.dumps(event)) == LIMIT - 10
    return event


def test_an_event_just_under_the_limit_that_a_clock_step_moves_is_still_delivered(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "mosquitto")
    broker.conf.write_text(broker.conf.read_text() + f"message_size_limit {LIMIT}\n")
    broker.start()
    sub = Subscriber(broker.port)
    wall, mono = Clock(STALE), Clock(100.0)
    box = Outbox(tmp_path / "outbox.sqlite", offset=WallOffset(wall, mono, boot="boot-1"))
    with_candidates, without = _event("ev-1", 5), _event("ev-2", 0)
    box.put_many([(MQTT_SINK, with_candidates, None), (MQTT_SINK, without, None)], clock=wall.now - mono.now)
    wall.now += STEP_S
    pub = MqttPublisher(MqttConfig.from_dict({"host": "127.0.0.1", "port": broker.port, "device_id": "dev1",
                                              "max_message_bytes": LIMIT}, "t"), environ={})
    stop = threading.Event()
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.1, backoff_max_s=0.5)
    pub.start()
    worker.start()
    try:
        got = {m["id"]: m for m in sub.wait_for_ids("/plate", {"ev-1", "ev-2"}, 20)}
        assert set(got) == {"ev-1", "ev-2"}, (worker.state, box.stats())
        assert wait_for(lambda: box.stats()["pending"].get(MQTT_SINK, 0) == 0, 5), box.stats()
        assert box.stats()["aside"].get(MQTT_SINK, 0) == 0 and worker.state.aside == 0
    finally:
        stop.set()
        box.wake()
        worker.join(5)
        pub.stop(timeout=0.5)
        sub.close()
        box.close()
        broker.stop()
    moved = {"timestamp": "2020-10-13T12:26:40.000Z", "first_seen": "2020-10-13T12:26:38.500Z",
             "last_seen": "2020-10-13T12:26:40.500Z"}
    first, second = got["ev-1"], got["ev-2"]
    assert {k: first[k] for k in moved} == moved and first["clock_corrected_s"] == STEP_S
    kept = first["candidates"]
    assert 0 < len(kept) < 5 and kept == with_candidates["candidates"][:len(kept)], kept  # the last ones went
    assert len(json.dumps(first)) <= LIMIT < len(json.dumps({**first, "candidates": kept + [{
        "plate": "ab123c4", "score": 0.5}]}))  # no more left out than the limit asks
    # no candidates to take from: the marker is left out, the times are the corrected ones
    assert {k: second[k] for k in moved} == moved and "clock_corrected_s" not in second
    assert {k: v for k, v in second.items() if k not in moved} == \
        {k: v for k, v in without.items() if k not in moved}


def test_trimming_a_corrected_event_keeps_the_plates_own_reading() -> None:
    """Clients read ``candidates[0]`` (Plate Recognizer's format): where dropping the other
    candidates is not enough, the correction's marker goes, never the last candidate."""
    event = {"plate": "ab123cd", "candidates": [{"plate": "ab123cd", "score": 0.9}], CORRECTED: 3600.0}
    queued = json.dumps({k: v for k, v in event.items() if k != CORRECTED}).encode()
    sent = within(event, lambda p: len(json.dumps(p).encode()) <= len(queued))
    assert sent["candidates"] == event["candidates"] and CORRECTED not in sent
