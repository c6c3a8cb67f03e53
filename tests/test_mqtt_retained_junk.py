"""Retained messages that another client left where the device reads on connecting (the Home
Assistant discovery prefix, the device's own health topic) cannot stop its events.

Measured before: one retained ``[[[[...`` 200,000 deep on ``homeassistant/sensor/x/config`` raised
``RecursionError`` in paho's network thread as the sweep read it, which ended the thread: every
event then failed "no PUBACK within 5.0 s" for ever, and a warning blamed the broker's ACL.  A
real mosquitto (tests/mosquitto.py).
"""

from __future__ import annotations

import logging

import paho.mqtt.client as mqtt
import pytest
from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr.delivery import mqtt_discovery
from edge_alpr.delivery.mqtt import MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.outbox import OutboxItem

pytest_plugins = ["mosquitto"]
DEEP = "[" * 200_000


def _leave(port: int, messages: list[tuple[str, bytes | str]]) -> None:
    """Another client's retained messages."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="other")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload in messages:
            info = client.publish(topic, payload, qos=1, retain=True)
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("topic", ["homeassistant/sensor/x/config", "edge-alpr/gate/health"])
def test_a_retained_payload_nested_too_deep_does_not_stop_the_events(
        broker: Broker, subscriber: Subscriber, topic: str, caplog: pytest.LogCaptureFixture) -> None:
    _leave(broker.port, [(topic, DEEP), ("homeassistant/sensor/y/config", b"\xff\xfe not utf-8"),
                         ("edge-alpr/gate/status", "online")])
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    pub = MqttPublisher(MqttConfig(host="127.0.0.1", port=broker.port, device_id="gate", ha_discovery=True),
                        ("yard",), environ={})
    pub.start()
    try:
        assert pub.wait_connected(10)
        pub.send(OutboxItem(1, "ev-1", "mqtt", 0.0, 0, {"id": "ev-1", "camera_id": "yard", "plate": "AB12"}))
        assert [e["id"] for e in subscriber.wait_for("/yard/plate", 1, 10)] == ["ev-1"]
        assert pub.ha_id is not None, "the sweep ended on the device's own online"
    finally:
        pub.stop(timeout=1.0)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_any_error_reading_a_retained_message_is_logged_and_the_message_skipped(
        broker: Broker, subscriber: Subscriber, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The last guard of paho's network thread (``RetainedMessages._on_message``): an error no
    reader foresaw, injected by a JSON reading that raises for one payload (the broker, the
    message and the publisher are real), is logged naming the topic; the sweep and events go on."""
    parsed = mqtt_discovery.parsed

    def failing(payload: bytes | bytearray) -> object:
        if bytes(payload) == b'{"boom": 1}':
            raise RuntimeError("unforeseen")
        return parsed(payload)

    monkeypatch.setattr(mqtt_discovery, "parsed", failing)
    _leave(broker.port, [("homeassistant/sensor/x/config", '{"boom": 1}')])
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    pub = MqttPublisher(MqttConfig(host="127.0.0.1", port=broker.port, device_id="gate", ha_discovery=True),
                        ("yard",), environ={})
    pub.start()
    try:
        assert pub.wait_connected(10)
        assert wait_for(lambda: pub.ha_id is not None, 10), "the sweep ended on the device's own online"
        pub.send(OutboxItem(1, "ev-1", "mqtt", 0.0, 0, {"id": "ev-1", "camera_id": "yard", "plate": "AB12"}))
        assert [e["id"] for e in subscriber.wait_for("/yard/plate", 1, 10)] == ["ev-1"]
    finally:
        pub.stop(timeout=1.0)
    skipped = [r for r in caplog.records if "skipped the retained message on homeassistant/sensor/x/config" in
               r.getMessage()]
    assert len(skipped) == 1 and skipped[0].exc_info is not None, caplog.text
