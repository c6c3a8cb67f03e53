"""Strict, I/O-free config for MQTT delivery (the ``mqtt`` section).

The password never lives in the config file (a repository or /etc file is too easy to leak):
it is read at connect time from the environment variable named by ``password_env`` or from the
systemd credential file ``$CREDENTIALS_DIRECTORY/<password_credential>``.  See
``edge_alpr.delivery.mqtt.resolve_password``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..configutil import check_keys, typed
from ..errors import ConfigError

_KEYS = {
    "enabled", "host", "port", "tls", "tls_ca", "tls_insecure", "username", "password_env",
    "password_credential", "client_id", "topic_prefix", "device_id", "qos", "keepalive",
    "ha_discovery", "ha_prefix", "publish_timeout_s", "retry_initial_s", "retry_max_s",
    "usage_interval_s",
}


@dataclass(frozen=True)
class MqttConfig:
    """Broker connection and topic layout.

    Topics: ``<topic_prefix>/<device_id>/status`` (retained online/offline),
    ``.../<camera>/plate`` (events), ``.../usage`` (retained counters).  An empty ``device_id``
    means the host name; an empty ``client_id`` means ``edge-alpr-<device_id>``.  A failed
    publish is retried from the outbox after ``retry_initial_s`` doubling to ``retry_max_s``;
    retained usage counters are refreshed every ``usage_interval_s`` when they changed.
    """

    enabled: bool = True  # publish camera events to the broker (edge-alpr run)
    host: str = "localhost"  # broker host name or address
    port: int = 1883  # broker TCP port
    tls: bool = False  # true: connect over TLS, verifying the broker's certificate
    tls_ca: str = ""  # CA certificate file (PEM) to verify the broker with; "" = the system's CAs
    tls_insecure: bool = False  # true: do not check that the certificate names the host
    username: str = ""  # broker user name; "" = connect without credentials
    password_env: str = "EDGE_ALPR_MQTT_PASSWORD"  # environment variable holding the broker password; "" = none
    # systemd credential holding the password when the variable is unset; "" = none
    password_credential: str = "mqtt_password"
    client_id: str = ""  # MQTT client id; "" = `edge-alpr-<device_id>`
    topic_prefix: str = "edge-alpr"  # first level of every topic; no + or #
    device_id: str = ""  # second level of every topic; "" = the host name
    qos: int = 1  # 0, 1 or 2: QoS of every message
    keepalive: int = 30  # seconds between keep-alive pings (at least 5)
    # true: publish Home Assistant discovery (plate, connectivity and fps per camera, list triggers)
    ha_discovery: bool = False
    ha_prefix: str = "homeassistant"  # Home Assistant's discovery topic prefix
    publish_timeout_s: float = 5.0  # time an event's PUBACK may take, else it is sent again
    retry_initial_s: float = 0.5  # wait before retrying a failed publish; doubles up to retry_max_s
    retry_max_s: float = 10.0  # longest wait between publish retries; also caps the reconnect delay (at least 1 s)
    usage_interval_s: float = 5.0  # how often the retained usage counters and camera health are refreshed when changed

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> MqttConfig:
        if isinstance(obj, dict) and "password" in obj:
            raise ConfigError(
                f"{where}.password: passwords are not read from config files; set the environment "
                f"variable named by password_env (default EDGE_ALPR_MQTT_PASSWORD) or a systemd "
                f"credential named by password_credential (default mqtt_password)"
            )
        d = check_keys(obj, _KEYS, where)
        port = typed(d, "port", int, 1883, where)
        if not 1 <= port <= 65535:
            raise ConfigError(f"{where}.port: {port} is not a TCP port (1..65535)")
        qos = typed(d, "qos", int, 1, where)
        if qos not in (0, 1, 2):
            raise ConfigError(f"{where}.qos: must be 0, 1 or 2 (1 recommended), got {qos}")
        keepalive = typed(d, "keepalive", int, 30, where)
        if keepalive < 5:
            raise ConfigError(f"{where}.keepalive: must be >= 5 seconds, got {keepalive}")
        prefix = typed(d, "topic_prefix", str, "edge-alpr", where)
        device = typed(d, "device_id", str, "", where)
        for key, value in (("topic_prefix", prefix), ("device_id", device)):
            if any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
                raise ConfigError(f"{where}.{key}: {value!r} must not contain + or # or start/end with /")
        if not prefix:
            raise ConfigError(f"{where}.topic_prefix: must not be empty")
        host = typed(d, "host", str, "localhost", where)
        if not host:
            raise ConfigError(f"{where}.host: must not be empty (e.g. localhost)")
        return cls(
            enabled=typed(d, "enabled", bool, True, where),
            host=host,
            port=port,
            tls=typed(d, "tls", bool, False, where),
            tls_ca=typed(d, "tls_ca", str, "", where),
            tls_insecure=typed(d, "tls_insecure", bool, False, where),
            username=typed(d, "username", str, "", where),
            password_env=typed(d, "password_env", str, "EDGE_ALPR_MQTT_PASSWORD", where),
            password_credential=typed(d, "password_credential", str, "mqtt_password", where),
            client_id=typed(d, "client_id", str, "", where),
            topic_prefix=prefix,
            device_id=device,
            qos=qos,
            keepalive=keepalive,
            ha_discovery=typed(d, "ha_discovery", bool, False, where),
            ha_prefix=typed(d, "ha_prefix", str, "homeassistant", where),
            publish_timeout_s=_positive(d, "publish_timeout_s", 5.0, where),
            retry_initial_s=_positive(d, "retry_initial_s", 0.5, where),
            retry_max_s=_positive(d, "retry_max_s", 10.0, where),
            usage_interval_s=_positive(d, "usage_interval_s", 5.0, where),
        )


def _positive(d: dict[str, Any], key: str, default: float, where: str) -> float:
    value = typed(d, key, float, default, where)
    if value <= 0:
        raise ConfigError(f"{where}.{key}: must be > 0 seconds, got {value}")
    return value
