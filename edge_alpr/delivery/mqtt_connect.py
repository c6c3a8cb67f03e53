"""The broker connection: the paho client as configured (login, TLS, last will), and why a
connection failed, said once per outage in a line that names the fix.

Why apart from the publisher (``mqtt.py``): paho retries in its network thread and swallows the
reason (a failed attempt is an ``on_connect_fail`` without the exception, a refused login a
CONNACK code, a broker that hangs up a bare disconnect), so "not connected to broker host:1883"
was all a user got.  ``Outage`` turns each failed attempt into a ``Why`` (what went wrong, what
to change), warns at the first attempt of an outage (a dropped connection's included) and logs
the retries at debug level and the end at info level; the publisher's "not connected" error
carries the reason too.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt

from ..configutil import resolve_secret
from ..errors import ConfigError
from . import failures
from .mqtt_config import MqttConfig

# the publisher's logger: the connection is the publisher's story in the log
log = logging.getLogger("edge_alpr.delivery.mqtt")

# MQTT 5 reason codes paho gives a refused CONNECT (a 3.1.1 broker's return codes mapped to them)
BAD_PROTOCOL, BAD_CLIENT_ID, BAD_LOGIN, NOT_AUTHORIZED, UNAVAILABLE = 132, 133, 134, 135, 136

# a connection dropped this many times within FLAP_WINDOW_S keeps being taken away (``Outage.lost``)
FLAP_DROPS = 3
FLAP_WINDOW_S = 60.0
STABLE_S = 300.0  # up this long: the flapping is over (the next drops may be warned of again)


def device_id(cfg: MqttConfig) -> str:
    """The configured device id, else the host name (topic-safe)."""
    raw = cfg.device_id or socket.gethostname() or "edge-alpr"
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
    ``retry_max_s``, whose last will publishes ``will`` (retained) on ``will_topic``."""
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
    client.will_set(will_topic, will, qos=cfg.qos, retain=True)
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
    return Why(f"the broker hung up before accepting the connection ({reason})", fix)


def why_lost(reason: Any) -> str:
    """Why a connection that was up dropped, from paho's disconnect ``reason``: an MQTT 5 broker
    may say (``Server shutting down``); otherwise paho knows only that the socket closed."""
    text = str(reason)
    if text != "Unspecified error":
        return text
    return ("closed without a reason: the broker stopped, the network failed, or another client "
            "connected with the same client id")


