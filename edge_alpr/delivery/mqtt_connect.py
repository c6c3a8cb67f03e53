"""The broker connection: the paho client as configured (login, TLS, last will), and why a
connection failed, said once per outage in a line that names the fix.

Why apart from the publisher (``mqtt.py``): paho retries in its network thread and swallows the
reason (a failed attempt is an ``on_connect_fail`` without the exception, a refused login a
CONNACK code, a broker that hangs up a bare disconnect), so "not connected to broker host:1883"
was all a user got.  ``Outage`` turns each failed attempt into a ``Why`` (what went wrong, what
to change), warns at the first attempt of an outage (a dropped connection's included) and logs
the retries at debug level and the end at info level (``mqtt_outage.py``); the publisher's "not
connected" error carries the reason too.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
import unicodedata
from collections.abc import Mapping
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt

from ..configutil import resolve_secret
from ..errors import ConfigError
from . import failures, mqtt_limits
from .mqtt_config import MqttConfig

# the publisher's logger: the connection is the publisher's story in the log
log = logging.getLogger("edge_alpr.delivery.mqtt")

# MQTT 5 reason codes paho gives a refused CONNECT (a 3.1.1 broker's return codes mapped to them)
BAD_PROTOCOL, BAD_CLIENT_ID, BAD_LOGIN, NOT_AUTHORIZED, UNAVAILABLE = 132, 133, 134, 135, 136


def device_id(cfg: MqttConfig) -> str:
    """The configured device id, else the host name (topic-safe), in its composed Unicode form.

    Why composed (NFC): ``Süd`` pasted from a Mac's file name has its ``ü`` as ``u`` and a
    combining diaeresis, which is no letter and was turned into ``_`` here, before the Home
    Assistant ids (``mqtt_discovery.ha_ids``, which compose names too) saw it: the device got
    ``Su_d``'s ids, not those of ``Süd`` typed.  A name typed composed is unchanged by it."""
    raw = unicodedata.normalize("NFC", cfg.device_id or socket.gethostname() or "edge-alpr")
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in raw)


def client_id(cfg: MqttConfig) -> str:
    """The configured client id, else ``edge-alpr-<device id>``."""
    return cfg.client_id or f"edge-alpr-{device_id(cfg)}"


