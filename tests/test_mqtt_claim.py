"""One ``run`` per MQTT identity on a machine (``delivery/mqtt_claim.py``).

Real processes and a real mosquitto throughout.  The admin's mistake: a second ``edge-alpr run``
started beside the running one with another config and so another state folder (the state
lock does not see it), both on one broker under the default device id.  Before the claim both
started; the broker then took the connection from one for the other every 2 s, each cleared
the other's retained camera health at every reconnect and ``status`` flapped between them.
Now the second exits 1 before it connects, naming the first and the fix; with its own
``mqtt.device_id`` it runs beside the first, and a first one killed with SIGKILL leaves nothing
that stops the next.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from mosquitto import Broker, Subscriber
from test_cli_server import ROOT
from test_state_lock import holder, refused, serving, write_config

from edge_alpr.api.server import free_port
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.mqtt_connect import device_id

pytest_plugins = ["mosquitto"]


def config(tmp_path: Path, name: str, port: int, mqtt: str = "") -> Path:
    """A config of its own state folder and no camera, on the broker at ``port``."""
    return write_config(tmp_path / f"{name}.yaml", f"state_dir: {tmp_path / name}\nstream: {{enabled: false}}\n"
                        f"mqtt: {{host: localhost, port: {port}{mqtt}}}\n")


def start_run(cfg: Path) -> tuple[subprocess.Popen[str], list[str], int]:
    port = free_port()
    argv = ["run", "--config", str(cfg), "--port", str(port)]
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", *argv], cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, argv, port


def stopped_cleanly(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    return stderr


def test_a_second_run_on_the_same_identity_exits_1_naming_the_first(tmp_path: Path, broker: Broker,
                                                                    subscriber: Subscriber) -> None:
    """Refused while the first runs; its own device id runs beside it; SIGKILL leaves nothing behind."""
    device = device_id(MqttConfig())  # the default: the host name
    first, argv, port = start_run(config(tmp_path, "first", broker.port))
    try:
        assert subscriber.wait_for_text(f"{device}/status", "online", 120)[-1:] == ["online"]
        second = config(tmp_path, "second", broker.port)
        lines = refused("run", "--config", str(second), "--port", str(free_port()))
        assert lines == [f"edge-alpr: error: mqtt: {holder(first, *argv)} already publishes to broker "
                         f"localhost:{broker.port} under client id 'edge-alpr-{device}': two would take the "
                         "connection from each other every few seconds and clear each other's retained camera "
                         f"health; stop it, or give this one its own mqtt.device_id in {second}"]
        assert serving(port) and first.poll() is None
        assert subscriber.texts(f"{device}/status") == ["online"], "the broker saw a second client with the same id"
        beside, _, _ = start_run(config(tmp_path, "beside", broker.port, ", device_id: south"))
        try:
            assert subscriber.wait_for_text("south/status", "online", 120)
        finally:
            assert " WARNING " not in stopped_cleanly(beside)
    finally:
        first.kill()
        first.wait()
    assert subscriber.wait_for_text(f"{device}/status", "offline", 60)  # the broker's will
    again, _, _ = start_run(second)
    try:
        assert subscriber.wait_for_text(f"{device}/status", "online", 120)[-2:] == ["offline", "online"]
    finally:
        assert " WARNING " not in stopped_cleanly(again)
