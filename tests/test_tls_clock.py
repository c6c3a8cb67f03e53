"""TLS before the clock is right: a device without a real-time clock (a Raspberry Pi) runs at
1970 or days behind until time sync, and every certificate is then "not yet valid" by its clock.
A real https server and a real mosquitto TLS listener whose certificates are valid only in 2099
(the device's clock is "behind") or only in 2000 (it is "ahead", or the certificate expired).

Before: a webhook said "TLS certificate not trusted", and MQTT "the broker's certificate is not
trusted (certificate is not yet valid)" with the fix "set mqtt.tls_ca", which was already set:
nothing sent the operator to the clock.
"""

from __future__ import annotations

import logging
import ssl
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dated_cert import dated_cert, handshake_server
from mosquitto import Broker

from edge_alpr.delivery import failures
from edge_alpr.delivery.mqtt import MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig

pytest_plugins = ["mosquitto"]
LOGGER = "edge_alpr.delivery.mqtt"
FUTURE = ("20990101000000Z", "20991231000000Z")
PAST = ("20000101000000Z", "20010101000000Z")


@pytest.fixture(params=[FUTURE, PAST], ids=["not-yet-valid", "expired"])
def dates(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def https_server(tmp_path: Path, dates: tuple[str, str]) -> Iterator[tuple[int, Path]]:
    """An https server on 127.0.0.1 with a certificate valid only between ``dates``."""
    cert, key = dated_cert(tmp_path / "cert", *dates)
    with handshake_server(cert, key) as port:  # the handshake is all a client gets
        yield port, cert


def test_a_webhook_certificate_outside_its_dates_sends_the_operator_to_the_clock(
        https_server: tuple[int, Path], dates: tuple[str, str]) -> None:
    port, cert = https_server
    request = urllib.request.Request(f"https://127.0.0.1:{port}/hook", data=b"{}", method="POST")
    with pytest.raises(OSError) as raised:
        urllib.request.urlopen(request, timeout=5, context=ssl.create_default_context(cafile=str(cert)))  # noqa: S310
    text = failures.sentence(raised.value, "127.0.0.1", port)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    state = "not valid yet" if dates == FUTURE else "expired"
    assert text.startswith(f"TLS certificate {state} by this device's clock ({today} "), text
    assert "check the clock (timedatectl" in text, text
    assert ("renew it" in text) == (dates == PAST), text


def test_an_mqtt_certificate_outside_its_dates_sends_the_operator_to_the_clock(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, dates: tuple[str, str]) -> None:
    cert, key = dated_cert(tmp_path / "cert", *dates)
    broker = Broker(tmp_path / "tlsbroker")
    broker.conf.write_text(broker.conf.read_text().replace(
        f"listener {broker.port} 127.0.0.1",
        f"listener {broker.port} 127.0.0.1\ncertfile {cert}\nkeyfile {key}"))
    broker.start()
    caplog.set_level(logging.INFO, logger=LOGGER)
    pub = MqttPublisher(MqttConfig.from_dict({"device_id": "dev1", "host": "127.0.0.1", "port": broker.port,
                                              "tls": True, "tls_ca": str(cert), "retry_max_s": 0.5}, "t"),
                        environ={})
    pub.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(r.levelno >= logging.WARNING for r in caplog.records
                                                      if r.name == LOGGER):
            time.sleep(0.05)
    finally:
        pub.stop(timeout=0.2)
        broker.stop()
    (warning,) = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
    state = "not valid yet" if dates == FUTURE else "expired"
    assert f"TLS: the broker's certificate is {state} by this device's clock" in warning, warning
    assert "check the clock (timedatectl" in warning and "mqtt.tls_ca" not in warning, warning
    assert ("renew the broker's certificate" in warning) == (dates == PAST), warning
