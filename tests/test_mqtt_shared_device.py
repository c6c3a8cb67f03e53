"""Two machines configured with one ``mqtt.device_id`` (and each its own client id, so the broker
does not take the connection from one for the other): the second to connect warns, naming the
first's host and the fix.

Measured before: nothing was said; each device cleared the other's camera health at each
connection (an info line, "a camera no longer configured") and the status and health topics
carried whichever wrote last.  A real mosquitto (tests/mosquitto.py); the two devices are two
publishers in this process whose host names are set as two machines' would be (one machine
here), the only thing that is not real.
"""

from __future__ import annotations

import logging

import paho.mqtt.client as mqtt
import pytest
from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr.delivery.mqtt import MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig

pytest_plugins = ["mosquitto"]


def _device(port: int, client_id: str, camera: str, host: str) -> MqttPublisher:
    pub = MqttPublisher(MqttConfig.from_dict({"host": "127.0.0.1", "port": port, "device_id": "gate",
                                              "client_id": client_id}, "t"), (camera,), environ={})
    pub._sweep.host = host  # the machine's host name, as a second machine's would differ
    return pub


def _shared(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "is online under" in
            r.getMessage()]


def test_a_second_machine_with_the_same_device_id_is_warned_of(
        broker: Broker, subscriber: Subscriber, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    first = _device(broker.port, "gate-a", "east", "box-a")
    second = _device(broker.port, "gate-b", "west", "box-b")
    try:
        first.start()
        assert first.wait_connected(10)
        assert wait_for(lambda: any(h.get("host") == "box-a" for h in subscriber.on("gate/health")), 10)
        assert wait_for(lambda: not first._sweep.running, 10)
        second.start()
        assert second.wait_connected(10)
        assert wait_for(lambda: _shared(caplog), 10), [r.getMessage() for r in caplog.records]
    finally:
        second.stop(timeout=0.5)
        first.stop(timeout=0.5)
    said = _shared(caplog)
    assert len(said) == 1, said  # the second's: the first found no other device online there
    assert "a device on host 'box-a' is online under this device's topics edge-alpr/gate/" in said[0], said[0]
    assert "mqtt.device_id 'gate'" in said[0] and "give each device its own mqtt.device_id" in said[0], said[0]


def test_the_same_machine_and_a_stopped_device_are_no_other_device(
        broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    """A second publisher on the same machine (the claim's to refuse: ``mqtt_claim``) finds its own
    host; a machine that replaces one stopped cleanly finds ``offline``: neither is warned of."""
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    pubs = [_device(broker.port, client_id, "east", host)
            for client_id, host in (("gate-a", "box-a"), ("gate-b", "box-a"), ("gate-c", "box-c"))]
    try:
        for pub in pubs[:2]:  # both up at once, on one machine
            pub.start()
            assert pub.wait_connected(10)
            assert wait_for(lambda p=pub: p.ha_id is not None, 10)  # its sweep ended
    finally:
        for pub in pubs[:2]:
            pub.stop(timeout=1.0)
    last = pubs[2]
    last.start()
    try:
        assert last.wait_connected(10)
        assert wait_for(lambda: last.ha_id is not None, 10)
    finally:
        last.stop(timeout=1.0)
    assert _shared(caplog) == []


def test_the_shared_device_id_is_said_once_however_often_the_device_reconnects(
        broker: Broker, subscriber: Subscriber, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each connection's sweep finds the other machine again (its health republished before each):
    the warning is said once a process.  The second's will is left out so that a taken connection
    leaves its status ``online``, as a broker restart that both devices reconnect to would."""
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    first = _device(broker.port, "gate-a", "east", "box-a")
    second = _device(broker.port, "gate-b", "west", "box-b")
    monkeypatch.setattr(second, "_set_will", lambda: None)
    second.client.will_clear()
    try:
        first.start()
        assert first.wait_connected(10)
        assert wait_for(lambda: any(h.get("host") == "box-a" for h in subscriber.on("gate/health")), 10)
        assert wait_for(lambda: not first._sweep.running, 10)
        second.start()
        assert second.wait_connected(10)
        assert wait_for(lambda: _shared(caplog), 10), [r.getMessage() for r in caplog.records]
        for n in (2, 3):  # another client with its client id takes its connection: it reconnects
            first.set_status(n=n)  # its health again, naming box-a
            assert wait_for(lambda n=n: any(h.get("n") == n for h in subscriber.on("gate/health")), 10)
            before = second._sweep.generation
            other = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gate-b")
            other.connect("127.0.0.1", broker.port)
            other.disconnect()
            assert wait_for(lambda b=before: second._sweep.generation > b and not second._sweep.running
                            and second.connected, 15), n
    finally:
        second.stop(timeout=0.5)
        first.stop(timeout=0.5)
    assert len(_shared(caplog)) == 1, _shared(caplog)
