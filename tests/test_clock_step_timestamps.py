"""``edge-alpr run`` at a gate that booted with a stale clock and no network: a live camera's
events wait in the outbox, then time sync steps the clock by weeks as the network comes up.
The events captured before the step reach MQTT, the webhook and the history at the real time.
A real RTSP camera on loopback with the real models, real mosquitto, a real HTTP receiver and
the real outbox and history files; only the wall clock's offset is injected
(``tests/stepped_clock.py``: the host's clock cannot be stepped by a test).

Before: every event captured before the step went out (MQTT ``timestamp``, ``first_seen``,
``last_seen``; the webhook's ``data.timestamp`` and ``data.filename``) and stayed in the history
(its order and searches by time) 30 days in the past, the stale clock's date.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from conftest import Receiver
from mosquitto import Broker, Subscriber
from rtsp_camera import SKIP_WITHOUT_SERVER, RtspCamera, sample_image
from waiting import wait_for

from edge_alpr.api.server import free_port
from edge_alpr.stream.sources import sample_dir

pytest_plugins = ["mosquitto"]
pytestmark = SKIP_WITHOUT_SERVER

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = sorted(json.loads((sample_dir() / "labels.json").read_text()))[0]
STALE_S = 30 * 86400.0  # the clock booted 30 days behind (fake-hwclock's last save)
NEAR_S = 300.0  # an event's real time is within the test's few minutes


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _queued(outbox: Path) -> dict[str, dict[str, Any]]:
    """The MQTT events waiting in the service's outbox, by id (read beside it: WAL)."""
    if not outbox.exists():
        return {}
    try:
        with closing(sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=5)) as db:
            rows = db.execute("SELECT payload FROM outbox WHERE sink = 'mqtt'").fetchall()
    except sqlite3.OperationalError:  # the file is there, its table not yet
        return {}
    return {p["id"]: p for p in (json.loads(r[0]) for r in rows)}


def test_events_captured_before_time_sync_go_out_and_stay_at_the_real_time(tmp_path: Path,
                                                                           receiver: Receiver) -> None:
    camera = RtspCamera(sample_image(tmp_path, SAMPLE), fps=5)
    camera.start()
    broker = Broker(tmp_path / "mosquitto")  # persistent: the subscriber's session outlives a stop
    broker.start()
    subscriber = Subscriber(broker.port)
    broker.stop()  # no network yet
    receiver.status = 503  # the webhook's receiver is out of reach too
    offset, state, port = tmp_path / "offset", tmp_path / "state", free_port()
    offset.write_text(str(-STALE_S))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(state), "api": {"port": port},
        "mqtt": {"port": broker.port, "device_id": "dev1", "retry_max_s": 0.5},
        "webhooks": {"targets": [receiver.url], "backoff_initial_s": 0.2, "backoff_max_s": 0.5},
        "stream": {"events": {"max_prediction_delay": 1, "memory_decay": 0},  # a car parked: an event a second
                   "cameras": [{"id": "gate", "max_fps": 2, "motion": {"threshold": 0},
                                "source": {"kind": "opencv", "url": camera.url, "read_timeout": 5}}]},
    }))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EDGE_ALPR_API_TOKEN", None)
    log = open(tmp_path / "service.log", "wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "stepped_clock.py"), str(offset), "run",
                             "--config", str(config)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)

    def logs() -> str:
        return (tmp_path / "service.log").read_text(errors="replace")

    try:
        assert wait_for(lambda: len(_queued(state / "outbox.sqlite")) >= 3, 120), logs()
        before = _queued(state / "outbox.sqlite")
        stale = [time.time() - _epoch(p["timestamp"]) for p in before.values()]
        assert all(abs(s - STALE_S) < NEAR_S for s in stale), stale  # captured at the stale date
        offset.write_text("0")  # time sync steps the clock 30 days forward
        wait_for(lambda: False, 1.5)
        broker.start()  # and the network is up
        receiver.status = 200
        got = {m["id"]: m for m in subscriber.wait_for_ids("/plate", set(before), 60)}
        assert set(before) <= set(got), logs()
        assert wait_for(lambda: set(before) <= {json.loads(r["body"])["data"]["id"] for r in receiver.requests}, 60)
        hooks = {d["id"]: d for d in (json.loads(r["body"])["data"] for r in receiver.requests)}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/events/?limit=500", timeout=10) as r:
            kept = {e["id"]: e for e in json.loads(r.read())["results"]}
        now = time.time()
        for event_id, queued in before.items():
            mqtt, hook, row = got[event_id], hooks[event_id], kept[event_id]
            times = {"mqtt timestamp": mqtt["timestamp"], "mqtt first_seen": mqtt["first_seen"],
                     "mqtt last_seen": mqtt["last_seen"], "webhook data.timestamp": hook["timestamp"],
                     "history timestamp": row["timestamp"], "history result.timestamp": row["result"]["timestamp"]}
            late = {what: round(now - _epoch(text)) for what, text in times.items()}
            print(f"event {event_id}: queued at {queued['timestamp']}, seconds before now as delivered: {late}")
            assert all(0 <= s < NEAR_S for s in late.values()), (late, queued)
            shift = _epoch(mqtt["timestamp"]) - _epoch(queued["timestamp"])
            assert abs(shift - STALE_S) < 10 and mqtt["clock_corrected_s"] == hook["clock_corrected_s"]
            assert abs(mqtt["clock_corrected_s"] - STALE_S) < 10, mqtt
            stamp = datetime.fromisoformat(mqtt["timestamp"].replace("Z", "+00:00"))
            assert hook["filename"] == f"gate_{stamp:%Y%m%dT%H%M%S}.{stamp.microsecond // 1000:03d}Z.jpg", hook
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - NEAR_S))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/events/?limit=500&since={since}", timeout=10) as r:
            found = {e["id"] for e in json.loads(r.read())["results"]}
        assert set(before) <= found  # a search by time finds them at their real time
        assert "are moved by it" in logs()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        log.close()
        subscriber.close()
        broker.stop()
        camera.kill()
