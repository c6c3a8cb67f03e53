"""Fault injection per worker kind: the worker restarts, the error is counted once with its
traceback and shows in ``/info/`` and the MQTT health message; a hung worker stops the pings.

Real parts throughout: the real recognizer, real OpenCV video sources, a real SQLite outbox,
the real API server over a socket, real mosquitto (tests/mosquitto.py) and a real unix datagram
socket as systemd's NOTIFY_SOCKET.  The faults are injected by wrapping one method of a real
part so that it raises once (a ``RuntimeError`` where a runtime or a library would, an
``sqlite3.OperationalError`` where a full disk would): nothing fails on cue by itself.
"""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mosquitto import Broker, Subscriber
from videos import sample_video
from waiting import wait_for

from edge_alpr import config as config_mod
from edge_alpr import service
from edge_alpr.delivery.outbox import Outbox, OutboxItem
from edge_alpr.delivery.worker import DeliveryWorker
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source
from edge_alpr.supervision import Supervisor

pytest_plugins = ["mosquitto"]




def once(fn: Callable[..., Any], error: Exception, on_call: int = 1) -> Callable[..., Any]:
    """``fn``, raising ``error`` instead on its ``on_call``-th call (only that one)."""
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == on_call:
            raise error
        return fn(*args, **kwargs)

    return wrapper


def tracebacks(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for r in caplog.records if r.exc_info and text in r.getMessage())


def test_camera_and_capture_restart_and_show_in_info_and_mqtt(
        tmp_path: Path, recognizer: Any, broker: Broker, subscriber: Subscriber,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    monkeypatch.setattr(recognizer, "recognize", once(recognizer.recognize, RuntimeError("tensor arena"), 3))
    monkeypatch.delenv("EDGE_ALPR_API_TOKEN", raising=False)
    video = sample_video(tmp_path / "v.avi", 40)
    cfg = config_mod.from_dict({
        "state_dir": str(tmp_path / "state"), "api": {"port": 0},
        "mqtt": {"port": broker.port, "device_id": "dev1"},
        "stream": {"cameras": [{"id": "gate", "motion": {"threshold": 0},
                                "source": {"kind": "video", "path": str(video), "realtime": True,
                                           "loop": True}}]}}, "<test>")
    real_open = open_source

    def open_faulty(camera: Any, stop: Any = None, state_dir: Any = None) -> Any:  # the capture's read fails once
        source = real_open(camera, stop, state_dir)
        source.read = once(source.read, RuntimeError("demuxer lost sync"), 5)  # type: ignore[method-assign]
        return source

    monkeypatch.setattr(service, "open_source", open_faulty)
    stop = threading.Event()
    svc = service.build(cfg, stop, recognizer=recognizer)
    try:
        loop = svc.cameras[0]
        assert wait_for(lambda: loop.crashes == 1 and loop.capture.crashes == 1 and
                        loop.stats.frames_processed >= 6, 30), (loop.describe(), loop.stats)
        assert loop.is_alive() and loop.capture.is_alive()
        assert "RuntimeError: tensor arena" in (loop.last_error or "")
        assert tracebacks(caplog, "camera-gate failed unexpectedly") == 1
        assert tracebacks(caplog, "capture-gate failed unexpectedly") == 1
        port = svc.api.server.port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/info/", timeout=10) as r:
            workers = {w["name"]: w for w in json.load(r)["workers"]}
        assert workers["camera-gate"]["crashes"] == 1 and workers["camera-gate"]["state"] == "running"
        assert workers["capture-gate"]["crashes"] == 1
        assert {"http", "delivery-mqtt"} <= set(workers)
        svc.refresh_status()
        assert wait_for(lambda: subscriber.on("dev1/health")[-1:] and
                        subscriber.on("dev1/health")[-1].get("crashes") == 2, 10), subscriber.on("dev1/health")
        assert svc.supervisor.stalled() == []
    finally:
        stop.set()
        svc.close()


def test_delivery_worker_survives_outbox_and_unexpected_errors(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    box = Outbox(tmp_path / "o.sqlite")
    box.peek = once(box.peek, sqlite3.OperationalError("disk I/O error"))  # type: ignore[method-assign]
    box.wait = once(box.wait, RuntimeError("unexpected"), 1)  # type: ignore[method-assign]
    sent: list[str] = []
    stop = threading.Event()

    def send(item: OutboxItem) -> None:
        sent.append(item.id)

    worker = DeliveryWorker(box, "s", send, stop, backoff_initial_s=0.05, idle_poll_s=0.05)
    worker.start()
    try:
        # the first peek fails (outbox error, retried), the first idle wait raises (restarted)
        assert wait_for(lambda: worker.crashes == 1 and worker.state.outbox_errors == 1, 10), worker.describe()
        ids = [box.put("s", {"n": i}) for i in range(3)]
        assert wait_for(lambda: sent == ids, 10), sent
        assert worker.is_alive() and worker.state.last_error is None
        assert tracebacks(caplog, "delivery-s failed unexpectedly") == 1
        assert sum("cannot read the outbox" in r.getMessage() for r in caplog.records) == 1
    finally:
        stop.set()
        worker.join(5)
        box.close()


def test_api_server_error_is_counted_and_it_keeps_serving(
        api_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    running = api_factory()
    server = running.runtime.server
    # one connection's processing fails inside cheroot's serve loop
    monkeypatch.setattr(server._server, "process_conn",
                        once(server._server.process_conn, RuntimeError("selector")))
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{running.url}/info/", timeout=2).close()
    with urllib.request.urlopen(f"{running.url}/info/", timeout=10) as r:
        workers = {w["name"]: w for w in json.load(r)["workers"]}
    assert workers["http"]["crashes"] == 1 and "RuntimeError: selector" in workers["http"]["last_error"]
    assert server.worker.is_alive()
    assert tracebacks(caplog, "RuntimeError: selector") == 1


def test_a_hung_camera_stops_the_watchdog_pings(tmp_path: Path) -> None:
    release = threading.Event()
    entered = threading.Event()

    def hangs(image: np.ndarray) -> list[Any]:
        entered.set()
        release.wait(30)  # a recognition stuck in a runtime
        return []

    cfg = StreamConfig.from_dict({"cameras": [{"id": "gate", "motion": {"threshold": 0}, "source": {
        "kind": "video", "path": str(sample_video(tmp_path / "v.avi", 40)), "loop": True}}]}, "t")
    cam = cfg.cameras[0]
    stop = threading.Event()
    loop = CameraLoop(cam, cfg.events, open_source(cam, stop), hangs, lambda e: None, stop,
                      recognition_deadline_s=0.5)
    supervisor = Supervisor()
    supervisor.watch(lambda: [loop, loop.capture])
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(0.2)
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify")}
    loop.start()
    try:
        assert entered.wait(10)
        assert service.pet_watchdog(supervisor, env) and notify.recv(64) == b"WATCHDOG=1"
        assert wait_for(lambda: supervisor.stalled() == ["camera-gate"], 5)
        assert not service.pet_watchdog(supervisor, env)
        with pytest.raises(TimeoutError):
            notify.recv(64)
        release.set()  # it gets going again: pings again
        assert wait_for(lambda: not supervisor.stalled(), 5)
        assert service.pet_watchdog(supervisor, env) and notify.recv(64) == b"WATCHDOG=1"
    finally:
        release.set()
        stop.set()
        loop.join(5)
        notify.close()
