"""MQTT delivery with paho-mqtt 2 (``CallbackAPIVersion.VERSION2``); the client and why a
connection fails (said once per outage, with the fix) are ``mqtt_connect.py``'s.

Topics (``<p>`` = topic prefix, ``<d>`` = device id):

* ``<p>/<d>/status``  retained bare ``online`` / ``offline``, the availability convention that
  Home Assistant, Node-RED and fleet tools read without a template.  The broker publishes the
  retained last will ``offline`` if the device vanishes (SIGKILL, power cut); ``stop`` publishes
  ``offline`` itself, or, when the broker does not confirm that, drops the connection without a
  DISCONNECT so that the broker publishes the will.
* ``<p>/<d>/health``  retained JSON ``{"state", "device_id", "version", "dropped", "pending", "aside"}``,
  republished when they change (after a crash it is stale: ``status`` is the authority).
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
that is down loses nothing; a publish that times out is retried (same ``id``); an event over the
broker's size limit raises ``EventTooLarge`` and is set aside (``mqtt_size.py``); one an MQTT 5
broker refuses in its PUBACK (its ACL: 0x87) is a failure, kept and retried (``mqtt_puback.py``).
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

from .. import __version__
from ..errors import EdgeAlprError, NotConnected
from . import mqtt_cameras, mqtt_connect, mqtt_discovery, mqtt_puback, mqtt_retained, mqtt_size
from .mqtt_config import MqttConfig
from .outbox import OutboxItem

log = logging.getLogger(__name__)
MQTT_SINK = "mqtt"
ONLINE, OFFLINE = "online", "offline"  # payloads of the availability topic
FIRST_CONNECT_S = 3.0  # a backlog at start waits for the first connection, not "failed: connecting"


class MqttError(EdgeAlprError):
    """A publish was not confirmed by the broker (retried by the outbox worker)."""


class MqttNotConnected(MqttError, NotConnected):
    """Not connected to the broker: the connection warns of it (``mqtt_connect.Outage``)."""


class MqttPublisher:
    """One broker connection; thread-safe publishes; see the module docstring for topics."""

    def __init__(self, cfg: MqttConfig, camera_ids: tuple[str, ...] = (),
                 environ: Mapping[str, str] | None = None, lists: tuple[str, ...] = (),
                 stop: threading.Event | None = None) -> None:
        self.cfg = cfg
        self._stop = stop or threading.Event()  # the process's: ends the wait for a connection
        self.device = mqtt_connect.device_id(cfg)
        self.base = f"{cfg.topic_prefix}/{self.device}"
        self.status_topic = f"{self.base}/status"
        self.health_topic = f"{self.base}/health"
        self.usage_topic = f"{self.base}/usage"
        self.camera_ids = camera_ids
        self.lists = lists  # watch-list names: one Home Assistant trigger per camera and list
        self._connected = threading.Event()
        self._first_by = 0.0  # monotonic: queued events wait this long for the first connection
        self._status_extra: dict[str, Any] = {}
        self._usage: dict[str, Any] | None = None  # the latest counters given
        self._last_usage: dict[str, Any] | None = None  # what the broker holds (this connection)
        self._cameras: dict[str, dict[str, Any]] = {}  # the newest health of each camera
        self._cameras_sent: dict[str, tuple[Any, Any]] = {}  # the state and view the broker holds (this connection)
        self._stopping = False
        self._cleared: set[str] = set()  # stale retained topics this process has cleared
        self._sweep = mqtt_retained.Sweep(self.base, self.device, cfg.ha_prefix, self.status_topic)
        self._lock = threading.RLock()  # re-entered: _on_connect publishes under it
        self._has_password = bool(mqtt_connect.resolve_password(cfg, environ))
        self._outage = mqtt_connect.Outage(cfg, mqtt_connect.client_id(cfg))  # why not connected, said once an outage
        self._sizes = mqtt_size.SizeWatch(self._outage.where, cfg.mqtt5, cfg.max_message_bytes)  # the broker's limits
        self.client = mqtt_connect.make_client(cfg, mqtt_connect.client_id(cfg), self.status_topic, OFFLINE, environ)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
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

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self._outage.failed(mqtt_connect.why_refused(reason, self.cfg, self._has_password), refusal=True)
            return
        # one critical section with stop(): either ``online`` is on the wire before stop() says
        # ``offline``, or stop() came first and this connection says nothing (the will does)
        with self._lock:
            if self._stopping:
                return
            self._last_usage = None  # a broker without persistence has lost the retained ones
            self._sizes.connected(properties)
            self._outage.ended(self.device)
            self._connected.set()
            # before ``online``: its echo on the status topic ends the sweep (``_on_message``)
            keep = [mqtt_cameras.health_topic(self.base, cam) for cam in {*self.camera_ids, *self._cameras}]
            discovery = self._discovery()  # none with ha_discovery off
            client.subscribe(self._sweep.start({*keep, *(topic for topic, _ in discovery)}))
            self._publish_status(ONLINE)
            self._publish_discovery(discovery)
            if self._usage is not None:
                self.publish_usage(self._usage)
            self._cameras_sent = {}
            for camera_id, body in list(self._cameras.items()):
                self.publish_camera_health(camera_id, body)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        """paho calls this inside its ``except OSError``: ``sys.exc_info`` is the reason."""
        if not self._stopping:
            self._outage.failed(mqtt_connect.why_failed(sys.exc_info()[1], self.cfg, client.connect_timeout))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        if not self._connected.is_set():
            if not self._stopping:  # hung up without a CONNACK (a refusal's is said already)
                self._outage.hung_up(mqtt_connect.why_closed(reason, self.cfg,
                                                                    self._outage.accepted_before))
        elif self._stopping:  # our own DISCONNECT: no lost connection
            log.info("mqtt: disconnected from %s:%s (%s)", self.cfg.host, self.cfg.port, reason)
        else:  # an outage: one warning if reconnecting fails, naming why (``mqtt_connect.Outage``);
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
        confirmed = False
        connected = self._connected.is_set()
        if connected:
            with self._lock:
                for camera_id in self.camera_ids:
                    body = mqtt_retained.stopped(camera_id, self._cameras.get(camera_id))
                    self._publish(mqtt_cameras.health_topic(self.base, camera_id), json.dumps(body), retain=True)
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

    # -- publishing ------------------------------------------------------------------------

    def _publish(self, topic: str, payload: str, retain: bool = False) -> mqtt.MQTTMessageInfo:
        with self._lock:
            if retain:
                self._sweep.sent(topic)  # current: the sweep leaves it alone
            return self.client.publish(topic, payload, qos=self.cfg.qos, retain=retain)

    def _publish_status(self, state: str) -> mqtt.MQTTMessageInfo:
        """The health details first, then the bare availability word (what ``stop`` waits on)."""
        self._publish_health(state)
        return self._publish(self.status_topic, state, retain=True)

    def _publish_health(self, state: str) -> None:
        body = {"state": state, "device_id": self.device, "version": __version__, **self._status_extra}
        self._publish(self.health_topic, json.dumps(body), retain=True)

    def set_status(self, **extra: Any) -> None:
        """Update the health fields (e.g. outbox ``dropped``); republished if changed."""
        if extra != self._status_extra:
            self._status_extra = dict(extra)
            if self._connected.is_set() and not self._stopping:
                self._publish_health(ONLINE)

    def publish_usage(self, counters: Mapping[str, Any]) -> None:
        """Retained usage counters, sent when they changed or the connection is new."""
        body = dict(counters)
        with self._lock:
            self._usage = body
            if not self._connected.is_set() or self._stopping or body == self._last_usage:
                return
            self._last_usage = body
            self.client.publish(self.usage_topic, json.dumps(body), qos=self.cfg.qos, retain=True)

    def publish_camera_health(self, camera_id: str, body: Mapping[str, Any], force: bool = False) -> None:
        """A camera's retained health, sent when its state or view changed, when ``force`` (the
        periodic refresh) or the connection is new."""
        with self._lock:
            self._cameras[camera_id] = dict(body)
            if not self._connected.is_set() or self._stopping:
                return
            shown = (body.get("state"), body.get("view"))
            if not force and self._cameras_sent.get(camera_id) == shown:
                return
            self._cameras_sent[camera_id] = shown
            self._publish(mqtt_cameras.health_topic(self.base, camera_id), json.dumps(dict(body)),
                          retain=True)

    def send(self, item: OutboxItem) -> None:
        """Outbox sink: publish one event and wait for the PUBACK, else raise (retry later);
        ``EventTooLarge`` where the broker cannot take it (``mqtt_size.py``: set aside)."""
        wait_s = max(self._sizes.grace_s(), self._first_by - time.monotonic(), 0.0)
        if not mqtt_connect.wait_connected(self._connected, self._stop, wait_s):
            raise MqttNotConnected(self._outage.not_connected())
        body = json.dumps(item.payload)
        topics = mqtt_retained.event_topics(self.base, item.payload)
        size = max(mqtt_size.packet_size(topic, body.encode(), self.cfg.qos, self.cfg.mqtt5) for topic in topics)
        event_id = str(item.payload.get("id", item.id))  # as the receivers and the log know it
        self._sizes.refused(self.client, item.id, event_id, size)  # by the drops of an earlier try
        self._sizes.check(event_id, size, len(body.encode()))
        sent = [self._publish(topic, body) for topic in topics]
        for info in sent:
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise MqttError(f"publish failed: {mqtt.error_string(info.rc)}")
        self._sizes.sending(item.id, sent)
        # both confirmed, or the event is retried (both again); refused, it is set aside
        if not self._sizes.wait_acked(self.client, sent, item.id, event_id, size, self.cfg.publish_timeout_s):
            raise MqttError(f"no PUBACK within {self.cfg.publish_timeout_s} s")
        self._sizes.delivered(item.id)
        refused = self._acks.refusal(sent, topics)  # an MQTT 5 broker's reason code >= 0x80
        if refused is not None:
            raise MqttError(mqtt_puback.why(*refused, event_id, self.cfg))

    def set_lists(self, lists: tuple[str, ...]) -> None:
        """New watch-list names: triggers for new lists are announced, a deleted list's removed."""
        with self._lock:
            gone = [name for name in self.lists if name not in lists]
            self.lists = lists
            if not self.cfg.ha_discovery or not self._connected.is_set() or self._stopping:
                return
            for cam in self.camera_ids:
                for name in gone:
                    self._publish(mqtt_discovery.trigger_topic(self.cfg.ha_prefix, self.device, cam, name), "",
                                  retain=True)
            self._publish_discovery()

    def _discovery(self) -> list[tuple[str, dict[str, Any]]]:
        """Home Assistant discovery (``mqtt_retained.discovery_configs``): none when it is off."""
        availability = {"availability_topic": self.status_topic, "payload_available": ONLINE,
                        "payload_not_available": OFFLINE}
        return mqtt_retained.discovery_configs(self.cfg.ha_prefix, self.device, self.base, availability,
                                               self.camera_ids, self.lists) if self.cfg.ha_discovery else []

    def _publish_discovery(self, configs: list[tuple[str, dict[str, Any]]] | None = None) -> None:
        for topic, config in self._discovery() if configs is None else configs:
            self._publish(topic, json.dumps(config), retain=True)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """The sweep (``mqtt_retained.Sweep``): clear each stale retained message found."""
        if self._sweep.done(msg):
            client.unsubscribe(self._sweep.filters)
            return
        with self._lock:  # one step: a list published meanwhile is either seen as sent or sent after
            if not self._stopping and self._sweep.stale(msg):
                # once a topic: put back at each reconnect, it is another device with this id
                # (mqtt_claim.py), whose takeovers Outage warns of
                log.log(logging.DEBUG if msg.topic in self._cleared else logging.INFO,
                        "mqtt: removing the retained %s (a camera or watch list no longer configured)", msg.topic)
                self._cleared.add(msg.topic)
                self._publish(msg.topic, "", retain=True)
