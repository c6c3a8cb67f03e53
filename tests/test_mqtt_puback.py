"""An MQTT 5 broker that refuses an event says so in the PUBACK's reason code (>= 0x80): the
event is a failure, kept in the outbox and retried with backoff, warned of once with the
broker's reason and the fix.  Before, paho's "published" was taken for delivered: an event the
broker's ACL forbids was acked in the outbox and lost.

A real mosquitto with a password file and an ACL file (0x87 Not authorized; and 0x10 No
matching subscribers, which is a success), and a raw MQTT 5 peer (``mqtt5_peer.py``) for the
codes mosquitto never sends (a hosted broker's quota, a plugin's refusal).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from mosquitto import Broker, Subscriber
from mqtt5_peer import RefusingBroker
from waiting import wait_for

from edge_alpr.delivery.mqtt import MQTT_SINK, MqttError, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.outbox import Outbox, OutboxItem
from edge_alpr.delivery.worker import DeliveryWorker

pytest_plugins = ["mosquitto"]
LOGGER = "edge_alpr.delivery"
EVENT = {"id": "ev-1", "camera_id": "gate", "plate": "abc123"}


def _acl_broker(workdir: Path) -> tuple[Broker, Path]:
    """A mosquitto where user ``cam`` (password ``pw123``) may publish only its status, health and
    usage topics, not its events, and anonymous clients may read everything; ``log_type all``:
    its log has each PUBACK's reason code."""
    b = Broker(workdir)
    pwfile, acl = b.dir / "passwd", b.dir / "acl"
    pwfile.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(pwfile), "cam", "pw123"], check=True)
    acl.write_text("topic read #\nuser cam\ntopic readwrite edge-alpr/dev1/+\n")
    b.conf.write_text(b.conf.read_text() + f"password_file {pwfile}\nacl_file {acl}\nlog_type all\n")
    return b, acl


def _pending(box: Outbox) -> int:
    return box.stats()["pending"].get(MQTT_SINK, 0)


def test_an_event_the_broker_s_acl_refuses_is_kept_retried_and_warned_of_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Measured before: mosquitto answered the event's PUBLISH with PUBACK rc135 (Not authorized)
    and dropped it, and the outbox acked it: lost.  The broker is down at first, so the
    connection's warning comes first; the refusal is warned of still, once."""
    b, acl = _acl_broker(tmp_path / "broker")
    box = Outbox(tmp_path / "outbox.sqlite")
    box.put(MQTT_SINK, EVENT)
    cfg = MqttConfig.from_dict({"host": "127.0.0.1", "port": b.port, "device_id": "dev1", "username": "cam",
                                "mqtt5": True, "retry_max_s": 0.5}, "t")
    pub = MqttPublisher(cfg, environ={"EDGE_ALPR_MQTT_PASSWORD": "pw123"})
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    stop = threading.Event()
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.1, backoff_max_s=0.3)
    pub.start()
    worker.start()
    watch = None
    try:
        assert wait_for(lambda: worker.state.consecutive_failures >= 1, 10), worker.state  # not connected
        b.start()
        assert wait_for(lambda: "PUBACK" in (worker.state.last_reason or "") or not _pending(box), 20)
        assert _pending(box) == 1, "the refused event is kept"
        tries = worker.state.consecutive_failures
        assert wait_for(lambda: worker.state.consecutive_failures >= tries + 2, 10), worker.state  # retried
        assert _pending(box) == 1 and "PUBACK 0x87 Not authorized" in (worker.state.last_reason or "")
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 2, warnings  # the connection's, then the refusal's: one each
        assert warnings[0].startswith(f"mqtt: cannot connect to broker 127.0.0.1:{b.port}: connection refused")
        refused = warnings[1]
        assert refused.startswith("delivery to mqtt failed: "), refused
        assert (f"broker 127.0.0.1:{b.port} refused event ev-1 on edge-alpr/dev1/gate/plate: "
                "PUBACK 0x87 Not authorized") in refused, refused
        assert ("the broker's ACL does not let user 'cam' publish to edge-alpr/dev1/gate/plate: add "
                "`topic write edge-alpr/dev1/#` for that user and reload the broker") in refused, refused
        # fixed as the warning says, and the broker's config reloaded: the event goes; nobody
        # subscribes to it, and "No matching subscribers" (0x10) is a delivery
        watch = Subscriber(b.port, topic="edge-alpr/dev1/status", client_id="status-watch")
        acl.write_text(acl.read_text() + "topic write edge-alpr/dev1/#\n")
        assert b.proc is not None
        os.kill(b.proc.pid, signal.SIGHUP)
        assert wait_for(lambda: not _pending(box), 15), worker.state
    finally:
        stop.set()
        box.wake()
        worker.join(5)
        pub.stop(timeout=0.5)
        if watch is not None:
            watch.close()
        b.stop()
        box.close()
    log = (b.dir / "mosquitto.log").read_text()
    assert "Denied PUBLISH from edge-alpr-dev1" in log and "rc135)" in log, log[-2000:]
    assert "rc16)" in log, "the last try was answered No matching subscribers"
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 2
    assert any("delivery to mqtt recovered after" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("code, name, fix", [
    (0x97, "Quota exceeded", "the broker's quota for this client is used up"),
    (0x99, "Payload format invalid", "the broker takes no payload of this format on that topic"),
    (0x90, "Topic name invalid", "check mqtt.topic_prefix, mqtt.device_id and the camera id"),
    (0x80, "Unspecified error", "check the broker's log"),
    (0x83, "Implementation specific error", "check the broker's log"),
])
def test_each_refusal_of_an_mqtt_5_broker_is_a_failure_that_names_it(code: int, name: str, fix: str) -> None:
    peer = RefusingBroker(code, reason="quota of 100 messages a day" if code == 0x97 else "")
    pub = MqttPublisher(MqttConfig.from_dict({"host": "127.0.0.1", "port": peer.port, "device_id": "dev1",
                                              "mqtt5": True}, "t"), environ={})
    pub.start()
    try:
        assert pub.wait_connected(10)
        with pytest.raises(MqttError) as refused:
            pub.send(OutboxItem(1, "ev-1", "mqtt", 0.0, 0, EVENT))
        said = str(refused.value)
        assert f"refused event ev-1 on edge-alpr/dev1/gate/plate: PUBACK {code:#04x} {name}" in said, said
        assert fix in said, said
        if code == 0x97:
            assert "(the broker says: quota of 100 messages a day)" in said, said
        peer.code = 0x10  # No matching subscribers: delivered
        pub.send(OutboxItem(2, "ev-2", "mqtt", 0.0, 0, {**EVENT, "id": "ev-2"}))
        assert [c for t, c in peer.acked if t.endswith("/plate")] == [code, 0x10]
    finally:
        pub.stop(timeout=0.5)
        peer.close()
