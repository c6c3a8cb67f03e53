"""Why the publisher cannot reach its broker, said once per outage with the fix: a name that
does not resolve, a port nobody listens on, a refused login, TLS against a plain port, an
untrusted or misnamed certificate, a plain client at a TLS port.

Real brokers (tests/mosquitto.py, with a password file or a TLS listener made here with openssl),
real name lookups and refused ports; nothing is mocked.
"""

from __future__ import annotations

import logging
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mosquitto import Broker

from edge_alpr.api.server import free_port
from edge_alpr.delivery.mqtt import FIRST_CONNECT_S, MqttError, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.outbox import OutboxItem

pytest_plugins = ["mosquitto"]
LOGGER = "edge_alpr.delivery.mqtt"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


def _outage(caplog: pytest.LogCaptureFixture, attempts_s: float = 2.5, environ: dict[str, str] | None = None,
            **cfg: object) -> tuple[str, str]:
    """Run a publisher that cannot connect for a few attempts: its one warning, and the error a
    publish gets meanwhile."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    pub = MqttPublisher(MqttConfig.from_dict({"device_id": "dev1", "retry_max_s": 0.5, **cfg}, "t"),
                        environ=environ or {})
    pub.start()
    try:
        time.sleep(attempts_s)  # reconnecting every second: several attempts
        assert not pub.connected
        with pytest.raises(MqttError) as error:
            pub.send(OutboxItem(1, "e", "mqtt", 0.0, 0, {"id": "e", "camera_id": "gate"}))
    finally:
        pub.stop(timeout=0.2)
    retries = [r for r in caplog.records if r.name == LOGGER and "still not connected" in r.getMessage()]
    assert retries and all(r.levelno == logging.DEBUG for r in retries), "the retries are quiet"
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    return warnings[0], str(error.value)


def test_a_name_that_does_not_resolve(caplog: pytest.LogCaptureFixture) -> None:
    warning, error = _outage(caplog, host="brokr.invalid")
    assert warning.startswith("mqtt: cannot connect to broker brokr.invalid:1883: name lookup of "
                              "'brokr.invalid' failed ("), warning
    assert "check mqtt.host" in warning
    assert error.startswith("not connected to broker brokr.invalid:1883: name lookup of 'brokr.invalid' failed")


def test_nothing_listening(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    warning, error = _outage(caplog, host="127.0.0.1", port=port)
    assert f"broker 127.0.0.1:{port}: connection refused" in warning
    assert "start the broker, or set mqtt.host and mqtt.port" in warning
    assert error == f"not connected to broker 127.0.0.1:{port}: connection refused (nothing listens on that port)"


def test_a_listener_that_never_answers_the_login(caplog: pytest.LogCaptureFixture) -> None:
    """A port that takes connections and says nothing (a hung broker, another service): paho
    gives up after 1.5 keep-alives; said as no answer, not as a broker that hung up."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with socket.create_server(("127.0.0.1", 0), backlog=16) as silent:  # never accepts: the kernel does
        port = silent.getsockname()[1]
        pub = MqttPublisher(MqttConfig.from_dict({"host": "127.0.0.1", "port": port, "device_id": "dev1",
                                                  "keepalive": 5, "retry_max_s": 0.5}, "t"), environ={})
        pub.start()
        try:
            deadline = time.monotonic() + 20
            while not _warnings(caplog):
                assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
                time.sleep(0.1)
        finally:
            pub.stop(timeout=0.2)
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert f"cannot connect to broker 127.0.0.1:{port}: no answer to the login within 7.5 s" in warnings[0], warnings
    assert "hung up" not in warnings[0] and f"port {port} is the broker's MQTT listener" in warnings[0]


def test_tls_against_a_plain_port(caplog: pytest.LogCaptureFixture, broker: Broker) -> None:
    warning, error = _outage(caplog, host="127.0.0.1", port=broker.port, tls=True)
    assert "TLS handshake failed" in warning and "mqtt.tls: false" in warning, warning
    assert "TLS handshake failed" in error


