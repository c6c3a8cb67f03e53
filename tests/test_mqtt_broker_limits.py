"""A broker that takes no QoS 2 (mosquitto ``max_qos 1``) or keeps no retained messages
(``retain_available false``): events are delivered within its limits, the operator is told
once with the fix, and the console and ``/info/`` say it while it lasts.

Measured before, with mosquitto 2.0.11: the broker refused each CONNECT (this device's last
will is retained, at ``mqtt.qos``), to MQTT 5 with CONNACK "QoS not supported" / "Retain not
supported", to MQTT 3.1.1 by hanging up; edge-alpr tried again every few seconds for ever, its
events queued and never sent, warning "check the broker's log" or of a TLS listener.  A real
mosquitto here, configured so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from mosquitto import Broker, Subscriber
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from waiting import wait_for

from edge_alpr import config
from edge_alpr.delivery.mqtt import MQTT_SINK, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.mqtt_connect import why_closed
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.worker import DeliveryWorker
from edge_alpr.service import build as build_service

pytest_plugins = ["mosquitto"]
LOGGER = "edge_alpr.delivery"
EVENTS = [{"id": f"ev-{i}", "camera_id": "gate", "plate": "abc123"} for i in range(3)]


def _broker(workdir: Path, limit: str) -> Broker:
    b = Broker(workdir, persistent=False)
    b.conf.write_text(b.conf.read_text() + f"{limit}\nlog_type all\n")
    b.start()
    return b


def _connections(b: Broker) -> int:
    """The connections of this device the broker took in (accepted or refused): all but the
    subscriber's and the probe of ``Broker.start`` (closed before a CONNECT)."""
    log = (b.dir / "mosquitto.log").read_text()
    return log.count("New connection from") - log.count(" as test-subscriber (") - 1


