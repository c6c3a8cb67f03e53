"""MqttPublisher + Outbox + DeliveryWorker against a real mosquitto (tests/mosquitto.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fault_proxy import FaultProxy
from mosquitto import Broker, Subscriber

from edge_alpr.api.server import free_port
from edge_alpr.delivery.mqtt import MQTT_SINK, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.mqtt_connect import resolve_password
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.worker import DeliveryWorker
from edge_alpr.errors import ConfigError

pytest_plugins = ["mosquitto"]


def _cfg(port: int, **kw: object) -> MqttConfig:
    return MqttConfig.from_dict({"port": port, "device_id": "dev1", "retry_max_s": 0.5, **kw}, "test")


def _event(i: int) -> dict[str, object]:
    return {"id": f"ev-{i}", "camera_id": "gate", "plate": f"abc{i:03d}", "timestamp": "2026-11-25T00:00:00Z"}


@contextmanager
def delivering(pub: MqttPublisher, box: Outbox) -> Iterator[None]:
    """Publisher plus a delivery worker draining the outbox's MQTT sink, stopped on exit."""
    stop = threading.Event()
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.1, backoff_max_s=0.5)
    pub.start()
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(5)
        pub.stop()


def test_events_status_usage_and_ha_discovery(broker: Broker, subscriber: Subscriber, tmp_path: Path) -> None:
    pub = MqttPublisher(_cfg(broker.port, ha_discovery=True), camera_ids=("gate",))
    box = Outbox(tmp_path / "outbox.sqlite")
    with delivering(pub, box):
        for i in range(5):
            box.put(MQTT_SINK, _event(i))
        got = subscriber.wait_for("dev1/gate/plate", 5, 10)
        assert [g["id"] for g in got] == [f"ev-{i}" for i in range(5)]  # in order
        pub.publish_usage({"calls": 3, "max_calls": 1000, "lifetime_calls": 7,
                           "resets_on": "2026-12-01T00:00:00Z", "dropped": 0})
        assert subscriber.wait_for("dev1/usage", 1, 5)[-1]["lifetime_calls"] == 7
        assert subscriber.wait_for_text("edge-alpr/dev1/status", "online", 5)[-1] == "online"
        health = subscriber.wait_for("edge-alpr/dev1/health", 1, 5)[-1]
        assert health["state"] == "online" and health["device_id"] == "dev1"
        disc = [c for c in subscriber.wait_for("/config", 1, 5) if c.get("unique_id") == "edge_alpr_dev1_gate_plate"]
        assert disc and disc[0]["state_topic"] == "edge-alpr/dev1/gate/plate"
        assert disc[0]["availability_topic"] == "edge-alpr/dev1/status"
        assert disc[0]["payload_available"] == "online"
        assert disc[0]["default_entity_id"] == "sensor.edge_alpr_dev1_gate_plate" and "object_id" not in disc[0]
    assert subscriber.wait_for_text("edge-alpr/dev1/status", "offline", 5)[-1] == "offline"
    assert box.stats()["pending"].get(MQTT_SINK, 0) == 0


def test_broker_down_then_up_loses_nothing(broker: Broker, subscriber: Subscriber, tmp_path: Path) -> None:
    pub = MqttPublisher(_cfg(broker.port))
    box = Outbox(tmp_path / "outbox.sqlite")
    with delivering(pub, box):
        assert pub.wait_connected(10)
        for i in range(3):
            box.put(MQTT_SINK, _event(i))
        assert len(subscriber.wait_for("/plate", 3, 10)) == 3
        broker.stop()
        for i in range(3, 10):
            box.put(MQTT_SINK, _event(i))
        time.sleep(1.5)
        assert box.stats()["pending"][MQTT_SINK] == 7  # kept while the broker is away
        broker.start()
        expected = {f"ev-{i}" for i in range(10)}
        got = subscriber.wait_for_ids("/plate", expected, 30)  # not a count: QoS 1 may repeat
        ids = [g["id"] for g in got]
        assert set(ids) == expected
        assert len(got) >= 10  # at least once: duplicates allowed, they carry the same id


def test_last_will_offline_when_connection_dies(broker: Broker, subscriber: Subscriber) -> None:
    pub = MqttPublisher(_cfg(broker.port, keepalive=5))
    pub.start()
    assert pub.wait_connected(10)
    assert subscriber.wait_for_text("/status", "online", 5)[-1] == "online"
    pub.client.loop_stop()
    pub.client.socket().close()  # an abrupt death: no DISCONNECT packet, the will fires
    assert subscriber.wait_for_text("/status", "offline", 10)[-1] == "offline"


