"""A stale retained camera health put back at every reconnect is logged once, not every time.

Why tested: two devices with one device id (two machines, or two runs on one before
``mqtt_claim.py``) take the connection from each other, and each puts back the camera health
that the other clears as "no longer configured": an info line at every reconnect, every 2 s,
for as long as both ran.  Real mosquitto; the other device is a paho client with the same
client id that publishes its camera's health, as the other edge-alpr does on connecting.
"""

from __future__ import annotations

import logging

import paho.mqtt.client as mqtt
import pytest
from mosquitto import Broker
from test_mqtt_retained import retained
from waiting import wait_for

from edge_alpr.delivery.mqtt import MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig

pytest_plugins = ["mosquitto"]

GHOST = "edge-alpr/dev1/ghost/health"


def other_device_connects(port: int) -> None:
    """The other device: takes the client id, puts its camera's health back, goes."""
    other = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge-alpr-dev1")
    other.connect("127.0.0.1", port)
    other.loop_start()
    try:
        other.publish(GHOST, '{"camera_id": "ghost", "state": "streaming"}', qos=1, retain=True).wait_for_publish(10)
    finally:
        other.disconnect()
        other.loop_stop()


def test_a_ghost_put_back_at_every_reconnect_is_logged_once(broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="edge_alpr")
    pub = MqttPublisher(MqttConfig.from_dict({"port": broker.port, "device_id": "dev1"}, "t"), ("gate",))
    pub.start()
    try:
        assert pub.wait_connected(10)
        for _ in range(3):
            other_device_connects(broker.port)
            assert wait_for(lambda: GHOST not in retained(broker.port, 0.2), 20), "not cleared after the reconnect"
    finally:
        pub.stop()
    said = [r.levelno for r in caplog.records if GHOST in r.getMessage()]
    assert said.count(logging.INFO) == 1 and said.count(logging.DEBUG) == 2, said