def test_a_refused_login(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    if not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    b = Broker(tmp_path / "authbroker")
    pwfile = b.dir / "passwd"
    pwfile.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(pwfile), "cam", "pw123"], check=True)
    b.conf.write_text(b.conf.read_text().replace("allow_anonymous true",
                                                 f"allow_anonymous false\npassword_file {pwfile}"))
    b.start()
    try:
        warning, error = _outage(caplog, host="127.0.0.1", port=b.port, username="cam",
                                 environ={"EDGE_ALPR_MQTT_PASSWORD": "wrong"})
        assert f"broker 127.0.0.1:{b.port}: refused: " in warning and "(user 'cam')" in warning, warning
        assert "$EDGE_ALPR_MQTT_PASSWORD" in warning and "mqtt_password" in warning
        assert error.startswith(f"not connected to broker 127.0.0.1:{b.port}: refused: ")
        caplog.clear()
        warning, _ = _outage(caplog, host="127.0.0.1", port=b.port, client_id="anonymous")
        assert "the broker wants a login" in warning and "set mqtt.username" in warning, warning
    finally:
        b.stop()


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    """A mosquitto whose one listener is TLS, with a self-signed certificate for the name
    ``broker.test`` (and no IP address): its certificate file is the CA to trust."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    b = Broker(tmp_path / "tlsbroker")
    cert, key = b.dir / "cert.pem", b.dir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=broker.test",
                    "-addext", "subjectAltName=DNS:broker.test"], check=True, capture_output=True)
    key.chmod(0o644)
    b.conf.write_text(b.conf.read_text().replace(
        f"listener {b.port} 127.0.0.1", f"listener {b.port} 127.0.0.1\ncertfile {cert}\nkeyfile {key}"))
    b.start()
    yield b, cert
    b.stop()


def test_tls_certificates_and_a_plain_client_at_a_tls_port(caplog: pytest.LogCaptureFixture,
                                                           tls_broker: tuple[Broker, Path]) -> None:
    b, cert = tls_broker
    warning, _ = _outage(caplog, host="127.0.0.1", port=b.port, tls=True)
    assert "TLS: the broker's certificate is not trusted" in warning and "set mqtt.tls_ca" in warning, warning
    caplog.clear()
    warning, _ = _outage(caplog, host="127.0.0.1", port=b.port, tls=True, tls_ca=str(cert))
    assert "certificate does not name '127.0.0.1'" in warning and "mqtt.tls_insecure: true" in warning, warning
    caplog.clear()
    warning, error = _outage(caplog, host="127.0.0.1", port=b.port)
    assert "hung up before accepting the connection" in warning and "set mqtt.tls: true" in warning, warning
    assert "hung up" in error


def test_a_lost_connection_is_one_warning_with_its_reason_and_one_line_when_back(
        caplog: pytest.LogCaptureFixture, broker: Broker) -> None:
    """The broker goes away and reconnecting fails: one warning naming why, like a camera's
    outage, then one info line with how long it lasted when the broker is back."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    pub = MqttPublisher(MqttConfig.from_dict({"host": "127.0.0.1", "port": broker.port, "device_id": "dev1",
                                              "retry_max_s": 0.5}, "t"), environ={})
    pub.start()
    try:
        assert pub.wait_connected(10)
        caplog.clear()
        broker.stop()
        deadline = time.monotonic() + 15
        while len([r for r in caplog.records if "still not connected" in r.getMessage()]) < 2:
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.1)
        warnings = _warnings(caplog)
        assert len(warnings) == 1, warnings
        assert warnings[0].startswith(f"mqtt: lost the connection to broker 127.0.0.1:{broker.port} ("), warnings
        assert "cannot reconnect: connection refused" in warnings[0] and "start the broker" in warnings[0]
        with pytest.raises(MqttError, match="connection refused"):
            pub.send(OutboxItem(1, "e", "mqtt", 0.0, 0, {"id": "e", "camera_id": "gate"}))
        broker.start()
        assert pub.wait_connected(15)
    finally:
        pub.stop(timeout=0.5)
    back = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.INFO
            and "connected to" in r.getMessage()]
    assert len(back) == 1 and back[0].startswith(f"mqtt: reconnected to 127.0.0.1:{broker.port} as dev1 after "), back
    assert re.search(r"after \d+\.\d s without a connection \(lost: .+; \d+ failed attempt\(s\)\)$", back[0]), back
    assert len(_warnings(caplog)) == 1, _warnings(caplog)


