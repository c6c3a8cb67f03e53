"""The retained messages a device owns besides its availability: the Home Assistant discovery
configs it announces, the camera health it leaves on a clean stop, and the stale ones it removes.

Why: a retained message outlives its publisher.  Left alone, a stopped service would leave each
camera ``streaming``, and a camera removed from the config (or a deleted watch list) would keep
its last health and its Home Assistant entities for ever.  So:

* a clean stop publishes each camera's last health once more with ``state: stopped`` (after an
  unclean one the broker's last will says ``offline`` on the status topic, and every entity,
  whose availability is that topic, shows unavailable);
* on each (re)connect the publisher subscribes (``Sweep.filters``) to its own camera health
  topics and to the discovery topics, and clears, with an empty retained payload, every retained
  one it no longer publishes (``Sweep.stale``): the health of a camera no longer configured, and
  the discovery configs of this device (by their ``device`` identifier) that are not current,
  which is all of them when ``ha_discovery`` is off.  The sweep ends when the device's own
  ``online`` comes back on the status topic: a broker hands a subscriber the retained messages
  before what is published after the subscription.  A topic this connection has published
  retained is never stale (``Sweep.sent``).
* the same configs tell which Home Assistant id this device may take where another device's
  name folds to its own (``mqtt_device_id``), so its discovery is published when the sweep
  ends, and the stale configs are cleared after it (``Sweep.finish``).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as mqtt

from . import mqtt_cameras, mqtt_device_id, mqtt_discovery, mqtt_entities

COMPONENTS = ("sensor", "binary_sensor", "device_automation")  # what discovery announces


def plate_topic(base: str, camera_id: str) -> str:
    """``<p>/<d>/<camera>/plate``: one event per vehicle."""
    return f"{base}/{camera_id}/plate"


def match_topic(base: str, camera_id: str, watch_list: str) -> str:
    """``<p>/<d>/<camera>/match/<list>``: the events a watch list matches."""
    return f"{base}/{camera_id}/match/{watch_list}"


def event_topics(base: str, event: Mapping[str, Any]) -> list[str]:
    """Where ``event`` goes: its camera's plate topic and, when a watch list matched it, the
    list's match topic."""
    camera = str(event.get("camera_id", "unknown"))
    match = event.get("match")
    listed = match.get("list") if isinstance(match, dict) else None
    return [plate_topic(base, camera)] + ([match_topic(base, camera, listed)] if isinstance(listed, str) else [])


