"""Events queued while the broker was away go out once the connection is back, not after the rest
of the delivery worker's backoff (a real mosquitto, stopped and started on its port).

Before: a publish that failed because the connection was down waited out the worker's backoff
(``mqtt.retry_initial_s`` doubling to ``retry_max_s``) even after paho had reconnected, so the
backlog of an outage reached the broker up to ``retry_max_s`` after the broker was back (measured:
8 s of the default 10 after a 40 s outage).  Here the backoff is 600 s: the events can only arrive
within the test's wait because the retry follows the connection.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from mosquitto import Broker, Subscriber
from waiting import wait_until

from edge_alpr.delivery.mqtt import MQTT_SINK, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.worker import DeliveryWorker

pytest_plugins = ["mosquitto"]

BACKOFF_S = 600.0  # far longer than the test waits for anything




def test_a_backlog_goes_out_when_the_broker_is_back_not_after_the_backoff(
        broker: Broker, subscriber: Subscriber, tmp_path: Path) -> None:
    cfg = MqttConfig.from_dict({"port": broker.port, "device_id": "dev1", "retry_initial_s": BACKOFF_S,
                                "retry_max_s": BACKOFF_S}, "test")
    stop = threading.Event()
    pub = MqttPublisher(cfg, stop=stop)
    box = Outbox(tmp_path / "outbox.sqlite")
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=BACKOFF_S, backoff_max_s=BACKOFF_S,
                            up=pub.up)
    pub.start()
    worker.start()
    try:
        assert pub.wait_connected(10)
        box.put(MQTT_SINK, {"id": "ev-0", "camera_id": "gate", "plate": "abc000"})
        subscriber.wait_for_ids("/plate", {"ev-0"}, 10)
        broker.stop()
        wait_until("disconnected", lambda: not pub.connected)
        box.put(MQTT_SINK, {"id": "ev-1", "camera_id": "gate", "plate": "abc001"})
        wait_until("failed once", lambda: worker.state.consecutive_failures >= 1)  # now in its 600 s backoff
        broker.start()
        got = subscriber.wait_for_ids("/plate", {"ev-0", "ev-1"}, 60)
        assert {g["id"] for g in got} == {"ev-0", "ev-1"}
        wait_until("acknowledged", lambda: box.stats()["pending"][MQTT_SINK] == 0)
    finally:
        stop.set()
        box.wake()
        worker.join(5)
        pub.stop()
        box.close()


def test_a_broker_that_hangs_gets_each_event_once_however_often_it_is_retried(
        broker: Broker, subscriber: Subscriber, tmp_path: Path) -> None:
    """A broker paused (SIGSTOP: hung, its connection still up) acknowledges nothing: the worker
    retries the event every ``publish_timeout_s`` plus its backoff.  paho keeps every copy it was
    given and sends them all again on reconnecting, so before, each retry added one: a broker
    hung for an hour got about 240 copies of the event (and paho's queue held them meanwhile).
    Now a retry waits for the copy paho still holds, and the broker gets the event once."""
    cfg = MqttConfig.from_dict({"port": broker.port, "device_id": "dev1", "publish_timeout_s": 0.3,
                                "retry_initial_s": 0.1, "retry_max_s": 0.1}, "test")
    stop = threading.Event()
    pub = MqttPublisher(cfg, stop=stop)
    box = Outbox(tmp_path / "outbox.sqlite")
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.1, backoff_max_s=0.1, up=pub.up)
    pub.start()
    worker.start()
    assert broker.proc is not None
    try:
        assert pub.wait_connected(10)
        os.kill(broker.proc.pid, signal.SIGSTOP)
        box.put(MQTT_SINK, {"id": "ev-0", "camera_id": "gate", "plate": "abc000"})
        wait_until("retried 5 times", lambda: worker.state.consecutive_failures >= 5)
        os.kill(broker.proc.pid, signal.SIGCONT)
        wait_until("acknowledged", lambda: box.stats()["pending"][MQTT_SINK] == 0)
        box.put(MQTT_SINK, {"id": "ev-1", "camera_id": "gate", "plate": "abc001"})
        got = subscriber.wait_for_ids("/plate", {"ev-1"}, 10)  # after every copy of ev-0 that was sent
        assert [g["id"] for g in got] == ["ev-0", "ev-1"]
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)
        stop.set()
        box.wake()
        worker.join(5)
        pub.stop()
        box.close()
