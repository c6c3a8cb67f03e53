"""The last line of ``edge-alpr run``'s log after a clean stop (SIGTERM) says that it stopped,
after how long, and what waits in the outbox for which sink, to be sent at the next start.

Before, the log ended at "mqtt: disconnected": nothing said that the service had stopped, nor
whether events were left behind.  Real parts: the ``edge-alpr run`` process, a real mosquitto
(with ``mqtt.max_message_bytes`` one event is set aside for it), a real HTTP receiver that
answers 503 (its events wait) and the real outbox, read back after the exit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr.delivery.mqtt import MQTT_SINK
from edge_alpr.delivery.outbox import Outbox

pytest_plugins = ["mosquitto"]
ROOT = Path(__file__).resolve().parent.parent
BIG = {"id": "big-1", "camera_id": "gate", "plate": "x" * 1000}  # over max_message_bytes 400


def _run(tmp_path: Path, cfg: dict[str, Any], ready: Callable[[str], bool]) -> tuple[list[str], float]:
    """``edge-alpr run`` until ``ready(its log)``, then SIGTERM: the log's lines and how long the
    process lived."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EDGE_ALPR_API_TOKEN", None)
    log_path = tmp_path / f"service-{len(list(tmp_path.glob('service-*.log'))) + 1}.log"  # one per run
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "run", "--config", str(tmp_path / "config.yaml")],
                                stdout=log, stderr=log, env=env)
        try:
            assert wait_for(lambda: ready(log_path.read_text(errors="replace")), 90), log_path.read_text()
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0, log_path.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    return [line for line in log_path.read_text().splitlines() if line.strip()], time.monotonic() - started


def test_the_log_ends_saying_what_waits_in_the_outbox_for_which_sink(tmp_path: Path, receiver: Any) -> None:
    broker = Broker(tmp_path / "mosquitto")
    broker.start()
    sub = Subscriber(broker.port)
    state = tmp_path / "state"
    down = receiver.url + "?token=s3cret"
    box = Outbox(state / "outbox.sqlite")  # what an earlier run left: the receiver is down
    box.put(MQTT_SINK, BIG)
    box.put(MQTT_SINK, {"id": "small-1", "camera_id": "gate", "plate": "ab12cde"})
    for n in range(3):
        box.put(f"webhook:{down}", {"hook": {"target": down, "id": 1, "event": "image.done"}, "data": {"id": f"w{n}"}})
    box.close()
    receiver.status = 503
    cfg: dict[str, Any] = {
        "state_dir": str(state), "api": {"enabled": False}, "stream": {"enabled": False},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "device_id": "dev1", "max_message_bytes": 400},
        "webhooks": {"targets": [down], "backoff_initial_s": 0.2, "backoff_max_s": 0.5}}
    try:
        lines, lived = _run(tmp_path, cfg, lambda log: "set aside" in log and len(sub.on("/plate")) == 1)
        assert [m["id"] for m in sub.on("/plate")] == ["small-1"]
        last = lines[-1]
        said = re.fullmatch(r".* INFO edge_alpr\.service: edge-alpr stopped after (\d+) s; (.*)", last)
        assert said is not None, "\n".join(lines[-5:])
        # the line rounds to whole seconds: a run of 0.6 s says 1 s, so compare rounded to rounded
        # (the service lived no longer than the process the test timed)
        assert int(said.group(1)) <= round(lived), (last, lived)
        assert said.group(2) == (f"4 event(s) wait in the outbox for: mqtt (1), webhook:{receiver.url}?token=*** (3); "
                                 "they are sent at the next start"), last
        box = Outbox(state / "outbox.sqlite")
        assert box.stats()["pending"] == {MQTT_SINK: 1, f"webhook:{down}": 3}  # as said
        box.close()

        # the next start, the receiver back and the broker's limit no longer set: everything goes
        receiver.status = 200
        cfg["mqtt"]["max_message_bytes"] = 0
        lines, _ = _run(tmp_path, cfg, lambda log: len(receiver.requests) == 3 and "big-1" in {
            m["id"] for m in sub.on("/plate")})  # then 0.5 s: acknowledged in the outbox a moment later
        assert re.fullmatch(r".* INFO edge_alpr\.service: edge-alpr stopped after \d+ s; nothing waits in the outbox",
                            lines[-1]), "\n".join(lines[-5:])
    finally:
        sub.close()
        broker.stop()
