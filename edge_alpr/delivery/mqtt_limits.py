"""The broker's limits on QoS and on retained messages, and publishing within them.

Why: a broker may take no QoS 2 (mosquitto: ``max_qos 1``) or keep no retained messages
(mosquitto: ``retain_available false``).  Measured with mosquitto 2.0.11: it refuses a CONNECT
whose last will asks for either (this device's will is retained, at ``mqtt.qos``), to an MQTT 5
client with CONNACK 0x9B "QoS not supported" or 0x9A "Retain not supported", to an MQTT 3.1.1
one by hanging up before its CONNACK; and it closes the connection of a PUBLISH over them.
Before, edge-alpr tried again every few seconds for ever, its events queued and never sent, with
a warning of "check the broker's log" (MQTT 5) or of a TLS listener (MQTT 3.1.1).

An MQTT 5 broker says which limit (its CONNACK's refusal, or the Maximum-QoS and
Retain-Available of an accepted one): the publisher then keeps within it (``Limits``: events
and the rest at the highest QoS it takes, the status, health, usage and discovery messages and
the will unretained), warns once naming the fix (``mqtt.qos``, ``mqtt.retain``: the config that
says so, after which nothing is said), and ``notice`` says it for the console and ``/info/``.
An MQTT 3.1.1 broker says nothing: the hang-up's warning names these limits (``hint``).
"""

from __future__ import annotations

import logging
from typing import Any

from .mqtt_config import MqttConfig

log = logging.getLogger("edge_alpr.delivery.mqtt")  # the publisher's story in the log
RETAIN_NOT_SUPPORTED, QOS_NOT_SUPPORTED = 0x9A, 0x9B  # MQTT 5 reason codes


class Limits:
    """The QoS and the retain flag this device publishes with: the config's, lowered to what the
    broker takes once it says so (see the module docstring); set from paho's network thread."""

    def __init__(self, cfg: MqttConfig) -> None:
        self.where = f"{cfg.host}:{cfg.port}"
        self.qos = cfg.qos
        self.retain = cfg.retain
        self._notes: dict[str, str] = {}  # what the broker limits, in a few words, by limit

    def refused(self, reason: Any) -> bool:
        """A CONNACK's refusal (``reason``): True where it is a limit this device now keeps
        within (warned of once), so that the next attempt may be accepted."""
        code = getattr(reason, "value", None)
        if code == QOS_NOT_SUPPORTED and self.qos > 0:
            self._lower_qos(self.qos - 1, f"it refused the connection: {reason}")
            return True
        if code == RETAIN_NOT_SUPPORTED and self.retain:
            self._no_retain(f"it refused the connection: {reason}")
            return True
        return False

    def connected(self, properties: Any) -> bool:
        """An accepted connection's CONNACK ``properties`` (MQTT 5): True where they lowered a limit."""
        maximum = getattr(properties, "MaximumQoS", None)
        changed = False
        if isinstance(maximum, int) and 0 <= maximum < self.qos:
            self._lower_qos(maximum, f"its CONNACK says Maximum-QoS {maximum}")
            changed = True
        if getattr(properties, "RetainAvailable", 1) == 0 and self.retain:
            self._no_retain("its CONNACK says Retain-Available 0")
            changed = True
        return changed

    def notice(self) -> str | None:
        """What the broker limits and the fix, in a few words (the console, ``/info/``); None: nothing."""
        return "; ".join(self._notes.values()) or None

    def _lower_qos(self, qos: int, said: str) -> None:
        unconfirmed = " (the broker then confirms no event: one lost on the way is not sent again)" if qos == 0 else ""
        log.warning("mqtt: broker %s takes no QoS %d messages (%s; mosquitto: max_qos): this device publishes at "
                    "QoS %d instead%s; set mqtt.qos: %d to say so, or raise the broker's limit",
                    self.where, self.qos, said, qos, unconfirmed, qos)
        self.qos = qos
        self._notes["qos"] = f"the broker takes QoS {qos} at most: sent at QoS {qos} (set mqtt.qos: {qos})"

    def _no_retain(self, said: str) -> None:
        log.warning("mqtt: broker %s keeps no retained messages (%s; mosquitto: retain_available false): this "
                    "device sends its status, health, usage and discovery messages unretained, so a subscriber "
                    "sees each only once it is sent again (Home Assistant's discovery and availability need them "
                    "retained); allow retained messages on the broker, or set mqtt.retain: false to say so",
                    self.where, said)
        self.retain = False
        self._notes["retain"] = "the broker keeps no retained messages: sent unretained (set mqtt.retain: false)"


def hint(cfg: MqttConfig) -> str:
    """For an MQTT 3.1.1 broker that hangs up before accepting the connection: the limits of its
    that refuse this device's last will, and the fix ("" where the config asks for neither)."""
    limits = [*(["no QoS 2 (mosquitto: max_qos 1)"] if cfg.qos == 2 else []),
              *(["no retained messages (mosquitto: retain_available false)"] if cfg.retain else [])]
    fixes = [*(["mqtt.qos: 1"] if cfg.qos == 2 else []), *(["mqtt.retain: false"] if cfg.retain else [])]
    if cfg.mqtt5 or not limits:
        return ""
    return (f"; a broker that takes {' or '.join(limits)} hangs up on this device's last will: set "
            f"{' or '.join(fixes)}, or mqtt.mqtt5: true (the broker then says which, and this device keeps within it)")
