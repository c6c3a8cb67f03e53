"""What an MQTT 5 broker says in an event's PUBACK: a reason code of 0x80 or more is a refusal.

Why: paho marks a message published at its PUBACK whatever the reason code, and in no 2.x does
its ``MQTTMessageInfo`` carry the code: only the ``on_publish`` callback gets it (2.0 and 2.2
alike, ``CallbackAPIVersion.VERSION2``: ``(client, userdata, mid, reason_code, properties)``,
called before the message is marked published).  So an event the broker refused was acked in
the outbox and lost.  Measured with mosquitto 2.0.11 and an ACL that does not let the user
publish the event's topic: to an MQTT 5 client it answers PUBACK 0x87 (Not authorized) and drops
the message; to an MQTT 3.1.1 client a plain PUBACK, and drops it: nothing a client can see.

``Acks`` keeps the refusals by message id; ``MqttPublisher.send`` asks it once the event's
PUBACKs came (``refusal``) and raises, so the delivery worker keeps the event and retries it
with backoff, warning once with ``why``'s words: the broker's reason and the fix.  0x10 (No
matching subscribers) is a success: the broker took the event, nobody subscribes to it now.

At QoS 2 the broker's refusal is in the PUBREC, whose reason code paho ignores (it answers
PUBREL and reports the PUBCOMP's success): use QoS 1, the default.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt

from .mqtt_config import MqttConfig
from .mqtt_connect import device_id

REFUSED = 0x80  # MQTT 5: a reason code from 0x80 is a failure
NOT_AUTHORIZED, TOPIC_INVALID, QUOTA, PAYLOAD_FORMAT = 0x87, 0x90, 0x97, 0x99


class Refusal(NamedTuple):
    """One PUBACK's refusal: its code, paho's name for it, and the broker's Reason String."""

    code: int
    name: str
    said: str


class Acks:
    """The refusals among the PUBACKs, by message id (paho's network thread reports them; thread-safe).

    A message id is used again once its message is acknowledged, so each PUBACK replaces what
    the one before with its id left: what ``refusal`` reads is the latest message's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refused: dict[int, Refusal] = {}

    def on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        """paho's ``on_publish``: keeps a refusal (paho 2.0's ``ReasonCode`` has no ``is_failure``:
        its ``value`` is compared; MQTT 3.1.1 and QoS 0 give a success)."""
        code = getattr(reason_code, "value", 0)
        with self._lock:
            if isinstance(code, int) and code >= REFUSED:
                said = getattr(properties, "ReasonString", "")
                self._refused[mid] = Refusal(code, str(reason_code), said if isinstance(said, str) else "")
            else:
                self._refused.pop(mid, None)

    def refusal(self, infos: list[mqtt.MQTTMessageInfo], topics: list[str]) -> tuple[Refusal, str] | None:
        """The refusal of the first of ``infos`` (acknowledged) that the broker refused, and its
        topic (``topics``: theirs, in order); None where it took them all."""
        with self._lock:
            found = [(self._refused.pop(info.mid, None), topic) for info, topic in zip(infos, topics)]
        return next(((r, topic) for r, topic in found if r is not None), None)


def why(refusal: Refusal, topic: str, event_id: str, cfg: MqttConfig) -> str:
    """The refusal of event ``event_id`` on ``topic`` in words: what the broker said and the fix."""
    username, subtree = cfg.username, f"{cfg.topic_prefix}/{device_id(cfg)}/#"  # this device's topics
    said = f" (the broker says: {refusal.said})" if refusal.said else ""
    head = (f"broker {cfg.host}:{cfg.port} refused event {event_id} on {topic}: "
            f"PUBACK {refusal.code:#04x} {refusal.name}{said}")
    if refusal.code == NOT_AUTHORIZED:
        who = f"user {username!r}" if username else "a client without a login"
        to = "for that user" if username else "to its anonymous rules (mosquitto: before the first `user` line)"
        fix = (f"the broker's ACL does not let {who} publish to {topic}: add `topic write {subtree}` {to} "
               "and reload the broker")
    elif refusal.code == QUOTA:
        fix = ("the broker's quota for this client is used up: raise it (a hosted broker: its plan's message "
               "quota) or wait until it renews")
    elif refusal.code == PAYLOAD_FORMAT:
        fix = ("the broker takes no payload of this format on that topic (events are UTF-8 JSON): check its "
               "rules and plugins for the topic")
    elif refusal.code == TOPIC_INVALID:
        fix = ("the broker takes no topic of that name: check mqtt.topic_prefix, mqtt.device_id and the camera "
               "id against its topic rules (a hosted broker may allow only its own prefix)")
    else:
        fix = "check the broker's log (its ACL, a plugin or a rule refused it)"
    return f"{head}; {fix}; the event is kept and sent again"