def discovery_configs(ha_prefix: str, device: str, base: str, availability: Mapping[str, Any],
                      cameras: tuple[str, ...], lists: tuple[str, ...],
                      dev: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Every discovery topic and config of the device: its own entities (``mqtt_entities``), a
    device trigger per camera and watch list, and per camera a "last plate" sensor and its health
    entities; ``availability`` holds the keys that tie an entity to the status topic, ``dev`` is
    the device's id (``mqtt_device_id``; by default ``ha_ids`` of its name alone)."""
    block = mqtt_discovery.device_block(device)
    dev = dev or mqtt_discovery.ha_ids([device])[device]
    cams, names = mqtt_discovery.ha_ids(cameras), mqtt_discovery.ha_ids(lists)
    out = [(mqtt_discovery.trigger_topic(ha_prefix, dev, cams[cam], names[name]),
            mqtt_discovery.trigger(cam, name, match_topic(base, cam, name), block))
           for cam in cameras for name in lists]
    shared = {**availability, "device": block}
    out += mqtt_entities.discovery(ha_prefix, base, dev, shared)
    for cam in cameras:
        out.append(mqtt_discovery.plate_sensor(ha_prefix, dev, cams[cam], cam, plate_topic(base, cam), shared))
        out += mqtt_cameras.discovery(ha_prefix, base, dev, cams[cam], cam, shared)
    return out


def stopped(camera_id: str, last: Mapping[str, Any] | None) -> dict[str, Any]:
    """A camera's health after a clean stop: its last counters, state ``stopped``."""
    return {**(last or {"camera_id": camera_id}), "state": "stopped"}


class Sweep:
    """Which retained messages found on connecting are stale, and which Home Assistant id the
    device may take (see the module docstring)."""

    def __init__(self, prefix: str, device: str, ha_prefix: str) -> None:
        self.prefix, self.device = prefix, device
        self.base = f"{prefix}/{device}"
        self.status_topic = f"{self.base}/status"
        self.identifier = mqtt_discovery.device_block(device)["identifiers"][0]
        self.ha_prefix = ha_prefix
        self.filters = [mqtt_cameras.health_topic(self.base, "+"), self.status_topic, f"{self.base}/health",
                        *(f"{ha_prefix}/{component}/+/config" for component in COMPONENTS)]
        self.running = False
        self.generation = 0  # of the sweeps: one per connection
        self.keep: set[str] = set()
        self.published: set[str] = set()  # retained topics this connection has published
        self.found: dict[str, None] = {}  # stale ones, cleared when the sweep ends
        self.status_seen = False  # the broker sent the retained status: the account may read it
        self.health_topic = f"{self.base}/health"
        self.host = socket.gethostname()  # said in the device's health: another host there shares its id
        self.other_host: str | None = None  # another host whose device is online under this device id
        self._online = self._other = ""  # the retained status, and the host the retained health names
        self.ids = mqtt_device_id.DeviceIds(device)  # the ids the discovery configs found hold

    def start(self, keep: set[str]) -> list[tuple[str, int]]:
        """The subscriptions of a sweep that keeps ``keep`` (the camera health topics), and the
        device's discovery, published when the sweep ends; subscribed before the device says
        ``online``, whose echo ends it."""
        self.keep, self.published, self.found, self.running = keep, set(), {}, True
        self.status_seen, self.other_host, self._online, self._other = False, None, "", ""
        self.generation += 1
        self.ids = mqtt_device_id.DeviceIds(self.device)
        return [(topic, 0) for topic in self.filters]

    def sent(self, topic: str) -> None:
        """A retained message this connection published (or cleared): what the broker holds
        there is current, whatever older copy the sweep is still handed."""
        self.published.add(topic)

    def done(self, msg: mqtt.MQTTMessage) -> bool:
        """The device's own ``online`` (a live message, not the retained one) during a sweep:
        every retained message of the subscriptions has come before it."""
        return self.running and msg.topic == self.status_topic and not msg.retain

    def finish(self) -> list[str]:
        """The end of the sweep (the device's discovery published): the stale topics to clear."""
        self.running = False
        return [topic for topic in self.found if topic not in self.published]

    def collect(self, msg: mqtt.MQTTMessage) -> None:
        """Note ``msg`` if it is a stale retained message of this device's, and the id it holds
        if it is a discovery config of this device or another."""
        if not self.running:
            return
        if msg.topic == self.status_topic and msg.retain:
            self.status_seen = True
            self._online = bytes(msg.payload).decode(errors="replace")
        elif msg.topic == self.health_topic and msg.retain:
            self._other = _other_host(msg.payload, self.host)
        if self._online == "online" and self._other:  # another machine's device is up under this id
            self.other_host = self._other
        if self.stale(msg):
            self.found[msg.topic] = None
        if msg.retain and msg.payload and msg.topic.startswith(f"{self.ha_prefix}/"):
            self.ids.see(msg.topic, msg.payload)

    def stale(self, msg: mqtt.MQTTMessage) -> bool:
        """Whether a retained message found is this device's and no longer published."""
        topic, payload = msg.topic, msg.payload
        if (not msg.retain or not payload or topic in (self.status_topic, self.health_topic) or topic in self.keep
                or topic in self.published):
            return False
        if topic.startswith(f"{self.base}/"):  # <p>/<d>/<camera>/health: only the device writes there
            return True
        config = mqtt_discovery.parsed(payload)
        device = config.get("device") if isinstance(config, dict) else None
        ids = device.get("identifiers") if isinstance(device, dict) else None
        return isinstance(ids, list) and self.identifier in ids


def _other_host(payload: bytes | bytearray, host: str) -> str:
    """The host that the device's retained health (``<p>/<d>/health``) names where it is online
    and not ``host``; "" otherwise (this machine's, stopped, or from a version that names none)."""
    body = mqtt_discovery.parsed(payload)
    other = body.get("host") if isinstance(body, dict) and body.get("state") == "online" else None
    return other if isinstance(other, str) and other != host else ""
