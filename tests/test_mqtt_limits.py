"""A broker whose packet size limit is below an event's size closes the connection each time the
event is published (and again at each reconnection, as the client sends it again at once).  The
event must stay queued, and the log must say so once with the likely cause, not warn at every
reconnection with a hint about TLS that does not apply.  Real mosquitto with ``max_packet_size``."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from mosquitto import Broker

from edge_alpr.delivery.mqtt import MQTT_SINK, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.worker import DeliveryWorker

pytest_plugins = ["mosquitto"]
LOGGER = "edge_alpr.delivery"


def test_an_event_over_the_broker_s_packet_limit_stays_queued_and_is_warned_of_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broker = Broker(tmp_path / "mosquitto")
    broker.conf.write_text(broker.conf.read_text() + "max_packet_size 400\n")
    broker.start()
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    pub = MqttPublisher(MqttConfig.from_dict({"host": "127.0.0.1", "port": broker.port, "device_id": "dev1",
                                              "retry_max_s": 1}, "t"), environ={})
    box = Outbox(tmp_path / "outbox.sqlite")
    stop = threading.Event()
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.2, backoff_max_s=0.5)
    pub.start()
    try:
        assert pub.wait_connected(10)
        box.put(MQTT_SINK, {"id": "big", "camera_id": "gate", "plate": "x" * 1000})
        worker.start()
        deadline = time.monotonic() + 30
        while len([r for r in caplog.records if "dropped 3 times" in r.getMessage()]) < 1:
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
            time.sleep(0.1)
        time.sleep(8)  # still dropped at each try
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        drops = len([r for r in caplog.records if "lost the connection" in r.getMessage()])
    finally:
        stop.set()
        worker.join(2)
        pub.stop(timeout=0.5)
        broker.stop()
    assert drops >= 6, "the broker kept closing the connection"
    mqtt_warnings = [w for w in warnings if w.startswith("mqtt:")]
    assert len(mqtt_warnings) <= 3, mqtt_warnings
    assert "max_packet_size" in mqtt_warnings[-1], mqtt_warnings
    assert not [w for w in mqtt_warnings if "mqtt.tls: true" in w], mqtt_warnings
    assert box.stats()["pending"][MQTT_SINK] == 1
    box.close()
