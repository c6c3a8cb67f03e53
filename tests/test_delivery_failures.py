"""A delivery that fails is said in a few words an operator reads at a glance, with the exact
error kept beside it: the console's delivery table shows ``connection refused by
127.0.0.1:9``, not ``URLError: <urlopen error [Errno 111] Connection refused>``, which stays in
the cell's hover text, ``/info/`` and the log.

Real failures, nothing mocked: a port nobody listens on, a receiver answering 500, one that
never answers or hangs up, a name that does not resolve, an https server with a self-signed
certificate, and an MQTT broker that is not there.
"""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import Receiver, jpeg_bytes
from dated_cert import handshake_server
from waiting import wait_for

from edge_alpr.api.server import free_port
from edge_alpr.delivery import failures
from edge_alpr.delivery.mqtt import MQTT_SINK, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.worker import DeliveryWorker

SECRET = "hunter2-webhook-token"


def _failure(url: str, timeout: float = 5.0, context: ssl.SSLContext | None = None) -> BaseException:
    """What ``urlopen`` raises posting to ``url``, as a webhook's sender posts."""
    request = urllib.request.Request(url, data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(OSError) as raised:
        urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310
    return raised.value


def test_the_console_says_a_refused_webhook_in_words_and_keeps_the_exact_error(
        api_factory: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    caplog.set_level(logging.INFO, logger="edge_alpr")
    server = api_factory({"webhooks": {"targets": [f"http://127.0.0.1:{port}/hook?token={SECRET}"],
                                       "backoff_initial_s": 0.05, "backoff_max_s": 0.2}})
    assert requests.post(server.url + "/v1/plate-reader/", files={"upload": jpeg_bytes(64, 48)},
                         timeout=30).status_code == 201
    assert wait_for(lambda: requests.get(server.url + "/info/").json()["webhooks"][0]["consecutive_failures"] >= 1)
    hook = requests.get(server.url + "/info/").json()["webhooks"][0]
    assert hook["last_reason"] == f"connection refused by 127.0.0.1:{port}"
    assert hook["last_error"].startswith("URLError: <urlopen error [Errno 111]")
    health = requests.get(server.url + "/console/parts").json()["health"]
    cell = f'<td data-label="Last error" title="URLError: &lt;urlopen error [Errno 111] Connection refused&gt;">' \
           f"connection refused by 127.0.0.1:{port}</td>"
    assert cell in health, health
    page = requests.get(server.url + "/").text
    assert cell in page
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "failed" in r.getMessage()]
    assert any(f"failed: connection refused by 127.0.0.1:{port} (URLError: <urlopen error" in m for m in warned), warned
    for where, text in (("log", caplog.text), ("console", health + page), ("/info/", str(hook))):
        assert SECRET not in text, where


def test_an_http_status_a_silent_server_and_a_hang_up_each_in_a_few_words(receiver: Receiver) -> None:
    receiver.status = 500
    error = _failure(receiver.url)
    assert failures.kind(error) == failures.HTTP
    assert failures.sentence(error, "127.0.0.1", receiver.port) == \
        f"HTTP 500 (Internal Server Error) from 127.0.0.1:{receiver.port}"
    assert failures.sentence(error) == "HTTP 500 (Internal Server Error) from the server"

    with socket.socket() as silent, socket.socket() as rude:
        for s in (silent, rude):
            s.bind(("127.0.0.1", 0))
            s.listen(4)
        stop = threading.Event()

        def hang_up() -> None:  # takes each connection and closes it without a word
            while not stop.is_set():
                try:
                    conn, _ = rude.accept()
                except OSError:
                    return
                conn.recv(65536)
                conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        port = silent.getsockname()[1]
        error = _failure(f"http://127.0.0.1:{port}/hook", timeout=0.3)  # connected, never answered
        assert failures.sentence(error, "127.0.0.1", port, timeout_s=0.3) == "timed out after 0.3 s"
        port = rude.getsockname()[1]
        error = _failure(f"http://127.0.0.1:{port}/hook")
        closed = f"connection closed by 127.0.0.1:{port} before it answered"
        assert failures.sentence(error, "127.0.0.1", port) == closed
        stop.set()


def test_a_name_that_does_not_resolve() -> None:
    error = _failure("http://edge-alpr-hook.invalid/hook")
    assert failures.kind(error) == failures.NAME
    assert failures.sentence(error, "edge-alpr-hook.invalid", 80) == "name edge-alpr-hook.invalid not resolved"


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An https server on loopback with a self-signed certificate for ``hook.test`` only: its
    port, and its certificate (the CA to trust)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=hook.test",
                    "-addext", "subjectAltName=DNS:hook.test"], check=True, capture_output=True)
    with handshake_server(cert, key) as port:  # the handshake is all a client gets
        yield port, cert


def test_tls_certificates_in_a_few_words(https_server: tuple[int, Path]) -> None:
    port, cert = https_server
    error = _failure(f"https://127.0.0.1:{port}/hook")  # the system's CAs: self-signed is not trusted
    assert failures.sentence(error, "127.0.0.1", port) == "TLS certificate not trusted"
    trusting = ssl.create_default_context(cafile=str(cert))
    error = _failure(f"https://127.0.0.1:{port}/hook", context=trusting)  # trusted, for another name
    assert failures.sentence(error, "127.0.0.1", port) == "TLS certificate does not name 127.0.0.1"
    assert "SSLCertVerificationError" in failures.detail(failures.cause(error))


def test_an_mqtt_broker_that_is_not_there_reads_without_the_exception_class(tmp_path: Path) -> None:
    port = free_port()
    pub = MqttPublisher(MqttConfig.from_dict({"device_id": "dev1", "host": "127.0.0.1", "port": port,
                                              "retry_max_s": 0.5}, "t"), environ={})
    box = Outbox(tmp_path / "outbox.sqlite")
    stop = threading.Event()
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.05, backoff_max_s=0.1)
    pub.start()
    box.put(MQTT_SINK, {"id": "e", "camera_id": "gate"})
    worker.start()
    try:
        expected = f"not connected to broker 127.0.0.1:{port}: connection refused (nothing listens on that port)"
        assert wait_for(lambda: worker.state.last_reason == expected, 15), worker.state
        assert worker.state.last_error == f"MqttNotConnected: {expected}"
    finally:
        stop.set()
        worker.join(5)
        pub.stop(timeout=0.2)
        box.close()
