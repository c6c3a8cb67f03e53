"""A broker whose ACL drops what this device publishes, said with the fix.

Why: mosquitto drops a publish its ACL denies, and to an MQTT 3.1.1 client (``mqtt.mqtt5:
false``, the default) it still answers PUBACK: each event was acknowledged in the outbox and
lost, unseen.  Measured with mosquitto 2.0.11 and an account allowed only ``topic read
edge-alpr/#`` (or a ``pattern write edge-alpr/%c/#`` whose ``%c``, the client id
``edge-alpr-gate``, is not the device id ``gate`` of the topics): every event's PUBACK came, and
the only line in the log asked whether the account may *read* its status topic.

The device sees it on connecting: it subscribes to its own status topic (the sweep,
``mqtt_retained.Sweep``) and publishes ``online`` there.  Where the broker hands it the retained
status but never its own ``online``, the account may read the topic and its publishes are
dropped.  The publisher then keeps the events (``MqttPublisher.send`` raises, so the outbox
retries them) and publishes ``online`` again at each retry: its echo, once the ACL is fixed and
the broker reloaded, ends the hold and the retained messages are published again.  Where no
status came at all (a first connection), read or write may be denied: both are named.
"""

from __future__ import annotations

from .mqtt_config import MqttConfig


def _account(cfg: MqttConfig) -> str:
    return f"user {cfg.username!r}" if cfg.username else "the anonymous clients"


def dropped(cfg: MqttConfig, base: str, status_topic: str) -> str:
    """The broker handed back the retained ``status_topic`` but not the device's own ``online``."""
    told = ("each event's PUBACK says it (0x87) and the event is kept" if cfg.mqtt5 else
            "as MQTT 3.1.1 (mqtt.mqtt5: false) it acknowledges each publish and drops it unseen, events "
            "included: events are kept in the outbox until it takes them")
    return (f"broker {cfg.host}:{cfg.port} drops what this device publishes: it sent the retained {status_topic} "
            f"but not the device's own `online` published there, as a broker does with a publish its ACL denies "
            f"({told}); add `topic readwrite {base}/#` for {_account(cfg)} (mosquitto: a `pattern` line with %c "
            f"names the client id {cfg.client_id or 'edge-alpr-<device id>'}, not the device id) and reload the "
            "broker")


def unseen(cfg: MqttConfig, base: str, status_topic: str, wait_s: float) -> str:
    """Nothing came back on ``status_topic`` within ``wait_s``: the ACL forbids reading it, or writing it."""
    lost = "" if cfg.mqtt5 else \
        " (if it may not write it, MQTT 3.1.1 acknowledges each publish and drops it: events are lost)"
    return (f"the broker did not send this device its own {status_topic} within {wait_s:.0f} s: does its ACL let "
            f"{_account(cfg)} read and write it{lost}? Home Assistant discovery is published without removing stale "
            f"retained messages or seeing the ids other devices hold; add `topic readwrite {base}/#` and `topic "
            f"read {cfg.ha_prefix}/#` for the account")
