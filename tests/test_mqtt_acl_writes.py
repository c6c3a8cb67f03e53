"""An MQTT 3.1.1 broker whose ACL drops what the device publishes: the events are kept, the
warning names the write permission, and the events go once the ACL is fixed and reloaded.

Measured before: mosquitto 2.0.11 acknowledged each event of an account allowed only to read
its topics (PUBACK, then "Denied PUBLISH" in its log), the outbox acked it and it was lost; the
only warning asked whether the account may *read* its status topic.  A real mosquitto with a
password file and an ACL file (tests/mosquitto.py).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr.delivery import mqtt_device
from edge_alpr.delivery.mqtt import MQTT_SINK, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.worker import DeliveryWorker

pytest_plugins = ["mosquitto"]
EVENT = {"id": "ev-1", "camera_id": "yard", "plate": "abc123"}


def _pending(box: Outbox) -> int:
    return box.stats()["pending"].get(MQTT_SINK, 0)


def _write_status(port: int, payload: str) -> None:
    """What a former run left retained on the status topic (written by the admin account)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="admin")
    client.username_pw_set("admin", "adminpw")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish("edge-alpr/gate/status", payload, qos=1, retain=True)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_broker_that_drops_the_device_s_publishes_keeps_the_events_until_it_takes_them(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    if not subprocess.run(["which", "mosquitto_passwd"], capture_output=True).returncode == 0:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    monkeypatch.setattr(mqtt_device, "SWEEP_WAIT_S", 1.0)
    b = Broker(tmp_path / "broker")
    pwfile, acl = b.dir / "passwd", b.dir / "acl"
    pwfile.write_text("")
    for user, password in (("cam", "pw123"), ("admin", "adminpw")):
        subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, password], check=True)
    # anonymous clients (the test's subscriber) read everything; cam only reads its topics
    acl.write_text("topic read #\nuser admin\ntopic readwrite #\n"
                   "user cam\ntopic read edge-alpr/#\ntopic read homeassistant/#\n")
    b.conf.write_text(b.conf.read_text() + f"password_file {pwfile}\nacl_file {acl}\n")
    b.start()
    _write_status(b.port, "offline")
    watch = Subscriber(b.port, topic="edge-alpr/#", client_id="watch")
    box = Outbox(tmp_path / "outbox.sqlite")
    box.put(MQTT_SINK, EVENT)
    cfg = MqttConfig.from_dict({"host": "127.0.0.1", "port": b.port, "device_id": "gate", "username": "cam",
                                "retry_max_s": 0.5}, "t")
    pub = MqttPublisher(cfg, ("yard",), environ={"EDGE_ALPR_MQTT_PASSWORD": "pw123"})
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    stop = threading.Event()
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.1, backoff_max_s=0.3)
    pub.start()
    worker.start()
    try:
        assert pub.wait_connected(10)
        assert wait_for(lambda: worker.state.consecutive_failures >= 3, 15), worker.state
        assert _pending(box) == 1, "the event the broker would drop is kept"
        assert watch.on("/plate") == []
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        said = [w for w in warnings if w.startswith("mqtt: ")]
        assert len(said) == 1, warnings
        assert f"broker 127.0.0.1:{b.port} drops what this device publishes" in said[0], said[0]
        assert "MQTT 3.1.1" in said[0] and "events are kept in the outbox" in said[0], said[0]
        assert "add `topic readwrite edge-alpr/gate/#` for user 'cam'" in said[0], said[0]
        assert "read it?" not in said[0]
        # the ACL fixed as the warning says and the broker reloaded: the event goes, and the status
        acl.write_text(acl.read_text() + "topic readwrite edge-alpr/gate/#\n")
        assert b.proc is not None
        os.kill(b.proc.pid, signal.SIGHUP)
        assert wait_for(lambda: not _pending(box), 15), worker.state
        assert [e["id"] for e in watch.wait_for("/plate", 1, 10)] == ["ev-1"]
        assert watch.wait_for_text("edge-alpr/gate/status", "online", 10)[-1] == "online"
    finally:
        stop.set()
        box.wake()
        worker.join(5)
        pub.stop(timeout=0.5)
        watch.close()
        b.stop()
        box.close()
    assert any("takes this device's publishes now" in r.getMessage() for r in caplog.records)
    assert any("delivery to mqtt recovered after" in r.getMessage() for r in caplog.records)
