"""Strict, I/O-free config for MQTT delivery (the ``mqtt`` section).

The password never lives in the config file (a repository or /etc file is too easy to leak):
it is read at connect time from the environment variable named by ``password_env`` or from the
systemd credential file ``$CREDENTIALS_DIRECTORY/<password_credential>``.  See
``edge_alpr.delivery.mqtt_connect.resolve_password``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..configutil import Section, parse_section, setting
from ..errors import ConfigError


@dataclass(frozen=True)
class MqttConfig(Section):
    """Broker connection and topic layout.

    Topics: ``<topic_prefix>/<device_id>/status`` (retained online/offline),
    ``.../<camera>/plate`` (events), ``.../usage`` (retained counters).  An empty ``device_id``
    means the host name; an empty ``client_id`` means ``edge-alpr-<device_id>``.  A failed
    publish is retried from the outbox after ``retry_initial_s`` doubling to ``retry_max_s``;
    retained usage counters are refreshed every ``usage_interval_s`` when they changed.
    """

    enabled: bool = True  # publish camera events to the broker (edge-alpr run)
    host: str = setting("localhost", nonempty=True)  # broker host name or address
    port: int = setting(1883, min=1, max=65535)  # broker TCP port
    tls: bool = False  # true: connect over TLS, verifying the broker's certificate
    tls_ca: str = ""  # CA certificate file (PEM) to verify the broker with; "" = the system's CAs
    tls_insecure: bool = False  # true: do not check that the certificate names the host
    username: str = ""  # broker user name; "" = connect without credentials
    password_env: str = "EDGE_ALPR_MQTT_PASSWORD"  # environment variable holding the broker password; "" = none
    # systemd credential holding the password when the variable is unset; "" = none
    password_credential: str = "mqtt_password"
    client_id: str = ""  # MQTT client id; "" = `edge-alpr-<device_id>`
    topic_prefix: str = setting("edge-alpr", nonempty=True)  # first level of every topic; no + or #
    # second level of every topic; "" = the host name; a second run on this machine with the same
    # one (or client_id) on the same broker exits 1 naming the first
    device_id: str = ""
    qos: int = setting(1, choices=(0, 1, 2))  # QoS of every message (1 recommended)
    # false: the status, health, usage and discovery messages and the last will are sent unretained,
    # for a broker that keeps no retained messages (mosquitto: retain_available false); a subscriber
    # then sees each only once it is sent again
    retain: bool = True
    # true: speak MQTT 5 (the broker says its largest packet, so an event over it is set aside
    # before it is sent); false: MQTT 3.1.1 (such an event is set aside after it dropped the
    # connection 3 times)
    mqtt5: bool = False
    # the largest event payload the broker takes, in bytes (mosquitto: message_size_limit); a larger
    # event is set aside, not sent, since an MQTT 3.1.1 broker acknowledges it and discards it
    # unseen; 0 = unknown (nothing checked before sending)
    max_message_bytes: int = setting(0, min=0)
    keepalive: int = setting(30, min=5)  # seconds between keep-alive pings
    # true: publish Home Assistant discovery (the device's service, problem, API calls and outbox;
    # plate, connectivity, view and fps per camera; list triggers); false: remove the ones this
    # device published before
    ha_discovery: bool = False
    # Home Assistant's discovery topic prefix; no + or #; a leading or trailing / is left out
    ha_prefix: str = setting("homeassistant", nonempty=True)
    publish_timeout_s: float = setting(5.0, above=0)  # time an event's PUBACK may take, else it is sent again
    retry_initial_s: float = setting(0.5, above=0)  # wait before retrying a failed publish; doubles up to retry_max_s
    # longest wait between publish retries; also caps the reconnect delay (at least 1 s)
    retry_max_s: float = setting(10.0, above=0)
    # how often the retained usage counters and camera health are refreshed when changed
    usage_interval_s: float = setting(5.0, above=0)

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> MqttConfig:
        if isinstance(obj, dict) and "password" in obj:
            raise ConfigError(
                f"{where}.password: passwords are not read from config files; set the environment "
                f"variable named by password_env (default EDGE_ALPR_MQTT_PASSWORD) or a systemd "
                f"credential named by password_credential (default mqtt_password)"
            )
        return parse_section(cls, obj, where)

    @property
    def discovery_prefix(self) -> str:
        """``ha_prefix`` without a leading or trailing ``/``: the first levels of the discovery
        topics.  Earlier versions took ``homeassistant/`` or ``/homeassistant``, so a device
        upgraded with one starts (``ha_prefix_warning``) instead of being refused."""
        return self.ha_prefix.strip("/")

    def ha_prefix_warning(self, where: str = "mqtt") -> str | None:
        """check-config's warning for an ``ha_prefix`` with a ``/`` left out; None where none is."""
        if self.discovery_prefix == self.ha_prefix:
            return None
        return (f"{where}.ha_prefix {self.ha_prefix!r} is used as {self.discovery_prefix!r} (a leading or trailing / "
                f"is left out): write ha_prefix: {self.discovery_prefix} to say so")

    def check(self, where: str) -> None:
        # a wildcard in ha_prefix made the connection's subscription invalid, which ended paho's
        # network thread: no event went again, each failing "no PUBACK"; so did an empty one
        if any(c in self.ha_prefix for c in "+#") or not self.discovery_prefix:
            raise ConfigError(f"{where}.ha_prefix: {self.ha_prefix!r} must not contain + or # or be empty "
                              "(Home Assistant's default is homeassistant)")
        for key in ("topic_prefix", "device_id"):
            value = getattr(self, key)
            if any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
                raise ConfigError(f"{where}.{key}: {value!r} must not contain + or # or start/end with /")
