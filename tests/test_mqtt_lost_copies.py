"""Copies of an event that paho gave up or kept behind the publisher's back: the event reaches
the broker, once (a real mosquitto on a free loopback port).

At QoS 0 an event whose copy paho had not written when the connection dropped is published
again once the connection is back.
Before: paho keeps nothing at QoS 0; its reconnect marks such a copy lost (``MQTT_ERR_CONN_LOST``),
after which ``is_published()`` raises.  The retry took that copy for one still held by paho and
waited on it again, and again: the event never went, and every later event waited behind it
until a restart.  QoS 0 comes from ``mqtt.qos: 0`` or an MQTT 5 broker's Maximum-QoS 0.

At QoS 1 a publish made just as the connection dropped (``MQTT_ERR_NO_CONN``) failed, yet paho kept
its copy and sent it on reconnecting, beside the retry's own: the broker got the event twice.
"""

from __future__ import annotations

import os
import signal
import threading
from functools import partial
from pathlib import Path

import pytest
from mosquitto import Broker, Subscriber
from waiting import wait_until

from edge_alpr.delivery.mqtt import MQTT_SINK, MqttError, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.outbox import Outbox, OutboxItem
from edge_alpr.delivery.worker import DeliveryWorker

pytest_plugins = ["mosquitto"]

_wait = partial(wait_until, timeout=60.0)  # a 24 MiB event takes its time on a loaded machine
BIG = 24 << 20  # more than loopback's socket buffers take: paho is still writing it when the broker dies




def test_a_qos0_event_lost_with_the_connection_is_published_again(
        broker: Broker, subscriber: Subscriber, tmp_path: Path) -> None:
    cfg = MqttConfig.from_dict({"port": broker.port, "device_id": "dev1", "qos": 0, "publish_timeout_s": 0.3,
                                "retry_initial_s": 0.1, "retry_max_s": 0.2}, "test")
    stop = threading.Event()
    pub = MqttPublisher(cfg, stop=stop)
    box = Outbox(tmp_path / "outbox.sqlite")
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.1, backoff_max_s=0.2, up=pub.up)
    pub.start()
    worker.start()
    assert broker.proc is not None
    try:
        assert pub.wait_connected(10)
        os.kill(broker.proc.pid, signal.SIGSTOP)  # hung: paho's writes stop draining
        box.put(MQTT_SINK, {"id": "big", "camera_id": "gate", "plate": "abc000", "pad": "x" * BIG})
        _wait("tried once", lambda: worker.state.consecutive_failures >= 1)
        broker.proc.kill()  # the connection drops with the copy half written
        broker.proc.wait(10)
        broker.stop()
        _wait("disconnected", lambda: not pub.connected)
        broker.start()
        assert pub.wait_connected(30)
        box.put(MQTT_SINK, {"id": "small", "camera_id": "gate", "plate": "abc001"})
        got = subscriber.wait_for_ids("/plate", {"big", "small"}, 60)
        assert [g["id"] for g in got] == ["big", "small"]
        _wait("acknowledged", lambda: box.stats()["pending"][MQTT_SINK] == 0)
    finally:
        if broker.proc is not None:
            os.kill(broker.proc.pid, signal.SIGCONT)
        stop.set()
        box.wake()
        worker.join(5)
        pub.stop()
        box.close()


def test_a_publish_that_finds_no_connection_leaves_no_copy_behind(
        broker: Broker, subscriber: Subscriber, tmp_path: Path) -> None:
    cfg = MqttConfig.from_dict({"port": broker.port, "device_id": "dev1", "publish_timeout_s": 5}, "test")
    pub = MqttPublisher(cfg, stop=threading.Event())
    first = OutboxItem(1, "row-0", MQTT_SINK, 0.0, 0, {"id": "ev-0", "camera_id": "gate", "plate": "abc000"})
    second = OutboxItem(2, "row-1", MQTT_SINK, 0.0, 0, {"id": "ev-1", "camera_id": "gate", "plate": "abc001"})
    # the moment between a connection's drop and paho saying so, which no broker provokes on
    # demand: the publisher still takes itself for connected, paho has no connection
    pub.up.set()
    with pytest.raises(MqttError, match="publish failed"):
        pub.send(first)
    pub.up.clear()
    pub.start()
    try:
        assert pub.wait_connected(10)
        pub.send(first)  # the retry
        pub.send(second)
        got = subscriber.wait_for_ids("/plate", {"ev-0", "ev-1"}, 10)  # after every copy of ev-0 that was sent
        assert [g["id"] for g in got] == ["ev-0", "ev-1"]
    finally:
        pub.stop()