@pytest.mark.parametrize("devices, client_id, named, fix", [
    (("dev1", "dev2"), "gate-reader", "same client id 'gate-reader'", "set mqtt.client_id"),
    # two machines given one device id: the default client id is made from it, and giving each its
    # own client id (what the warning said before) left both on one set of topics
    (("gate", "gate"), "", "same mqtt.device_id 'gate' (the client id 'edge-alpr-gate' is made from it",
     "give each device its own mqtt.device_id"),
])
def test_a_connection_taken_over_by_a_client_with_the_same_id_is_warned_of_once(
        caplog: pytest.LogCaptureFixture, broker: Broker, devices: tuple[str, str], client_id: str, named: str,
        fix: str) -> None:
    """Two devices configured with one client id take the connection from each other about once a
    second, each reconnecting at the first try: one warning each naming the likely causes and the
    setting, then quiet (the reconnections at debug level), not an info line a second forever."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    pubs = [MqttPublisher(MqttConfig.from_dict({"host": "127.0.0.1", "port": broker.port, "device_id": device,
                                                "client_id": client_id, "retry_max_s": 0.5}, "t"), environ={})
            for device in devices]
    for pub in pubs:
        pub.start()
    try:
        deadline = time.monotonic() + 20
        while len(_warnings(caplog)) < 2:
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.1)
        warned = len(caplog.records)
        time.sleep(4.0)  # still taking it from each other
        later = caplog.records[warned:]
        assert len([r for r in later if "connected to" in r.getMessage()]) >= 2, "still reconnecting"
        warnings = _warnings(caplog)  # before stopping: a busy host may add a stop's own warning
    finally:
        for pub in pubs:
            pub.stop(timeout=0.5)
    assert len(warnings) == 2, warnings  # one per publisher
    for w in warnings:
        assert f"mqtt: the connection to broker 127.0.0.1:{broker.port} dropped 3 times within 60 s" in w, w
        assert named in w and fix in w and "mqtt.keepalive" in w, w
        assert client_id or "set mqtt.client_id" not in w, w
    assert not [r for r in later if r.levelno >= logging.INFO and "connected to" in r.getMessage()]


def test_a_stop_in_the_first_seconds_ends_the_wait_for_the_first_connection() -> None:
    """Ctrl-C right after `edge-alpr run` starts, with no broker: the delivery worker was waiting
    (FIRST_CONNECT_S) for the first connection before calling the event undelivered, and the
    shutdown waited for it until the forced exit ("still running 1.8 s after signal 2").  The
    stop ends that wait at once: the event stays queued, "not connected"."""
    stop = threading.Event()
    pub = MqttPublisher(MqttConfig.from_dict({"host": "127.0.0.1", "port": free_port(), "device_id": "dev1"}, "t"),
                        environ={}, stop=stop)
    pub.start()
    errors: list[BaseException] = []

    def send() -> None:
        try:
            pub.send(OutboxItem(1, "e", "mqtt", 0.0, 0, {"id": "e", "camera_id": "gate"}))
        except MqttError as e:
            errors.append(e)

    sender = threading.Thread(target=send, daemon=True)
    try:
        sender.start()
        time.sleep(0.3)
        assert sender.is_alive(), "waiting for the first connection"
        stopped = time.monotonic()
        stop.set()
        sender.join(FIRST_CONNECT_S)
        took = time.monotonic() - stopped
    finally:
        pub.stop(timeout=0.2)
    assert not sender.is_alive() and took < 0.5, f"send returned {took:.2f} s after the stop"
    assert len(errors) == 1 and "not connected" in str(errors[0]), errors


def test_localhost_that_does_not_resolve_is_told_where_it_is_missing() -> None:
    """The default broker is ``localhost``, which only /etc/hosts names: a minimal root
    (debootstrap, some containers) has none, and "check its spelling and this machine's DNS" sent
    a first user the wrong way.  The lookup error is a real one (a name reserved never to resolve)."""
    from edge_alpr.delivery.mqtt_connect import why_failed

    with pytest.raises(socket.gaierror) as lookup:
        socket.getaddrinfo("broker.invalid", 1883)
    for host in ("localhost", "LocalHost."):
        why = why_failed(lookup.value, MqttConfig.from_dict({"host": host}, "t"), 5.0)
        assert why.reason.startswith(f"name lookup of {host!r} failed"), why
        assert "/etc/hosts has no line for localhost" in why.fix and "mqtt.host: 127.0.0.1" in why.fix, why
    other = why_failed(lookup.value, MqttConfig.from_dict({"host": "brokr.lan"}, "t"), 5.0)
    assert "/etc/hosts" not in other.fix and "its spelling" in other.fix, other