class Outage:
    """The connection's failures: one warning per outage, the retries at debug level, and one
    info line when it ends, with how long it lasted.

    Why one warning: a connection that drops and cannot be made again is one outage, like a
    camera's; "disconnected" and then "cannot connect" read as two problems.  A lost connection
    is only noted (``lost``); the warning comes with the first failed reconnection and names both
    why it dropped and why it cannot be made again, with the fix.  A reconnection at the first
    try is no outage to warn of: its info line says what was lost.

    A connection that keeps dropping and coming back at once (``FLAP_DROPS`` drops within
    ``FLAP_WINDOW_S``: another client with the same client id, or a broker closing it for missed
    keep-alives) is warned of once, naming those causes; its reconnections are then logged at
    debug level until it has stayed up ``STABLE_S``, so it neither floods the log nor hides from
    ``journalctl -p warning``.
    """

    def __init__(self, cfg: MqttConfig, client_id: str) -> None:
        self.where = f"{cfg.host}:{cfg.port}"
        self.client_id, self.keepalive = client_id, cfg.keepalive
        self._drops: deque[float] = deque()  # when the connection dropped, within FLAP_WINDOW_S
        self._flapping = False  # warned of; quiet until the connection stays up STABLE_S
        self._up_since: float | None = None  # when the latest connection was made
        self.why: Why | None = None  # the latest failure of this outage, None while connected
        self.dropped: str | None = None  # why the connection dropped, when the outage began so
        self.since: float | None = None  # when the outage began (monotonic), None while connected
        self.attempts = 0  # failed attempts in this outage
        self._warned = False
        self._refused = False  # the latest failure was a refused login (its hang-up follows)

    def lost(self, reason: str, flapping: bool = True) -> None:
        """A connection that was up dropped (paho reconnects): the start of an outage.
        ``flapping``: False where the broker dropped it for a message it refuses (``mqtt_size``,
        which warns of it once): not counted as the connection keeping dropping."""
        self.why, self.dropped, self.since, self.attempts = None, reason, time.monotonic(), 0
        self._warned = self._refused = False
        log.debug("mqtt: lost the connection to broker %s (%s); reconnecting", self.where, reason)
        if flapping:
            self._count_drop(reason)

    def _count_drop(self, reason: str) -> None:
        """Warn once of a connection that keeps dropping soon after it is made (see the class)."""
        now = time.monotonic()
        if self._up_since is not None and now - self._up_since >= STABLE_S:
            self._drops.clear()
            self._flapping = False
        self._drops.append(now)
        while self._drops[0] < now - FLAP_WINDOW_S:
            self._drops.popleft()
        if self._flapping or len(self._drops) < FLAP_DROPS:
            return
        self._flapping = True
        log.warning("mqtt: the connection to broker %s dropped %d times within %.0f s, each time soon after "
                    "it was made (last: %s); likely another client connects with the same client id %r "
                    "(set mqtt.client_id to one no other client uses), the broker closes it for missed "
                    "keep-alives (mqtt.keepalive is %d s; check the network and the broker's log), or it "
                    "refuses a message of this device (larger than its max_packet_size or "
                    "message_size_limit: its log says; an event is set aside after 3 such drops); "
                    "reconnecting quietly until it stays up for %.0f s", self.where, len(self._drops),
                    FLAP_WINDOW_S, reason, self.client_id, self.keepalive, STABLE_S)

    def failed(self, why: Why, refusal: bool = False) -> None:
        self.why, self._refused = why, refusal
        self.attempts += 1
        if self.since is None:
            self.since = time.monotonic()
        if self._warned or self._flapping:  # flapping: warned of already, quiet until stable
            log.debug("mqtt: still not connected to %s: %s", self.where, why.reason)
            return
        self._warned = True
        lost = f"lost the connection to broker {self.where} ({self.dropped}) and cannot reconnect"
        log.warning("mqtt: %s: %s; %s (retrying quietly; events wait in the outbox)",
                    lost if self.dropped else f"cannot connect to broker {self.where}", why.reason, why.fix)

    def hung_up(self, why: Why) -> None:
        """A disconnect before the login was accepted: a refusal's own hang-up is said already."""
        if self._refused:
            self._refused = False
        else:
            self.failed(why)

    def ended(self, device: str) -> None:
        """Connected: said once, with the outage it ends (at debug level while the connection
        keeps dropping, warned of already); the next failure is a new outage."""
        self._up_since = time.monotonic()
        if self.since is None:
            log.info("mqtt: connected to %s as %s", self.where, device)
        else:
            log.log(logging.DEBUG if self._flapping else logging.INFO,
                    "mqtt: %s to %s as %s after %.1f s without a connection (%s%d failed attempt(s))",
                    "reconnected" if self.dropped else "connected", self.where, device,
                    time.monotonic() - self.since, f"lost: {self.dropped}; " if self.dropped else "",
                    self.attempts)
        self.why, self.dropped, self.since, self.attempts = None, None, None, 0
        self._warned = False

    @property
    def accepted_before(self) -> bool:
        """The broker accepted a connection of this run (its port and TLS are right)."""
        return self._up_since is not None

    def not_connected(self) -> str:
        """Why a publish cannot go now, for the delivery worker's log and ``/info/``."""
        if self.why is not None:
            return f"not connected to broker {self.where}: {self.why.reason}"
        if self.dropped is not None:
            return f"not connected to broker {self.where}: the connection was lost ({self.dropped}); reconnecting"
        return f"not connected to broker {self.where} (connecting)"
