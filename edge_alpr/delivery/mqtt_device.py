"""What the broker holds for this device: its retained status, health, usage, camera health and
Home Assistant discovery, put back on each connection; and the sweep of the stale ones.

Why apart from the publisher's connection and events (``mqtt.py``): these messages are the
device's state as the broker keeps it (each a topic with its latest value), with their own rules
(sent when they change, again on each connection, ``stopped`` at a clean stop, removed once no
longer configured), while an event is a queue's item, sent once and acknowledged.  They share
one client, one lock and one connection state: ``RetainedMessages`` is the publisher's base
class, and the publisher sets those up (``MqttPublisher.__init__``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as mqtt

from .. import __version__
from . import mqtt_cameras, mqtt_connect, mqtt_limits, mqtt_retained, mqtt_writes
from .mqtt_config import MqttConfig

log = logging.getLogger("edge_alpr.delivery.mqtt")  # the publisher's story in the log
ONLINE, OFFLINE = "online", "offline"  # payloads of the availability topic
# a sweep ends on the echo of ``online``, a round trip; one not back by then never comes
SWEEP_WAIT_S = 5.0


class RetainedMessages:
    """The retained messages of one device (see the module docstring); thread-safe."""

    # set up by the publisher
    client: mqtt.Client
    _lock: threading.RLock  # re-entered: a connection publishes under it
    _connected: threading.Event
    _stopping: bool

    def __init__(self, cfg: MqttConfig, camera_ids: tuple[str, ...], lists: tuple[str, ...]) -> None:
        self.cfg = cfg
        self.device = mqtt_connect.device_id(cfg)
        self.base = f"{cfg.topic_prefix}/{self.device}"
        self.status_topic = f"{self.base}/status"
        self.health_topic = f"{self.base}/health"
        self.usage_topic = f"{self.base}/usage"
        self.camera_ids = camera_ids
        self.lists = lists  # watch-list names: one Home Assistant trigger per camera and list
        self._status_extra: dict[str, Any] = {}
        self._usage: dict[str, Any] | None = None  # the latest counters given
        self._last_usage: dict[str, Any] | None = None  # what the broker holds (this connection)
        self._cameras: dict[str, dict[str, Any]] = {}  # the newest health of each camera
        self._cameras_sent: dict[str, tuple[Any, Any]] = {}  # the state and view the broker holds (this connection)
        self._cleared: set[str] = set()  # stale retained topics this process has cleared
        self._sweep = mqtt_retained.Sweep(cfg.topic_prefix, self.device, cfg.discovery_prefix)
        # the device's Home Assistant id (``mqtt_device_id``), decided at the first sweep's end
        # and kept for the process: the entities must not move from id to id
        self.ha_id: str | None = None
        self._sweep_warned = False  # SWEEP_WAIT_S passed without the echo (``_sweep_overdue``)
        self._shared_warned = False  # another host's device found under this device id (once a process)
        self._sweep_timer: threading.Timer | None = None  # the wait for it, ended by the sweep or stop
        self.limits = mqtt_limits.Limits(cfg)  # the QoS and retain flag the broker takes

    def republish(self, client: mqtt.Client) -> None:
        """A new connection (under the lock): the sweep begins, then ``online`` and every retained
        message again (a broker without persistence has lost them); the discovery when the sweep
        ends (``_on_message``), once the ids other devices hold are known."""
        self._last_usage = None
        # before ``online``: its echo on the status topic ends the sweep (``_on_message``)
        keep = {mqtt_cameras.health_topic(self.base, cam) for cam in {*self.camera_ids, *self._cameras}}
        if self.limits.retain:  # a broker that keeps none has none stale, and names no other device
            client.subscribe(self._sweep.start(keep))
            self.cancel_sweep_wait()
            timer = threading.Timer(SWEEP_WAIT_S, self._sweep_overdue, (self._sweep.generation,))
            timer.name, timer.daemon = "mqtt-sweep-wait", True  # a process that stops does not wait for it
            self._sweep_timer = timer
            timer.start()
        else:
            self._sweep.finish()  # one a refused connection left unfinished
        self._publish_status(ONLINE)
        if not self._sweep.running:
            self._publish_discovery()
        if self._usage is not None:
            self.publish_usage(self._usage)
        self._cameras_sent = {}
        for camera_id, body in list(self._cameras.items()):
            self.publish_camera_health(camera_id, body)

    def publish_stopped(self) -> None:
        """A clean stop: each camera's health says ``stopped`` (under the lock)."""
        for camera_id in self.camera_ids:
            body = mqtt_retained.stopped(camera_id, self._cameras.get(camera_id))
            self._publish(mqtt_cameras.health_topic(self.base, camera_id), json.dumps(body), retain=True)

    def _publish(self, topic: str, payload: str, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish within the broker's limits (``mqtt_limits``): a retained message is sent
        unretained to a broker that keeps none."""
        with self._lock:
            if retain:
                self._sweep.sent(topic)  # current: the sweep leaves it alone
            return self.client.publish(topic, payload, qos=self.limits.qos, retain=retain and self.limits.retain)

    def _clear(self, topic: str) -> None:
        """Remove the retained message of ``topic`` (none on a broker that keeps none)."""
        if self.limits.retain:
            self._publish(topic, "", retain=True)

    def _publish_status(self, state: str) -> mqtt.MQTTMessageInfo:
        """The health details first, then the bare availability word (what ``stop`` waits on)."""
        self._publish_health(state)
        return self._publish(self.status_topic, state, retain=True)

    def _publish_health(self, state: str) -> None:
        body = {"state": state, "device_id": self.device, "host": self._sweep.host, "version": __version__,
                **self._status_extra}
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
            self._publish(self.usage_topic, json.dumps(body), retain=True)

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

    def set_lists(self, lists: tuple[str, ...]) -> None:
        """New watch-list names: triggers for new lists are announced, a deleted list's removed
        (and one whose topic changed: a list's id can depend on the others', ``ha_ids``)."""
        with self._lock:
            before = {topic for topic, _ in self._discovery()}
            self.lists = lists
            if (not self.cfg.ha_discovery or not self._connected.is_set() or self._stopping
                    or self._sweep.running):  # the sweep's end publishes them
                return
            configs = self._discovery()
            for topic in sorted(before - {topic for topic, _ in configs}):
                self._clear(topic)
            self._publish_discovery(configs)

    def _discovery(self) -> list[tuple[str, dict[str, Any]]]:
        """Home Assistant discovery (``mqtt_retained.discovery_configs``): none when it is off."""
        availability = {"availability_topic": self.status_topic, "payload_available": ONLINE,
                        "payload_not_available": OFFLINE}
        return mqtt_retained.discovery_configs(self.cfg.discovery_prefix, self.device, self.base, availability,
                                               self.camera_ids, self.lists, self.ha_id) if self.cfg.ha_discovery else []

    def _publish_discovery(self, configs: list[tuple[str, dict[str, Any]]] | None = None) -> None:
        for topic, config in self._discovery() if configs is None else configs:
            self._publish(topic, json.dumps(config), retain=True)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """The sweep (``mqtt_retained.Sweep``): note each stale retained message and the ids the
        discovery configs hold; at its end, publish the discovery and clear the stale ones.

        What other clients left retained is read here, in paho's network thread: an error raised
        ends that thread (no event goes again), so one is logged and the message skipped."""
        try:
            self._on_retained(client, msg)
        except Exception:
            log.exception("mqtt: skipped the retained message on %s (%d bytes): it could not be read",
                          msg.topic, len(msg.payload))

    def _on_retained(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        """``_on_message``'s work."""
        with self._lock:  # one step: a list published meanwhile is either seen as sent or sent after
            if self._stopping:
                return
            if self._sweep.done(msg):
                self._sweep_warned = False  # the echo came: a later one missing is news again
                client.unsubscribe(self._sweep.filters)
                self._end_sweep()
                return
            self._sweep.collect(msg)

    def _sweep_overdue(self, generation: int) -> None:
        """The sweep of a connection still running ``SWEEP_WAIT_S`` after it began: the broker
        does not send this device its own ``online``.  Where it sent the retained status before
        it, its ACL may drop what this device publishes (``mqtt_writes.likely_dropped``); else the
        ACL may forbid reading or writing.  Only a warning, once until an echo comes again: a broker
        or bridge that does not send a client its own publishes (EMQX ``ignore_loop_deliver``), or
        an echo come late after a stall, looks the same, so the events go as ever.  The sweep ends
        here, and the discovery goes all the same."""
        with self._lock:
            if (not self._sweep.running or self._sweep.generation != generation or self._stopping
                    or not self._connected.is_set()):
                return
            level = logging.DEBUG if self._sweep_warned else logging.WARNING
            self._sweep_warned = True  # once: the next connections are the same
            if self._sweep.status_seen:
                log.log(level, "mqtt: %s", mqtt_writes.likely_dropped(self.cfg, self.base, self.status_topic,
                                                                       SWEEP_WAIT_S))
            else:
                log.log(level, "mqtt: %s", mqtt_writes.unseen(self.cfg, self.base, self.status_topic, SWEEP_WAIT_S))
            self._end_sweep()

    def cancel_sweep_wait(self) -> None:
        """End the wait for the sweep's echo (``SWEEP_WAIT_S``) now: the sweep ended, or the
        device stops (a service that failed to start leaves no thread behind for 5 s)."""
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
            self._sweep_timer = None

    def _end_sweep(self) -> None:
        """Publish the discovery (the ids other devices hold now known), then clear what the
        sweep found stale (under the lock)."""
        self.cancel_sweep_wait()
        stale = self._sweep.finish()
        other = self._sweep.other_host
        if other is not None and not self._shared_warned:
            self._shared_warned = True
            log.warning("mqtt: a device on host %r is online under this device's topics %s/ (their retained status "
                        "and health say so): two devices with mqtt.device_id %r overwrite each other's retained "
                        "status, health and camera health, and Home Assistant shows them as one; give each device "
                        "its own mqtt.device_id", other, self.base, self.device)
        if self.ha_id is None:
            ids = self._sweep.ids
            self.ha_id = ids.decide()
            if ids.other_plain and self.ha_id != ids.plain:
                log.info("mqtt: another device on this broker holds the Home Assistant ids edge_alpr_%s_...: "
                         "this device's are edge_alpr_%s_...", ids.plain, self.ha_id)
        self._publish_discovery()
        for topic in stale:
            if topic in self._sweep.published:
                continue
            # once a topic: put back at each reconnect, it is another device with this id
            # (mqtt_claim.py), whose takeovers Outage warns of
            log.log(logging.DEBUG if topic in self._cleared else logging.INFO,
                    "mqtt: removing the retained %s (a camera or watch list no longer configured)", topic)
            self._cleared.add(topic)
            self._clear(topic)