def resolve_password(cfg: MqttConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The broker password from the environment or a systemd credential (never the config)."""
    return resolve_secret(cfg.password_env, cfg.password_credential, environ)


def make_client(cfg: MqttConfig, client_id: str, will_topic: str, will: str,
                environ: Mapping[str, str] | None = None) -> mqtt.Client:
    """A paho client with the configured login and TLS, reconnecting with backoff up to
    ``retry_max_s``, whose last will publishes ``will`` (retained, unless ``mqtt.retain`` is false) on
    ``will_topic``."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5 if cfg.mqtt5 else mqtt.MQTTv311)
    client.reconnect_delay_set(min_delay=1, max_delay=int(max(cfg.retry_max_s, 1)))
    if cfg.username:
        client.username_pw_set(cfg.username, resolve_password(cfg, environ))
    if cfg.tls:
        try:
            client.tls_set(ca_certs=cfg.tls_ca or None, cert_reqs=ssl.CERT_REQUIRED)
        except (OSError, ValueError, ssl.SSLError) as e:
            raise ConfigError(f"mqtt.tls_ca: cannot load CA file {cfg.tls_ca!r}: {e}") from e
        client.tls_insecure_set(cfg.tls_insecure)
    client.will_set(will_topic, will, qos=cfg.qos, retain=cfg.retain)
    return client


STOP_POLL_S = 0.05  # how often a wait for the connection looks at the stop event


def wait_connected(connected: threading.Event, stop: threading.Event, timeout: float) -> bool:
    """Wait up to ``timeout`` for ``connected``, or until ``stop``: whether it is connected.

    An event queued at start waits a few seconds for the first connection; a shutdown in those
    seconds (Ctrl-C right after ``edge-alpr run``, no broker) must not wait them out, as the
    delivery worker it holds is joined before the process exits."""
    end = time.monotonic() + timeout
    while not connected.wait(max(0.0, min(STOP_POLL_S, end - time.monotonic()))):
        if stop.is_set() or time.monotonic() >= end:
            return False
    return True


def stop_loop(client: mqtt.Client, timeout: float, connected: bool) -> None:
    """``loop_stop`` bounded by ``timeout`` (paho's own join waits out a connect attempt).

    With no broker the network thread is waiting to retry or connecting, and outlasting the
    timeout is expected (it is a daemon thread, gone with the process): said at debug level,
    so a shutdown while the broker is down logs no warning.  Connected, it is a real hang."""
    stopper = threading.Thread(target=client.loop_stop, name="mqtt-stop", daemon=True)
    stopper.start()
    stopper.join(timeout)
    if stopper.is_alive():
        log.log(logging.WARNING if connected else logging.DEBUG,
                "mqtt: network thread still busy after %.1f s; leaving it", timeout)


class Why(NamedTuple):
    """Why a connection failed (``reason``, short: it also ends the publisher's errors) and
    what to change (``fix``)."""

    reason: str
    fix: str


def why_failed(error: BaseException | None, cfg: MqttConfig, timeout_s: float) -> Why:
    """A failed attempt to connect (name lookup, TCP, TLS handshake), from its exception (sorted
    by ``failures.kind``, as every sink's errors are)."""
    found = failures.kind(error, tls=cfg.tls)
    if found == failures.NAME and isinstance(error, OSError):
        if cfg.host.lower().rstrip(".") == "localhost":  # the default: no DNS answers for it
            return Why(f"name lookup of {cfg.host!r} failed ({error.strerror})",
                       "this machine's /etc/hosts has no line for localhost (a minimal root or container "
                       "may have no /etc/hosts): add '127.0.0.1 localhost' to it, or set mqtt.host: 127.0.0.1")
        return Why(f"name lookup of {cfg.host!r} failed ({error.strerror})",
                   "check mqtt.host: its spelling, and that this machine's DNS knows the name "
                   "(or give the broker's IP address)")
    if found == failures.REFUSED:
        return Why("connection refused (nothing listens on that port)",
                   "start the broker, or set mqtt.host and mqtt.port to where it listens")
    if found == failures.TLS_NAME and isinstance(error, ssl.SSLCertVerificationError):
        return Why(f"TLS: the broker's certificate does not name {cfg.host!r} ({error.verify_message})",
                   "set mqtt.host to a name the certificate has, or mqtt.tls_insecure: true")
    if found == failures.TLS_TIME and isinstance(error, ssl.SSLCertVerificationError):
        renew = "" if error.verify_code == failures.NOT_YET_VALID else \
            "renew the broker's certificate if it has expired, else "
        return Why(f"TLS: the broker's certificate is {failures.out_of_dates(error)}",
                   f"{renew}{failures.CLOCK_FIX}; events wait in the outbox meanwhile")
    if found == failures.TLS_TRUST and isinstance(error, ssl.SSLCertVerificationError):
        return Why(f"TLS: the broker's certificate is not trusted ({error.verify_message})",
                   "set mqtt.tls_ca to the CA certificate (PEM) that signed it")
    if found == failures.TLS:
        # a plain listener resets a TLS hello (mosquitto), or answers it with garbage
        detail = error.reason if isinstance(error, ssl.SSLError) and error.reason else error
        return Why(f"TLS handshake failed ({detail})",
                   f"check that port {cfg.port} is the broker's TLS listener (often 8883), "
                   "or set mqtt.tls: false for a plain one (often 1883)")
    if found == failures.TIMEOUT:
        return Why(f"no answer within {timeout_s:g} s",
                   f"check that {cfg.host} is up and reachable and that no firewall drops port {cfg.port}")
    if found == failures.UNREACHABLE and isinstance(error, OSError):
        return Why(f"{error.strerror}", f"check this machine's network and the route to {cfg.host}")
    text = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
    return Why(text, "check mqtt.host, mqtt.port and the network")


def why_refused(reason: Any, cfg: MqttConfig, has_password: bool) -> Why:
    """A broker that answered and refused the login (its CONNACK ``reason``)."""
    code = getattr(reason, "value", None)
    secret = f"the password in ${cfg.password_env} or the systemd credential {cfg.password_credential}"
    if code in (BAD_LOGIN, NOT_AUTHORIZED):
        if not cfg.username:
            return Why(f"refused: {reason} (the broker wants a login)", f"set mqtt.username and {secret}")
        if not has_password:
            return Why(f"refused: {reason} (user {cfg.username!r}, no password set)", f"set {secret}")
        return Why(f"refused: {reason} (user {cfg.username!r})",
                   f"check mqtt.username, {secret}, and the broker's ACL for that user")
    if code == BAD_CLIENT_ID:
        return Why(f"refused: {reason}", "set mqtt.client_id to one the broker accepts (unique, plain letters)")
    if code == BAD_PROTOCOL:
        return Why(f"refused: {reason}", "use a broker that speaks MQTT 3.1.1 or 5")
    return Why(f"refused: {reason}", "check the broker's log")


def why_closed(reason: Any, cfg: MqttConfig, accepted_before: bool = False) -> Why:
    """A broker that took the connection and dropped it before accepting the login.
    ``accepted_before``: this broker accepted a connection of this run, so the port and TLS are
    right (no hint of them): it is the broker's limits (a message over its packet size limit,
    which the client sends again at once on reconnecting) or its ACL."""
    if str(reason) == "Keep alive timeout":  # paho gave up: no CONNACK within 1.5 keep-alives
        return Why(f"no answer to the login within {cfg.keepalive * 1.5:g} s (the port takes connections but "
                   "nothing there answers MQTT)",
                   f"check that port {cfg.port} is the broker's MQTT listener and that the broker is not hung"
                   + ("" if cfg.tls else " (a TLS listener, often 8883, needs mqtt.tls: true)"))
    if accepted_before:
        fix = ("it accepted this device before: check the broker's log (a message larger than its "
               "max_packet_size or message_size_limit, or its ACL)")
    elif cfg.tls:
        fix = "check the broker's log and its limits"
    else:
        fix = f"if port {cfg.port} is a TLS listener (often 8883), set mqtt.tls: true; else check the broker's log"
    # a broker that accepted this device's last will before does not refuse it now
    return Why(f"the broker hung up before accepting the connection ({reason})",
               fix + ("" if accepted_before else mqtt_limits.hint(cfg)))


def why_lost(reason: Any) -> str:
    """Why a connection that was up dropped, from paho's disconnect ``reason``: an MQTT 5 broker
    may say (``Server shutting down``); otherwise paho knows only that the socket closed."""
    text = str(reason)
    if text != "Unspecified error":
        return text
    return ("closed without a reason: the broker stopped, the network failed, or another client "
            "connected with the same client id")
