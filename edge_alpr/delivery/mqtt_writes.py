"""A broker that may drop what this device publishes (its ACL), warned of with the fix.

Why: mosquitto drops a publish its ACL denies, and to an MQTT 3.1.1 client (``mqtt.mqtt5:
false``, the default) it still answers PUBACK: each event is acknowledged and lost, and the
device cannot tell.  Measured with mosquitto 2.0.11 and an account allowed only ``topic read
edge-alpr/#`` (or a ``pattern write edge-alpr/%c/#`` whose ``%c``, the client id
``edge-alpr-gate``, is not the device id ``gate`` of the topics): every event's PUBACK came.

The only hint comes on connecting: the device subscribes to its own status topic (the sweep,
``mqtt_retained.Sweep``) and publishes ``online`` there.  Where the broker hands it the retained
status but not its own ``online`` back, its ACL *may* drop the device's publishes.  It is not
proof: a broker or bridge that does not send a client its own publishes (EMQX
``ignore_loop_deliver``) or an echo come late after a stall look the same, so this is a warning
only and events go as ever; MQTT 5 is what tells, per event (``mqtt_puback``).  Where no status
came at all (a first connection), read or write may be denied: both are named.
"""

from __future__ import annotations

from .mqtt_config import MqttConfig


def _account(cfg: MqttConfig) -> str:
    return f"user {cfg.username!r}" if cfg.username else "the anonymous clients"


def likely_dropped(cfg: MqttConfig, base: str, status_topic: str, wait_s: float) -> str:
    """The broker handed back the retained ``status_topic`` but not the device's own ``online``."""
    told = ("with mqtt.mqtt5: true each event's PUBACK says whether it was refused" if cfg.mqtt5 else
            "mosquitto acknowledges and drops denied publishes on MQTT 3.1.1, so events would be counted "
            "delivered and lost; set mqtt.mqtt5: true so the broker says so per event")
    return (f"the broker did not send back this device's own `online` on {status_topic} within {wait_s:.0f} s "
            f"although it sent the retained status: its ACL may drop what this device publishes ({told}); "
            f"add `topic readwrite {base}/#` for {_account(cfg)} (mosquitto: a `pattern` line with %c names the "
            f"client id {cfg.client_id or 'edge-alpr-<device id>'}, not the device id) and reload the broker. "
            "A broker or bridge that does not send a client its own publishes back looks the same: "
            "events are sent as usual")


def unseen(cfg: MqttConfig, base: str, status_topic: str, wait_s: float) -> str:
    """Nothing came back on ``status_topic`` within ``wait_s``: the ACL forbids reading it, or writing it."""
    lost = "" if cfg.mqtt5 else \
        " (if it may not write it, MQTT 3.1.1 acknowledges each publish and drops it: events are lost; " \
        "mqtt.mqtt5: true has the broker say so per event)"
    return (f"the broker did not send this device its own {status_topic} within {wait_s:.0f} s: does its ACL let "
            f"{_account(cfg)} read and write it{lost}? Home Assistant discovery is published without removing stale "
            f"retained messages or seeing the ids other devices hold; add `topic readwrite {base}/#` and `topic "
            f"read {cfg.discovery_prefix}/#` for the account")
