"""pytest fixtures: a real mosquitto broker on a free loopback port, and a subscriber.

Use with ``pytest_plugins = ["tests.mosquitto"]`` (or import the fixtures).  The broker is
``scripts/mosquitto.py``'s (its own temp dir and config, persistent), skipping the test where
mosquitto is not installed (``apt-get install mosquitto``; ``make install`` does it).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from scripts import mosquitto


class Broker(mosquitto.Broker):
    """A persistent mosquitto that can be stopped and restarted on the same port."""

    def start(self) -> None:
        if not mosquitto.installed():
            pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
        super().start()


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
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

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