def test_password_never_from_config_and_from_credentials(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="password"):
        MqttConfig.from_dict({"password": "secret"}, "f.yaml: mqtt")
    with pytest.raises(ConfigError, match="'hots'"):
        MqttConfig.from_dict({"hots": "x"}, "f.yaml: mqtt")
    cfg = MqttConfig.from_dict({"username": "u"}, "t")
    (tmp_path / "mqtt_password").write_text("s3cret\n")
    assert resolve_password(cfg, {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "s3cret"
    assert resolve_password(cfg, {"EDGE_ALPR_MQTT_PASSWORD": "env"}) == "env"
    assert resolve_password(cfg, {}) is None


def test_authenticated_broker_accepts_password_from_env(tmp_path: Path) -> None:
    b = Broker(tmp_path / "authbroker")
    pwfile = b.dir / "passwd"
    pwfile.write_text("")
    import shutil
    import subprocess

    if not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    subprocess.run(["mosquitto_passwd", "-b", str(pwfile), "cam", "pw123"], check=True)
    text = b.conf.read_text().replace("allow_anonymous true",
                                      f"allow_anonymous false\npassword_file {pwfile}")
    b.conf.write_text(text)
    b.start()
    try:
        good = MqttPublisher(_cfg(b.port, username="cam"), environ={"EDGE_ALPR_MQTT_PASSWORD": "pw123"})
        good.start()
        assert good.wait_connected(10)
        good.stop()
        bad = MqttPublisher(_cfg(b.port, username="cam", client_id="bad"),
                            environ={"EDGE_ALPR_MQTT_PASSWORD": "wrong"})
        bad.start()
        assert not bad.wait_connected(2)
        bad.stop()
    finally:
        b.stop()



def test_stopping_while_the_broker_is_down_warns_of_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """With no broker the network thread sleeps between connection attempts; outlasting the stop's
    timeout then is expected, and a shutdown during an outage must not log a warning (the outage
    itself is warned of once, test_mqtt_connect.py)."""
    pub = MqttPublisher(_cfg(free_port(), retry_max_s=30))  # nothing listens there
    pub.start()
    time.sleep(1.5)  # a few refused attempts: the thread is now waiting to retry
    assert not pub.wait_connected(0.1)
    caplog.clear()
    caplog.set_level("DEBUG", logger="edge_alpr.delivery.mqtt")
    t0 = time.monotonic()
    pub.stop(timeout=0.1)
    assert time.monotonic() - t0 < 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "edge_alpr.delivery.mqtt"]


def test_a_clean_stop_while_connected_warns_of_nothing(broker: Broker, subscriber: Subscriber,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """Every restart (an upgrade's too) stops the publisher: its own DISCONNECT is no lost
    connection, so ``journalctl -p warning`` must not say 'disconnected ...; reconnecting'."""
    pub = MqttPublisher(_cfg(broker.port))
    pub.start()
    assert pub.wait_connected(10)
    caplog.set_level("DEBUG", logger="edge_alpr.delivery.mqtt")
    pub.stop()
    assert subscriber.wait_for_text("/status", "offline", 5)[-1] == "offline"
    time.sleep(0.3)  # the network thread's disconnect callback has run
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno >= logging.WARNING and r.name == "edge_alpr.delivery.mqtt"]
    assert not warnings, warnings
    assert any("mqtt: disconnected from" in r.getMessage() for r in caplog.records), "the stop is logged"


def test_a_backlog_at_start_waits_for_the_first_connection_without_a_warning(
        broker: Broker, subscriber: Subscriber, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Events queued before a restart: the worker asked the publisher before paho had connected
    and warned "delivery to mqtt failed: not connected (connecting)", then "recovered" half a
    second later, at every start with a backlog."""
    box = Outbox(tmp_path / "outbox.sqlite")
    box.put(MQTT_SINK, _event(1))
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    link = FaultProxy(broker.port)  # the broker answers the login 1 s late (a remote one, a busy one)
    link.freeze()
    try:
        with delivering(MqttPublisher(_cfg(link.port)), box):
            time.sleep(1.0)
            link.resume()
            assert [g["id"] for g in subscriber.wait_for_ids("/plate", {"ev-1"}, 10)][:1] == ["ev-1"]
    finally:
        link.close()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not said, said
    assert not any("recovered" in r.getMessage() for r in caplog.records)
    box.close()
