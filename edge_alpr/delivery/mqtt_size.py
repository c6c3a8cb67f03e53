"""The broker's limit on a message's size, and the event over it: ``errors.EventTooLarge``.

Why: a broker refuses a message over its limit, and paho sends a message not yet acknowledged
again at each reconnection, so one event too large would head the MQTT sink's queue forever,
every later event waiting behind it.  Measured with mosquitto 2.0 (``tests/test_mqtt_limits.py``):

* ``max_packet_size``: the broker closes the connection without a word when the event arrives;
  the client reconnects (about once a second) and sends it again, and again.  An MQTT 5 broker
  says this limit in its CONNACK (Maximum-Packet-Size): the event is refused here, before it is
  sent (``SizeWatch.check``).
* ``message_size_limit`` (the payload): to an MQTT 5 client the broker answers "Packet too large"
  in the PUBACK, which paho takes for a protocol error and closes the connection: the same loop.
  To an MQTT 3.1.1 client it acknowledges the message and discards it (its log says so at debug
  level): nothing this device can see; use ``max_packet_size`` on such a broker, or tell this
  device the limit (``mqtt.max_message_bytes``): an event over it is refused here, before it is
  sent (``SizeWatch.check``).

Where the limit is not said, a connection that the broker closes ``DROPS`` times in a row, each
time within ``SOON_S`` of the event being sent (or sent again on reconnecting), and before its
acknowledgement, is taken for the broker refusing it (``SizeWatch.refused``).  A broker that
restarts or a network that fails does not drop a connection at once, three times, each time
just after that one message went.  A mistaken guess loses nothing: the event is set aside, kept,
and tried again at the next start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from ..errors import EventTooLarge
from ..event_times import CORRECTED

DROPS = 3  # connections closed in a row just after the event went: the broker refuses it
SOON_S = 2.0  # "just after": the drop came within this long of the event being sent
FIX = ("raise the broker's limit (mosquitto: max_packet_size and message_size_limit; a hosted broker: its "
       "plan's message size), or make events smaller (each carries models.top_n candidates per plate, and "
       "a watch-list match its entry's label)")


def packet_size(topic: str, payload: bytes, qos: int, mqtt5: bool) -> int:
    """The bytes of the PUBLISH packet that carries ``payload`` to ``topic``: what a broker's
    packet size limit counts (fixed header, topic, packet id, MQTT 5's empty properties)."""
    remaining = 2 + len(topic.encode()) + (2 if qos else 0) + (1 if mqtt5 else 0) + len(payload)
    header, rest = 2, remaining >> 7
    while rest:  # the remaining length takes one more byte per 7 bits
        header, rest = header + 1, rest >> 7
    return header + remaining


def within(payload: dict[str, Any], fits: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """``payload`` as sent: as it is, or, for an event moved by a clock step that no longer
    ``fits`` the broker's limit, trimmed back into it.

    Why: the event fitted as it was queued, and a step's correction adds ``clock_corrected_s``
    (up to 36 bytes: its times keep their length), so an event just under the limit went over
    and was set aside: kept, and not delivered until the next start.  The correction's bytes are
    taken from its last candidates (the least likely readings, ``models.top_n``); where too few
    are left, the marker is left out instead (its times stay the corrected ones), which brings
    it back to its queued size."""
    if CORRECTED not in payload or fits(payload):
        return payload
    candidates = payload.get("candidates")
    if isinstance(candidates, list):
        for keep in range(len(candidates) - 1, 0, -1):  # the plate's own reading always stays
            trimmed = {**payload, "candidates": candidates[:keep]}
            if fits(trimmed):
                return trimmed
    return {key: value for key, value in payload.items() if key != CORRECTED}


class SizeWatch:
    """The broker's limit as said in its CONNACK (``limit``), and the event in flight with the
    connections closed just after it went.  The MQTT sink sends one event at a time (one delivery
    worker), so one is watched; thread-safe (paho's network thread reports the connections)."""

    def __init__(self, where: str, mqtt5: bool, max_message: int = 0) -> None:
        """``max_message``: the largest payload the broker takes, as the config says (0: unknown)."""
        self.where, self.mqtt5, self.max_message = where, mqtt5, max_message
        self.limit: int | None = None  # the connection's Maximum-Packet-Size; None: not said
        self._lock = threading.Lock()
        self._event: str | None = None  # the event in flight (its outbox row's id)
        self._infos: list[mqtt.MQTTMessageInfo] = []  # its messages, every copy sent
        self._body = ""  # what its last copies carry
        self._sent_at = 0.0
        self._drops = 0
        self._refused_at = -SOON_S  # when an event was last refused by the connection's drops

    def connected(self, properties: Any) -> None:
        """A connection is made: its limit; paho sends the message in flight again right after."""
        limit = getattr(properties, "MaximumPacketSize", None)
        with self._lock:
            self.limit = limit if isinstance(limit, int) and limit > 0 else None
            self._sent_at = time.monotonic()

    def dropped(self) -> bool:
        """A connection that was up dropped: True where it dropped just after the event in flight
        went (counted), so it is no flapping of the connection to warn of."""
        with self._lock:
            if not any(_pending(i) for i in self._infos):
                return False
            soon = time.monotonic() - self._sent_at <= SOON_S
            self._drops = self._drops + 1 if soon else 0  # in a row: a later drop is something else
            return soon

    def fits(self, size: int, payload: int) -> bool:
        """Whether ``check`` takes a packet of ``size`` bytes with a ``payload`` of this many."""
        return not (self.max_message and payload > self.max_message) and (self.limit is None or size <= self.limit)

    def check(self, event_id: str, size: int, payload: int) -> None:
        """Raise ``EventTooLarge`` where the broker said that it takes no packet of ``size`` bytes,
        or the config that it takes no ``payload`` this large (``event_id``: the event's own, as
        its receivers and the log know it)."""
        if self.max_message and payload > self.max_message:
            raise EventTooLarge(
                f"event {event_id} has a payload of {payload} bytes, over the {self.max_message} bytes that broker "
                f"{self.where} takes by mqtt.max_message_bytes (an MQTT 3.1.1 broker acknowledges a larger message "
                f"and discards it unseen); {FIX}, and set mqtt.max_message_bytes to the new limit",
                payload, self.max_message)
        limit = self.limit
        if limit is not None and size > limit:
            raise EventTooLarge(f"event {event_id} is an MQTT packet of {size} bytes, over the {limit} bytes that "
                                f"broker {self.where} takes (its Maximum-Packet-Size); {FIX}", size, limit)

    def sending(self, row_id: str, infos: list[mqtt.MQTTMessageInfo], body: str) -> None:
        """The event of outbox row ``row_id`` went as ``body`` (once more: a retry adds its copies)."""
        with self._lock:
            if row_id != self._event:
                self._event, self._infos, self._drops = row_id, [], 0
            self._infos.extend(infos)
            self._body = body
            self._sent_at = time.monotonic()

    def in_flight(self, row_id: str, body: str, count: int) -> list[mqtt.MQTTMessageInfo] | None:
        """The ``count`` messages of the last try of row ``row_id``, where they carry ``body``: a
        retry waits for them (or finds them acknowledged since it gave up), as paho sends them again
        itself on reconnecting (a copy more per retry: a broker hung for an hour got each event
        hundreds of times); None where the event is to be published (again: ``delivered``)."""
        with self._lock:
            last = self._infos[-count:] if row_id == self._event and body == self._body else []
            # a copy paho gave up on (QoS 0 not yet written when the connection dropped: CONN_LOST)
            # is sent by no one: published again, else the event and all behind it wait forever
            return last if len(last) == count and all(_held(i) for i in last) else None

    def refused(self, client: mqtt.Client, row_id: str, event_id: str, size: int) -> None:
        """Raise ``EventTooLarge`` where the broker closed the connection ``DROPS`` times just
        after the event went (``row_id``: its outbox row's); paho forgets its copies first, or it
        sends them again."""
        with self._lock:
            if row_id != self._event or self._drops < DROPS:
                return
            mids, drops = {info.mid for info in self._infos}, self._drops
            self._event, self._infos, self._drops = None, [], 0
            self._refused_at = time.monotonic()
        said = "" if self.mqtt5 else \
            "; an MQTT 3.1.1 broker does not say its limit, an MQTT 5 one does (mqtt.mqtt5: true)"
        forget(client, mids)
        raise EventTooLarge(
            f"event {event_id} ({size} bytes as an MQTT packet) is refused by broker {self.where}: it closed the "
            f"connection {drops} times in a row just after the event was sent, as a broker does with a message "
            f"over its size limit{said}; {FIX}", size)

    def wait_acked(self, client: mqtt.Client, infos: list[mqtt.MQTTMessageInfo], row_id: str, event_id: str,
                   size: int, timeout_s: float) -> bool:
        """Wait for the acknowledgement of each of ``infos`` (queued: their ``rc`` is success);
        False where one did not come within ``timeout_s``; ``refused`` looks between waits."""
        deadline = time.monotonic() + timeout_s
        try:
            for info in infos:
                while not info.is_published():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    info.wait_for_publish(min(left, 0.25))
                    self.refused(client, row_id, event_id, size)
        except (RuntimeError, ValueError):  # paho gave the copy up (QoS 0 and the connection dropped)
            self.lost(row_id)
            return False
        return True

    def lost(self, row_id: str) -> None:
        """paho gave up the copies of row ``row_id`` (or never queued them): the next try
        publishes the event again rather than wait on copies no one sends."""
        self.delivered(row_id)

    def grace_s(self) -> float:
        """How long the next event may wait for the connection: right after an event was refused
        by the drops, the one it dropped last is being made again (paho: within a second), and
        the next event waits for it rather than fail with "not connected" and a second warning."""
        return SOON_S if time.monotonic() - self._refused_at < SOON_S else 0.0

    def delivered(self, row_id: str) -> None:
        """The event of outbox row ``row_id`` was acknowledged (or refused in its PUBACK: sent
        again when retried): nothing in flight."""
        with self._lock:
            if row_id == self._event:
                self._event, self._infos, self._drops = None, [], 0


def _held(info: mqtt.MQTTMessageInfo) -> bool:
    """Queued by paho and not given up: acknowledged, or still to be sent or acknowledged."""
    try:
        info.is_published()
    except (RuntimeError, ValueError):  # never queued, or lost with the connection (QoS 0)
        return False
    return info.rc == mqtt.MQTT_ERR_SUCCESS


def _pending(info: mqtt.MQTTMessageInfo) -> bool:
    """Sent and not acknowledged (paho sends it again at each reconnection)."""
    try:
        return not info.is_published()
    except (RuntimeError, ValueError):  # never queued: not in flight
        return False


def forget(client: mqtt.Client, mids: set[int]) -> None:
    """Withdraw the messages ``mids`` from paho, which would send them again at each reconnection
    (and the broker close the connection each time).  paho has no public way to withdraw one
    message (2.2's ``drop_out_messages`` drops all of them, 2.0 has none): its queue is a dict by
    message id under its own lock, in every 2.x."""
    with client._out_message_mutex:
        for mid in mids:
            client._out_messages.pop(mid, None)