@contextmanager
def _delivering(tmp_path: Path, port: int, **mqtt: Any) -> Iterator[tuple[Outbox, DeliveryWorker, MqttPublisher]]:
    box = Outbox(tmp_path / "outbox.sqlite")
    for event in EVENTS:
        box.put(MQTT_SINK, event)
    cfg = MqttConfig.from_dict({"host": "127.0.0.1", "port": port, "device_id": "dev1", "retry_max_s": 1, **mqtt}, "t")
    pub = MqttPublisher(cfg, environ={})
    stop = threading.Event()
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.1, backoff_max_s=0.5,
                            notice=pub.notice)
    pub.start()
    worker.start()
    try:
        yield box, worker, pub
    finally:
        stop.set()
        box.wake()
        worker.join(5)
        pub.stop(timeout=0.5)
        box.close()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_mqtt_5_broker_that_keeps_no_retained_messages_gets_them_unretained(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    b = _broker(tmp_path / "broker", "retain_available false")
    watch = Subscriber(b.port)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    try:
        with _delivering(tmp_path, b.port, mqtt5=True) as (box, worker, pub):
            assert wait_for(lambda: {m.get("id") for m in watch.on("/gate/plate")} == {e["id"] for e in EVENTS},
                            20), (worker.state, _warnings(caplog))
            assert wait_for(lambda: box.stats()["pending"].get(MQTT_SINK, 0) == 0, 5)
            assert watch.wait_for_text("/status", "online", 5)[-1:] == ["online"]  # sent, unretained
            assert worker.notice() == ("the broker keeps no retained messages: sent unretained "
                                       "(set mqtt.retain: false)")
            assert _connections(b) == 2, "one refused, then one within the limit: no loop"
        warnings = _warnings(caplog)
        assert len(warnings) == 1, warnings
        assert warnings[0].startswith(f"mqtt: broker 127.0.0.1:{b.port} keeps no retained messages (it refused "
                                      "the connection: Retain not supported; mosquitto: retain_available false)")
        assert "allow retained messages on the broker, or set mqtt.retain: false to say so" in warnings[0]
        assert not any(retained for _, _, retained in watch.messages), "nothing retained"
    finally:
        watch.close()
        b.stop()


def test_an_mqtt_3_broker_that_keeps_no_retained_messages_names_the_fix_which_then_delivers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """MQTT 3.1.1: the broker hangs up without a word; the warning names the limit and the fix,
    and with the fix (``mqtt.retain: false``) the events go, nothing else said."""
    b = _broker(tmp_path / "broker", "retain_available false")
    watch = Subscriber(b.port)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    try:
        with _delivering(tmp_path / "1", b.port) as (box, worker, _):
            assert wait_for(lambda: worker.state.consecutive_failures >= 1 and _warnings(caplog), 15)
            assert box.stats()["pending"].get(MQTT_SINK) == len(EVENTS)
        warnings = _warnings(caplog)
        assert len(warnings) == 1, warnings
        assert ("a broker that takes no retained messages (mosquitto: retain_available false) hangs up on this "
                "device's last will: set mqtt.retain: false, or mqtt.mqtt5: true") in warnings[0], warnings
        caplog.clear()
        with _delivering(tmp_path / "2", b.port, retain=False) as (box, worker, _):
            assert wait_for(lambda: len(watch.on("/gate/plate")) >= len(EVENTS), 20), worker.state
            assert worker.notice() is None  # the config says so: nothing to tell
        assert _warnings(caplog) == []
    finally:
        watch.close()
        b.stop()


def test_an_mqtt_5_broker_without_qos_2_gets_the_events_at_qos_1_said_in_the_console_and_info(
        tmp_path: Path, recognizer: Any, caplog: pytest.LogCaptureFixture, no_token: None) -> None:
    b = _broker(tmp_path / "broker", "max_qos 1")
    watch = Subscriber(b.port)
    caplog.set_level(logging.INFO, logger="edge_alpr")
    cfg = config.from_dict({"state_dir": str(tmp_path / "state"), "api": {"port": 0, "threads": 4},
                            "mqtt": {"host": "127.0.0.1", "port": b.port, "device_id": "dev1", "qos": 2,
                                     "mqtt5": True, "retry_max_s": 1}}, "<test>")
    svc = build_service(cfg, threading.Event(), recognizer=recognizer)
    try:
        assert svc.api is not None
        url = f"http://127.0.0.1:{svc.api.server.port}"
        for event in EVENTS:
            svc.outbox.put(MQTT_SINK, event)
        assert wait_for(lambda: len({m.get("id") for m in watch.on("/gate/plate")}) == len(EVENTS), 20), \
            _warnings(caplog)
        notice = "the broker takes QoS 1 at most: sent at QoS 1 (set mqtt.qos: 1)"
        info = requests.get(f"{url}/info/", timeout=10).json()["mqtt"]
        assert info["state"] == "ok" and info["notice"] == notice and info["delivered"] == len(EVENTS), info
        page = requests.get(f"{url}/", timeout=10).text
        assert ">MQTT limited by the broker</a>" in page, page[:3000]
        assert f'<td data-label="Last error" title="">{notice}</td>' in page
    finally:
        svc.close()
        watch.close()
        b.stop()
    warned = [m for m in _warnings(caplog) if "QoS" in m]
    assert warned == [f"mqtt: broker 127.0.0.1:{b.port} takes no QoS 2 messages (it refused the connection: QoS "
                      "not supported; mosquitto: max_qos): this device publishes at QoS 1 instead; set mqtt.qos: 1 "
                      "to say so, or raise the broker's limit"], _warnings(caplog)
    assert "Too high QoS" not in (b.dir / "mosquitto.log").read_text()


def test_a_hang_up_after_an_accepted_connection_names_no_limit_of_the_last_will() -> None:
    """The last will's QoS and retain flag were taken by this broker earlier in the run: a later
    hang-up is its packet size or ACL, and the advice to turn retained messages off misleads."""
    cfg = MqttConfig(retain=True)
    first = why_closed("Unspecified error", cfg)
    later = why_closed("Unspecified error", cfg, accepted_before=True)
    assert "mqtt.retain: false" in first.fix
    assert "mqtt.retain" not in later.fix and "max_packet_size" in later.fix


def test_one_lost_connection_said_twice_by_paho_is_one_outage(caplog: pytest.LogCaptureFixture) -> None:
    """paho-mqtt 2.2 may call ``on_disconnect`` twice for one connection the broker closed (its
    read and its write both fail): the second, coming while not connected, was said as "the
    broker hung up before accepting the connection", an attempt that never happened.  The
    callbacks are called here in the order paho called them in that run."""
    pub = MqttPublisher(MqttConfig(), environ={})
    client = pub.client  # the callbacks as paho has them, called as paho calls them
    if client.on_pre_connect is not None:
        client.on_pre_connect(client, None)
    client.on_connect(client, None, None, ReasonCode(PacketTypes.CONNACK, "Success"), None)
    lost = ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")
    with caplog.at_level(logging.DEBUG, logger="edge_alpr.delivery"):
        client.on_disconnect(client, None, None, lost, None)
        client.on_disconnect(client, None, None, lost, None)
    assert "hung up before accepting" not in caplog.text
    assert pub._outage.attempts == 0
