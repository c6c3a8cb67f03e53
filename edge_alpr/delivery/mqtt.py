"""MQTT delivery with paho-mqtt 2 (``CallbackAPIVersion.VERSION2``): the connection and the
events; the client and why a connection fails (said once per outage, with the fix) are
``mqtt_connect.py``'s, the device's retained messages ``mqtt_device.py``'s.

Topics (``<p>`` = topic prefix, ``<d>`` = device id):

* ``<p>/<d>/status``  retained bare ``online`` / ``offline``, the availability convention that
  Home Assistant, Node-RED and fleet tools read without a template.  The broker publishes the
  retained last will ``offline`` if the device vanishes (SIGKILL, power cut); ``stop`` publishes
  ``offline`` itself, or, when the broker does not confirm that, drops the connection without a
  DISCONNECT so that the broker publishes the will.
* ``<p>/<d>/health``  retained JSON ``{"state", "device_id", "host", "version", "dropped", "pending",
  "aside"}``, republished when they change (after a crash it is stale: ``status`` is the authority);
  ``host`` lets a device on another machine with this device id be warned of (``mqtt_retained``).
* ``<p>/<d>/<camera>/plate``  one JSON event per vehicle, QoS 1, from the outbox (sink ``"mqtt"``);
  ``<p>/<d>/<camera>/match/<list>`` the same event again when a watch list matches it.
* ``<p>/<d>/<camera>/health``  retained JSON per camera (``stream/health.py``), sent when its
  state or view changes and on every refresh of the usage counters (``mqtt_cameras.py``).
* ``<p>/<d>/usage``  retained JSON counters, republished when they change.
* optional Home Assistant discovery (``mqtt_discovery.py``): per camera a "last plate" sensor,
  a connectivity, a view problem and an fps sensor, and a device trigger per watch list.

Every retained message is published again on each (re)connect, so a broker restarted without
persistence gets them back at once; a clean stop leaves each camera ``stopped``, and each
connection removes the retained ones of cameras and lists no longer configured
(``mqtt_retained.py``).  Events are acked in the outbox only after the broker's PUBACK: a broker
that is down loses nothing; a publish that times out is retried (same ``id``; while paho still holds
the last try's copy, which it sends again itself on reconnecting, that copy is waited for, not
another one sent; a copy paho gave up, at QoS 0 one the connection dropped before it was written,
is not: the event is sent again); an event over the broker's size limit raises ``EventTooLarge`` and is set
aside (``mqtt_size.py``); one an MQTT 5 broker refuses in its PUBACK (its ACL: 0x87) is a
failure, kept and retried (``mqtt_puback.py``); an MQTT 3.1.1 broker that may drop the device's
publishes unseen (its ACL) is warned of on connecting, the events going as before (``mqtt_writes.py``).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as mqtt

from ..errors import EdgeAlprError, NotConnected
from ..event_times import CORRECTED
from . import mqtt_connect, mqtt_outage, mqtt_puback, mqtt_retained, mqtt_size
from .mqtt_config import MqttConfig
from .mqtt_device import OFFLINE, RetainedMessages
from .outbox import OutboxItem

log = logging.getLogger(__name__)
MQTT_SINK = "mqtt"
FIRST_CONNECT_S = 3.0  # a backlog at start waits for the first connection, not "failed: connecting"


class MqttError(EdgeAlprError):
    """A publish was not confirmed by the broker (retried by the outbox worker)."""


class MqttNotConnected(MqttError, NotConnected):
    """Not connected to the broker: the connection warns of it (``mqtt_outage.Outage``)."""


class MqttPublisher(RetainedMessages):
    """One broker connection; thread-safe publishes; see the module docstring for topics."""

    def __init__(self, cfg: MqttConfig, camera_ids: tuple[str, ...] = (),
                 environ: Mapping[str, str] | None = None, lists: tuple[str, ...] = (),
                 stop: threading.Event | None = None) -> None:
        super().__init__(cfg, camera_ids, lists)
        self._stop = stop or threading.Event()  # the process's: ends the wait for a connection
        self._connected = threading.Event()
        self._first_by = 0.0  # monotonic: queued events wait this long for the first connection
        self._stopping = False
        self._lock = threading.RLock()  # re-entered: _on_connect publishes under it
        self._has_password = bool(mqtt_connect.resolve_password(cfg, environ))
        self._outage = mqtt_outage.Outage(cfg, mqtt_connect.client_id(cfg))  # why not connected, said once an outage
        self._sizes = mqtt_size.SizeWatch(self._outage.where, cfg.mqtt5, cfg.max_message_bytes)  # the broker's limits
        self.client = mqtt_connect.make_client(cfg, mqtt_connect.client_id(cfg), self.status_topic, OFFLINE, environ)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_pre_connect = self._on_pre_connect
        self._attempt = False  # a connection was tried since the last disconnect said
        self.client.on_message = self._on_message
        self._acks = mqtt_puback.Acks()  # the broker's refusals, from the PUBACKs' reason codes
        self.client.on_publish = self._acks.on_publish

    # -- connection ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (a missing broker is retried, never fatal)."""
        self._first_by = time.monotonic() + FIRST_CONNECT_S
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def up(self) -> threading.Event:
        """Set while connected (read only): the delivery worker's retry waits for it."""
        return self._connected

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            adapted = self.limits.refused(reason)  # a limit of the broker's: warned of, kept within from now
            if adapted:
                self._set_will()
            self._outage.failed(mqtt_connect.why_refused(reason, self.cfg, self._has_password), refusal=True,
                                quiet=adapted)
            return
        # one critical section with stop(): either ``online`` is on the wire before stop() says
        # ``offline``, or stop() came first and this connection says nothing (the will does)
        with self._lock:
            if self._stopping:
                return
            self._sizes.connected(properties)
            if self.limits.connected(properties):
                self._set_will()
            self._outage.ended(self.device)
            self._connected.set()
            self.republish(client)  # a broker without persistence has lost the retained ones

    def _set_will(self) -> None:
        """The last will within the broker's limits (``mqtt_limits``): sent with the next CONNECT."""
        self.client.will_set(self.status_topic, OFFLINE, qos=self.limits.qos, retain=self.limits.retain)

    def notice(self) -> str | None:
        """What the broker limits, in a few words with the fix (``Limits.notice``), for the console
        and ``/info/``; None where nothing."""
        return self.limits.notice()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        """paho calls this inside its ``except OSError``: ``sys.exc_info`` is the reason."""
        if not self._stopping:
            self._outage.failed(mqtt_connect.why_failed(sys.exc_info()[1], self.cfg, client.connect_timeout))

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        self._attempt = True

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        # paho 2.2 may say one lost connection twice (a read and a write both failing on it):
        # the second came while not connected and read as a hang-up before the login
        if not self._attempt:
            return
        self._attempt = False
        if not self._connected.is_set():
            if not self._stopping:  # hung up without a CONNACK (a refusal's is said already)
                self._outage.hung_up(mqtt_connect.why_closed(reason, self.cfg,
                                                                    self._outage.accepted_before))
        elif self._stopping:  # our own DISCONNECT: no lost connection
            log.info("mqtt: disconnected from %s:%s (%s)", self.cfg.host, self.cfg.port, reason)
        else:  # an outage: one warning if reconnecting fails, naming why (``mqtt_outage.Outage``);
            # dropped just after an event went: the broker refusing it, no flapping (``mqtt_size``)
            self._outage.lost(mqtt_connect.why_lost(reason), flapping=not self._sizes.dropped())
        self._connected.clear()

    def stop(self, timeout: float = 1.0) -> None:
        """Leave ``offline`` (retained) on the broker and disconnect, in about ``timeout`` s.

        Connected: publish ``offline`` and wait for the broker's ack, then disconnect cleanly.
        Otherwise (not yet connected, connecting, or no ack in time) the network thread is
        stopped and the socket closed without a DISCONNECT: a broker that accepted the
        connection then publishes the last will ``offline``, so no ``online`` stays behind.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            self._stopping = True  # a connection made from now on says nothing
            self.cancel_sweep_wait()
        confirmed = False
        connected = self._connected.is_set()
        if connected:
            with self._lock:
                self.publish_stopped()
            info = self._publish_status(OFFLINE)
            try:
                info.wait_for_publish(timeout)
                confirmed = info.is_published()
            except (RuntimeError, ValueError):
                pass
        if confirmed:
            self.client.disconnect()
        mqtt_connect.stop_loop(self.client, max(0.1, deadline - time.monotonic()), connected)
        if not confirmed:
            sock = self.client.socket()
            if sock is not None:
                try:
                    sock.close()  # no DISCONNECT: the broker publishes the will
                except OSError:
                    pass
        self._connected.clear()

    # -- events ----------------------------------------------------------------------------

    def send(self, item: OutboxItem) -> None:
        """Outbox sink: publish one event and wait for the PUBACK, else raise (retry later);
        ``EventTooLarge`` where the broker cannot take it (``mqtt_size.py``: set aside)."""
        wait_s = max(self._sizes.grace_s(), self._first_by - time.monotonic(), 0.0)
        if not mqtt_connect.wait_connected(self._connected, self._stop, wait_s):
            raise MqttNotConnected(self._outage.not_connected())
        topics = mqtt_retained.event_topics(self.base, item.payload)
        event_id = str(item.payload.get("id", item.id))  # as the receivers and the log know it
        payload = mqtt_size.within(item.payload, lambda p: self._sizes.fits(*self._sizes_of(topics, p)))
        if payload is not item.payload:
            log.info("mqtt: event %s, its times moved by a clock step, went over the broker's limit with the "
                     "correction: sent with %s", event_id, "its last candidates left out" if CORRECTED in payload
                     else f"{CORRECTED} left out (its times are the corrected ones)")
        body = json.dumps(payload)
        size = self._sizes_of(topics, payload)[0]
        self._sizes.refused(self.client, item.id, event_id, size)  # by the drops of an earlier try
        self._sizes.check(event_id, size, len(body.encode()))
        sent = self._sizes.in_flight(item.id, body, len(topics))  # a retry: paho still holds the last try's
        if sent is None:
            sent = [self._publish(topic, body) for topic in topics]
            failed = next((info.rc for info in sent if info.rc != mqtt.MQTT_ERR_SUCCESS), None)
            if failed is not None:  # paho keeps a QoS 1 copy it could not send (NO_CONN) and sends it on
                # reconnecting: withdrawn, or the retry's copy would reach the broker beside it (a QUEUE_SIZE
                # info may carry the id of another message paho holds: that one stays)
                kept = (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)
                mqtt_size.forget(self.client, {info.mid for info in sent if info.rc in kept})
                raise MqttError(f"publish failed: {mqtt.error_string(failed)}")
            self._sizes.sending(item.id, sent, body)
        # both confirmed, or the event is retried (both again); refused, it is set aside
        if not self._sizes.wait_acked(self.client, sent, item.id, event_id, size, self.cfg.publish_timeout_s):
            if self._sizes.in_flight(item.id, body, len(topics)) is None:  # paho gave its copies up
                raise MqttError("the connection dropped before the event was sent (QoS 0: no copy is kept to "
                                "send again on reconnecting); it is published again")
            raise MqttError(f"no PUBACK within {self.cfg.publish_timeout_s} s")
        self._sizes.delivered(item.id)  # a retry, refused or not, sends it again
        refused = self._acks.refusal(sent, topics)  # an MQTT 5 broker's reason code >= 0x80
        if refused is not None:
            raise MqttError(mqtt_puback.why(*refused, event_id, self.cfg))

    def _sizes_of(self, topics: list[str], payload: dict[str, Any]) -> tuple[int, int]:
        """The largest packet that carries ``payload`` to one of ``topics``, and the payload's bytes."""
        body = json.dumps(payload).encode()
        return max(mqtt_size.packet_size(t, body, self.limits.qos, self.cfg.mqtt5) for t in topics), len(body)
