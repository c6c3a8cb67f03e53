"""pytest fixtures: a real mosquitto broker on a free loopback port, and a subscriber.

Use with ``pytest_plugins = ["tests.mosquitto"]`` (or import the fixtures).  The broker runs
from a temp dir with its own config; Debian's mosquitto drops privileges to the ``mosquitto``
user when started as root, so the config says ``user root`` there and the dir is world
writable.  Install with ``apt-get install mosquitto`` (``make install`` does it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A mosquitto process that can be stopped and restarted on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.conf = self.dir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence true",
                 f"persistence_location {self.dir}/", f"log_dest file {self.dir}/mosquitto.log",
                 "autosave_interval 1"]
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not os.path.exists(MOSQUITTO):
            pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class Subscriber:
    """Collects every message on ``topic`` (persistent session, QoS 1) for assertions."""

    def __init__(self, port: int, topic: str = "#", client_id: str = "test-subscriber") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        self.connected = threading.Event()
        self.client.on_subscribe = lambda *a: self.connected.set()
        self.client.reconnect_delay_set(1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connected.wait(10), "subscriber could not subscribe"

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def on(self, suffix: str) -> list[Any]:
        """Decoded JSON payloads of topics ending with ``suffix``."""
        with self.lock:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith(suffix)]

    def texts(self, suffix: str) -> list[str]:
        """Plain-text payloads (such as the ``online``/``offline`` status) of matching topics."""
        with self.lock:
            return [p.decode() for t, p, _ in self.messages if t.endswith(suffix)]

    def wait_for(self, suffix: str, count: int, timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.on(suffix)) < count:
            time.sleep(0.05)
        return self.on(suffix)

    def wait_for_ids(self, suffix: str, ids: set[str], timeout: float) -> list[Any]:
        """Wait until every id in ``ids`` has arrived (QoS 1 may also repeat some); all payloads."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not ids <= {m.get("id") for m in self.on(suffix)}:
            time.sleep(0.05)
        return self.on(suffix)

    def wait_for_text(self, suffix: str, text: str, timeout: float) -> list[str]:
        """Wait until the latest payload on ``suffix`` is ``text``; return all of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.texts(suffix)[-1:] != [text]:
            time.sleep(0.05)
        return self.texts(suffix)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "mosquitto")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def subscriber(broker: Broker) -> Iterator[Subscriber]:
    s = Subscriber(broker.port)
    yield s
    s.close()
