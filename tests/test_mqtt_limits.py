"""An event larger than the broker's size limit: real mosquitto with ``max_packet_size`` (it closes
the connection when the event arrives; an MQTT 5 client is told the limit in the CONNACK) or
``message_size_limit`` (to an MQTT 5 client it answers "packet too large", which paho takes for a
protocol error and drops the connection; an MQTT 3.1.1 client's event it acknowledges and
discards, which only ``mqtt.max_message_bytes`` set to the limit turns into a set-aside).

Before, the client sent the event again at each reconnection and it headed the queue forever:
no later event arrived.  Now it is set aside (kept in the outbox, said once with its id, size,
the limit and the fix), the later events arrive, and it is delivered after a restart once the
broker's limit is raised."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mosquitto import Broker, Subscriber

from edge_alpr.delivery.mqtt import MQTT_SINK, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.worker import DeliveryWorker

pytest_plugins = ["mosquitto"]
LOGGER = "edge_alpr.delivery"
BIG = {"id": "big-1", "camera_id": "gate", "plate": "x" * 1000}  # ~1 KB: over the 400-byte limit


@contextmanager
def delivering(box: Outbox, port: int, mqtt5: bool, **more: Any) -> Iterator[MqttPublisher]:
    """A publisher and the MQTT sink's worker on ``box``, as ``edge-alpr run`` has them (``more``:
    more of the config's ``mqtt`` keys)."""
    cfg = MqttConfig.from_dict({"host": "127.0.0.1", "port": port, "device_id": "dev1", "retry_max_s": 1,
                                **({"mqtt5": True} if mqtt5 else {}), **more}, "t")  # MQTT 3.1.1 by default
    pub = MqttPublisher(cfg, environ={})
    stop = threading.Event()
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.2, backoff_max_s=0.5)
    pub.start()
    assert pub.wait_connected(10)
    worker.start()
    try:
        yield pub
    finally:
        stop.set()
        box.wake()
        worker.join(8)
        pub.stop(timeout=0.5)


def _aside(box: Outbox) -> int:
    return box.stats()["aside"].get(MQTT_SINK, 0)


@pytest.mark.parametrize("limit, mqtt5", [("max_packet_size", False), ("max_packet_size", True),
                                          ("message_size_limit", True)])
def test_an_event_over_the_broker_s_limit_is_set_aside_and_sent_once_the_limit_is_raised(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, limit: str, mqtt5: bool) -> None:
    broker = Broker(tmp_path / "mosquitto")
    plain = broker.conf.read_text()
    broker.conf.write_text(plain + f"{limit} 400\n")
    broker.start()
    caplog.set_level(logging.INFO, logger=LOGGER)
    sub = Subscriber(broker.port)
    box = Outbox(tmp_path / "outbox.sqlite")
    try:
        box.put(MQTT_SINK, BIG)
        small = [f"small-{i}" for i in range(3)]
        for event_id in small:
            box.put(MQTT_SINK, {"id": event_id, "camera_id": "gate", "plate": "ab12cde"})
        with delivering(box, broker.port, mqtt5):
            got = sub.wait_for_ids("/plate", set(small), 30)
            assert set(small) <= {m["id"] for m in got}, "the events after the large one did not arrive"
            deadline = time.monotonic() + 5
            while _aside(box) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(2)  # no more drops, no more warnings
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        stats = box.stats()
        assert stats["pending"][MQTT_SINK] == 1 and _aside(box) == 1, stats  # kept, on disk
        assert "big-1" not in {m["id"] for m in sub.on("/plate")}
        assert len(warnings) == 1, warnings  # one clear warning, not one per reconnection
        said = warnings[0]
        assert "big-1" in said and "set aside" in said and "max_packet_size" in said and "models.top_n" in said, said
        sizes = [int(n) for n in re.findall(r"(\d+) bytes", said)]
        body = len(json.dumps(BIG))
        assert any(body <= n <= body + 100 for n in sizes), said
        if limit == "max_packet_size" and mqtt5:  # the broker said its limit: checked before sending
            assert "400 bytes" in said, said
        box.close()

        # the admin raises the limit and restarts the broker, then edge-alpr: it is delivered
        broker.stop()
        broker.conf.write_text(plain)
        broker.start()
        box = Outbox(tmp_path / "outbox.sqlite")
        assert _aside(box) == 0 and box.stats()["pending"][MQTT_SINK] == 1
        with delivering(box, broker.port, mqtt5):
            got = sub.wait_for_ids("/plate", {"big-1"}, 30)
            deadline = time.monotonic() + 5
            while box.stats()["pending"][MQTT_SINK] and time.monotonic() < deadline:
                time.sleep(0.05)
        assert [m for m in got if m["id"] == "big-1"][0] == BIG
        assert box.stats()["pending"][MQTT_SINK] == 0
    finally:
        sub.close()
        box.close()
        broker.stop()


def test_message_size_limit_on_mqtt_3_1_1_is_lost_unless_max_message_bytes_says_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The broker acknowledges the oversized event and discards it: without the key it is counted
    delivered and never arrives (lost); with ``max_message_bytes`` it is set aside before it is sent."""
    broker = Broker(tmp_path / "mosquitto")
    broker.conf.write_text(broker.conf.read_text() + "message_size_limit 400\n")
    broker.start()
    caplog.set_level(logging.INFO, logger=LOGGER)
    sub = Subscriber(broker.port)
    box = Outbox(tmp_path / "outbox.sqlite")
    try:
        for limit, big in ((0, "lost-1"), (400, "big-1")):
            box.put(MQTT_SINK, {**BIG, "id": big})
            box.put(MQTT_SINK, {"id": f"after-{big}", "camera_id": "gate", "plate": "ab12cde"})
            with delivering(box, broker.port, False, max_message_bytes=limit):
                got = sub.wait_for_ids("/plate", {f"after-{big}"}, 30)
                assert f"after-{big}" in {m["id"] for m in got}
            assert big not in {m["id"] for m in sub.on("/plate")}
            if limit == 0:  # acknowledged, gone: nothing to set aside, nothing said
                assert box.stats()["pending"][MQTT_SINK] == 0 and _aside(box) == 0, box.stats()
                assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
        stats = box.stats()
        assert stats["pending"][MQTT_SINK] == 1 and _aside(box) == 1, stats  # kept, on disk
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, warnings
        said = warnings[0]
        body = len(json.dumps({**BIG, "id": "big-1"}))
        assert "big-1" in said and f"{body} bytes" in said and "400 bytes" in said, (said, body)
        assert "mqtt.max_message_bytes" in said and "message_size_limit" in said and "set aside" in said, said
    finally:
        sub.close()
        box.close()
        broker.stop()
