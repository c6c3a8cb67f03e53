"""A broker that does not send the device its own ``online`` back although it sent the retained
status: one warning that its ACL *may* drop the device's publishes, and the events go as ever.

The missing echo is no proof of denied writes: a broker or bridge that does not send a client
its own publishes (EMQX ``ignore_loop_deliver``) looks the same, and holding the events there
kept every one of them in the outbox for ever while probes of a retained ``online`` went to
every subscriber at each retry.  MQTT 3.1.1 cannot tell an ACL's drop from a delivery (mosquitto
2.0.11 acknowledges a denied publish): that is the documented limitation, which mqtt.mqtt5 ends.
A real mosquitto with a password file and an ACL file (tests/mosquitto.py).
"""

from __future__ import annotations

import logging
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


def _acl_broker(tmp_path: Path, cam_acl: str) -> Broker:
    """mosquitto with accounts: admin writes everything, anonymous clients read it, cam as given."""
    if not subprocess.run(["which", "mosquitto_passwd"], capture_output=True).returncode == 0:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    b = Broker(tmp_path / "broker")
    pwfile, acl = b.dir / "passwd", b.dir / "acl"
    pwfile.write_text("")
    for user, password in (("cam", "pw123"), ("admin", "adminpw")):
        subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, password], check=True)
    acl.write_text(f"topic read #\nuser admin\ntopic readwrite #\nuser cam\n{cam_acl}")
    b.conf.write_text(b.conf.read_text() + f"password_file {pwfile}\nacl_file {acl}\n")
    b.start()
    _write_status(b.port, "offline")  # what the device's former clean stop left
    return b


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.getMessage().startswith("mqtt: ")]


def test_a_read_only_account_is_warned_of_once_and_the_events_are_not_held(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mqtt_device, "SWEEP_WAIT_S", 1.0)
    b = _acl_broker(tmp_path, "topic read edge-alpr/#\ntopic read homeassistant/#\n")
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
        assert wait_for(lambda: bool(_warnings(caplog)), 15)
        # MQTT 3.1.1: the broker acknowledges and drops it, the device cannot tell (documented)
        assert wait_for(lambda: not _pending(box), 15), worker.state
        box.put(MQTT_SINK, {**EVENT, "id": "ev-2"})
        assert wait_for(lambda: not _pending(box), 15), worker.state
        assert worker.state.consecutive_failures == 0
    finally:
        stop.set()
        box.wake()
        worker.join(5)
        pub.stop(timeout=0.5)
        b.stop()
        box.close()
    said = _warnings(caplog)
    assert len(said) == 1, said
    assert "did not send back this device's own `online` on edge-alpr/gate/status within 1 s" in said[0], said[0]
    assert "although it sent the retained status: its ACL may drop what this device publishes" in said[0], said[0]
    assert "mosquitto acknowledges and drops denied publishes on MQTT 3.1.1" in said[0], said[0]
    assert "set mqtt.mqtt5: true so the broker says so per event" in said[0], said[0]
    assert "add `topic readwrite edge-alpr/gate/#` for user 'cam'" in said[0], said[0]
    assert not any(r.getMessage().startswith("delivery to mqtt failed") for r in caplog.records)


def test_a_broker_that_does_not_send_a_client_its_own_publishes_gets_every_event_and_one_online(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """EMQX with ``ignore_loop_deliver`` (or a bridge) takes the device's publishes but never sends
    them back to it: no mosquitto setting does that for an MQTT 3.1.1 client, so the device's
    client drops, as it receives them, the live messages on its status topic (only the device
    publishes there); the broker, its ACL and the subscriber are real."""
    monkeypatch.setattr(mqtt_device, "SWEEP_WAIT_S", 1.0)
    b = _acl_broker(tmp_path, "topic readwrite edge-alpr/#\ntopic readwrite homeassistant/#\n")
    watch = Subscriber(b.port, topic="edge-alpr/#", client_id="watch")
    box = Outbox(tmp_path / "outbox.sqlite")
    ids = [f"ev-{i}" for i in range(3)]
    for event_id in ids:
        box.put(MQTT_SINK, {**EVENT, "id": event_id})
    cfg = MqttConfig.from_dict({"host": "127.0.0.1", "port": b.port, "device_id": "gate", "username": "cam",
                                "retry_max_s": 0.5}, "t")
    pub = MqttPublisher(cfg, ("yard",), environ={"EDGE_ALPR_MQTT_PASSWORD": "pw123"})
    on_message = pub.client.on_message

    def no_loop(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if not (msg.topic == "edge-alpr/gate/status" and not msg.retain):
            on_message(client, userdata, msg)

    pub.client.on_message = no_loop
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    stop = threading.Event()
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.1, backoff_max_s=0.3)
    pub.start()
    worker.start()
    try:
        assert pub.wait_connected(10)
        assert {e["id"] for e in watch.wait_for_ids("/plate", set(ids), 15)} == set(ids)
        assert wait_for(lambda: not _pending(box), 15), worker.state
        assert wait_for(lambda: bool(_warnings(caplog)), 15)
        box.put(MQTT_SINK, {**EVENT, "id": "ev-late"})
        assert "ev-late" in {e["id"] for e in watch.wait_for_ids("/plate", {"ev-late"}, 15)}
        assert wait_for(lambda: not _pending(box), 15), worker.state
    finally:
        stop.set()
        box.wake()
        worker.join(5)
        pub.stop(timeout=0.5)
        watch.close()
        b.stop()
        box.close()
    assert len(_warnings(caplog)) == 1, _warnings(caplog)
    # the connection's one ``online``, then the clean stop's ``offline``: no probe at the retries
    assert watch.texts("/gate/status").count("online") == 1, watch.texts("/gate/status")
