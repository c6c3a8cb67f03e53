"""Start failures, shutdown, retained MQTT state and webhook event ids, with real parts.

Real ``edge-alpr run`` processes, a real mosquitto (tests/mosquitto.py), the real API server and
a real HTTP receiver (tests/conftest.py).  The one injected fault is a camera that fails to
start after MQTT connected (no real camera fails on cue).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr import config as config_mod
from edge_alpr.api.server import free_port
from edge_alpr.cli import EXIT_CONFIG
from edge_alpr.delivery.mqtt import MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.webhooks import Webhooks
from edge_alpr.delivery.webhooks_config import WebhooksConfig, WebhookTarget
from edge_alpr.errors import CameraError

pytest_plugins = ["mosquitto"]

ROOT = Path(__file__).resolve().parent.parent


def retained(port: int, topic: str, wait_s: float = 1.5) -> list[str]:
    """What a new client is handed on ``topic`` (the retained messages, if any)."""
    sub = Subscriber(port, topic, client_id=f"probe-{time.monotonic_ns()}")
    try:
        time.sleep(wait_s)
        return sub.texts(topic.rsplit("+", 1)[-1])
    finally:
        sub.close()


def _video(path: Path, frames: int = 5) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for _ in range(frames):
        writer.write(np.full((120, 160, 3), 90, np.uint8))
    writer.release()
    return path


def _run_config(tmp: Path, mqtt_port: int, **camera: Any) -> dict[str, Any]:
    return {
        "state_dir": str(tmp / "state"),
        "api": {"port": free_port()},
        "mqtt": {"port": mqtt_port, "device_id": "dev1", "retry_max_s": 0.5},
        "stream": {"cameras": [{"id": "gate", "source": {"kind": "video",
                                                          "path": str(_video(tmp / "v.avi"))},
                                **camera}]},
    }


def _stop_hard(proc: subprocess.Popen[bytes]) -> bool:
    """SIGTERM, then SIGKILL after 3 s; True if SIGTERM alone ended it."""
    if proc.poll() is not None:
        return True
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(3)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return False


# -- 7 / 7d: a failed start stops everything and exits -------------------------------------------

def test_bad_camera_region_exits_non_zero_promptly_not_online(tmp_path: Path, broker: Broker) -> None:
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(_run_config(tmp_path, broker.port, regions=["zz"])))
    log = open(tmp_path / "run.log", "wb")  # closed below
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "run", "--config", str(cfg_path)],
                            stdout=log, stderr=log, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        rc = proc.wait(30)
    except subprocess.TimeoutExpired:
        rc = None
    finally:
        stopped_by_sigterm = _stop_hard(proc)
        log.close()
    out = (tmp_path / "run.log").read_text(errors="replace")
    assert rc == EXIT_CONFIG, f"still running 30 s after a bad config (SIGTERM ended it: {stopped_by_sigterm}):\n{out}"
    assert "'zz'" in out and "regions" in out and "Traceback" not in out
    assert retained(broker.port, "edge-alpr/dev1/status")[-1:] != ["online"]


def test_failure_after_mqtt_connected_stops_every_part_and_says_offline(
        tmp_path: Path, broker: Broker, subscriber: Subscriber, recognizer: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_alpr import service
    from edge_alpr.stream.loop import CameraLoop

    class BrokenCamera(CameraLoop):
        def start(self) -> None:  # fails once the service is visibly online
            assert subscriber.wait_for_text("dev1/status", "online", 10)[-1:] == ["online"]
            raise CameraError("camera gate: device vanished while starting")

    monkeypatch.setattr(service, "CameraLoop", BrokenCamera)
    monkeypatch.delenv("EDGE_ALPR_API_TOKEN", raising=False)
    obj = _run_config(tmp_path, broker.port)
    obj["api"]["host"] = "127.0.0.1"
    obj["webhooks"] = {"targets": ["http://127.0.0.1:9/never"]}
    cfg = config_mod.from_dict(obj, "<test>")
    before = set(threading.enumerate())
    stop = threading.Event()
    with pytest.raises(CameraError, match="vanished"):
        service.build(cfg, stop, recognizer=recognizer)
    assert wait_for(lambda: not [t for t in threading.enumerate()
                                 if t not in before and t.is_alive()], 3), \
        [t.name for t in threading.enumerate() if t not in before]
    assert stop.is_set()
    assert subscriber.wait_for_text("dev1/status", "offline", 5)[-1] == "offline"
    assert subscriber.on("dev1/health")[-1]["state"] == "offline"
    # the state files were closed: a new outbox on the same file works at once
    box = Outbox(tmp_path / "state" / "outbox.sqlite")
    box.put("x", {})
    box.close()


def _sigterm_seconds(script: Path, body: str, settle_s: float = 0.0) -> float:
    """Run ``body`` (a script that prints ``ready``), SIGTERM it ``settle_s`` after, and return
    how long it took to end (fails if it did not end within 5 s)."""
    script.write_text(textwrap.dedent(body))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(settle_s)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - started
        assert proc.poll() is not None, f"SIGTERM did not end {script.name}"
        return took
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_sigterm_ends_the_process_within_2_s_even_if_a_thread_hangs(tmp_path: Path) -> None:
    took = _sigterm_seconds(tmp_path / "hang.py", """
        import threading
        from edge_alpr.lifecycle import stop_on_signals

        stop = stop_on_signals()
        threading.Thread(target=threading.Event().wait, name="stuck").start()  # never ends
        print("ready", flush=True)
        stop.wait()
    """)
    assert took < 2.0, f"SIGTERM took {took:.2f} s"


def test_sigterm_ends_the_process_within_2_s_even_if_its_log_cannot_be_written(tmp_path: Path) -> None:
    """stderr a pipe nobody reads (a stuck journal, a parent that stopped reading): once it is
    full every log line blocks.  The stop must not wait for the log, nor the forced exit."""
    took = _sigterm_seconds(tmp_path / "full_log.py", """
        import logging, sys, threading
        from edge_alpr.lifecycle import stop_on_signals

        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        stop = stop_on_signals()
        threading.Thread(target=threading.Event().wait, name="stuck").start()  # never ends
        def chatter():
            while True:
                logging.getLogger("chatter").info("x" * 1000)  # blocks once the pipe is full
        threading.Thread(target=chatter, name="chatter", daemon=True).start()
        print("ready", flush=True)
        stop.wait()
    """, settle_s=0.5)  # the 64 kB pipe is full by then: the chatter thread blocks holding the log's lock
    assert took < 2.5, f"SIGTERM took {took:.2f} s"


def test_stop_before_the_broker_answered_leaves_no_online(broker: Broker) -> None:
    for i in range(10):
        pub = MqttPublisher(MqttConfig.from_dict({"port": broker.port, "device_id": f"race{i}"}, "t"))
        pub.start()
        time.sleep(0.002 * i)
        pub.stop(timeout=0.5)
    for i in range(10):
        assert retained(broker.port, f"edge-alpr/race{i}/status", 0.3)[-1:] != ["online"], i


# -- 7e: retained state comes back after a broker restart without persistence ---------------------

def test_retained_usage_and_status_are_republished_after_a_broker_restart(tmp_path: Path) -> None:
    b = Broker(tmp_path / "volatile")
    b.conf.write_text(b.conf.read_text().replace("persistence true", "persistence false"))
    b.start()
    cfg = MqttConfig.from_dict({"port": b.port, "device_id": "dev1", "ha_discovery": True}, "t")
    pub = MqttPublisher(cfg, camera_ids=("gate",))
    try:
        pub.start()
        assert pub.wait_connected(10)
        counters = {"calls": 3, "max_calls": 0, "lifetime_calls": 9, "resets_on": "x", "dropped": 0}
        pub.set_status(dropped=0, pending=2)
        pub.publish_usage(counters)
        assert json.loads(retained(b.port, "edge-alpr/dev1/usage")[-1])["lifetime_calls"] == 9
        b.stop()  # no persistence: every retained message is gone
        b.start()
        assert wait_for(lambda: pub.connected, 15)
        pub.set_status(dropped=0, pending=2)  # what the service's tick does: nothing changed
        pub.publish_usage(counters)
        assert [json.loads(u)["lifetime_calls"] for u in retained(b.port, "edge-alpr/dev1/usage")] == [9]
        assert retained(b.port, "edge-alpr/dev1/status") == ["online"]
        health = [json.loads(h) for h in retained(b.port, "edge-alpr/dev1/health")]
        assert health and health[-1]["pending"] == 2 and health[-1]["state"] == "online"
        assert retained(b.port, "homeassistant/sensor/+/config")
    finally:
        pub.stop()
        b.stop()


# -- 7b: the event id header is the event's id, across retries and restarts ----------------------

def test_event_id_header_is_the_event_id_across_retries_and_restarts(tmp_path: Path,
                                                                     receiver: Any) -> None:
    cfg = WebhooksConfig(targets=(WebhookTarget(receiver.url, id=1),), backoff_initial_s=0.05,
                         backoff_max_s=0.1)
    event = {"results": [], "camera_id": "gate", "id": "0b5e3c4e-ev-1"}
    receiver.status = 503  # first tries fail: the same event is retried
    stop = threading.Event()
    first = Webhooks(cfg, Outbox(tmp_path / "o.sqlite"), stop)
    first.start()
    first.publish(event)
    assert wait_for(lambda: first.status()[0]["consecutive_failures"] >= 2)
    receiver.status = 200
    assert wait_for(lambda: len(receiver.requests) == 1)
    stop.set()
    first.join(2)
    first.outbox.close()
    # after a restart the camera re-detects the same passage: the same event id comes again
    stop2 = threading.Event()
    second = Webhooks(cfg, Outbox(tmp_path / "o.sqlite"), stop2)
    second.start()
    try:
        second.publish(event)
        assert wait_for(lambda: len(receiver.requests) == 2)
    finally:
        stop2.set()
        second.join(2)
        second.outbox.close()
    assert [r["headers"]["X-Edge-Alpr-Event-Id"] for r in receiver.requests] == [event["id"]] * 2
    assert [json.loads(r["body"])["data"]["id"] for r in receiver.requests] == [event["id"]] * 2


# -- 7f: a disabled target keeps queuing, within the outbox bounds --------------------------------

def test_disabled_target_keeps_queuing_within_bounds_and_a_restart_delivers(
        tmp_path: Path, receiver: Any) -> None:
    cfg = WebhooksConfig(targets=(WebhookTarget(receiver.url),), backoff_initial_s=0.01,
                         backoff_max_s=0.02, max_failures=2)
    receiver.status = 500
    stop = threading.Event()
    first = Webhooks(cfg, Outbox(tmp_path / "o.sqlite", max_rows=4), stop)
    first.start()
    first.publish({"n": 0})
    assert wait_for(lambda: first.status()[0]["state"] == "disabled")
    for n in range(1, 6):  # while disabled: queued, and the oldest dropped past max_rows
        first.publish({"n": n})
    hook = first.status()[0]
    assert hook["pending"] == 4 and hook["dropped"] == 2, hook
    stop.set()
    first.join(2)
    first.outbox.close()
    receiver.status = 200
    stop2 = threading.Event()
    second = Webhooks(cfg, Outbox(tmp_path / "o.sqlite", max_rows=4), stop2)
    second.start()
    try:
        assert wait_for(lambda: len(receiver.requests) == 4)
    finally:
        stop2.set()
        second.join(2)
        second.outbox.close()
    assert [json.loads(r["body"])["data"]["n"] for r in receiver.requests] == [2, 3, 4, 5]
