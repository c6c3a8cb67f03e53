"""The device's own Home Assistant entities, made of the retained topics it already publishes.

Why: the per-camera entities (``mqtt_cameras.py``) say nothing of the service itself: whether it
runs, how much of the month's API quota is used, whether events pile up undelivered or a worker
hangs.  The device publishes all of that retained (``<p>/<d>/status``, ``health`` and
``usage``, see ``mqtt_device.py``), so each gets an entity an operator can put on a dashboard or
alert on:

* ``online``: connectivity, of the status topic itself; it has no availability, so a stopped
  or vanished device shows *Disconnected* rather than *unavailable*;
* ``problem``: on while a worker is stalled (the watchdog will restart the service) or events
  are set aside (too large for the broker: never delivered until someone acts); the health
  body is its attributes (``crashes``, ``dropped``, ...);
* ``calls``: the API calls of this month (a counter that the month resets), the usage body its
  attributes; ``call_quota``: the month's limit, unknown when there is none;
* ``waiting``: the events in the outbox not yet delivered; ``dropped``: the events the outbox
  dropped (bounds reached), ever.

The ids are ``edge_alpr_<device>_<what>``; no camera entity's id can be one of them, as each of
those ends in ``_plate``, ``_connected``, ``_view``, ``_fps`` or ``_match_<list>``.
"""

from __future__ import annotations

from typing import Any

from ..usage import UNLIMITED_CALLS

WHATS = ("online", "problem", "calls", "call_quota", "waiting", "dropped")  # the id ends, in order


def device_unique_id(device: str, what: str) -> str:
    """A device entity's unique id (also its discovery topic's object id and its entity id)."""
    return f"edge_alpr_{device}_{what}"


def discovery(ha_prefix: str, base: str, device: str, shared: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The discovery topics and configs of the device's entities (``device`` is its
    ``mqtt_discovery.ha_ids`` id, ``base`` its ``<p>/<d>``); ``shared`` carries the availability
    keys (the status topic) and the ``device`` block every entity of this device has."""
    status, health, usage = f"{base}/status", f"{base}/health", f"{base}/usage"
    available = {k: v for k, v in shared.items() if k != "device"}
    uid = {what: device_unique_id(device, what) for what in WHATS}

    def entity(component: str, what: str, name: str, **config: Any) -> tuple[str, dict[str, Any]]:
        return f"{ha_prefix}/{component}/{uid[what]}/config", {
            "name": name, "unique_id": uid[what], "default_entity_id": f"{component}.{uid[what]}",
            **config, "device": shared["device"]}

    counter = {"unit_of_measurement": "events", "entity_category": "diagnostic", **available}
    return [
        # the availability topic itself: always available, Connected or Disconnected
        entity("binary_sensor", "online", "Service", state_topic=status, device_class="connectivity",
               payload_on="online", payload_off="offline"),
        entity("binary_sensor", "problem", "Problem", state_topic=health, json_attributes_topic=health,
               device_class="problem", entity_category="diagnostic", **available,
               value_template="{{ 'ON' if value_json.get('stalled') or value_json.get('aside', 0) > 0 "
                              "else 'OFF' }}"),
        entity("sensor", "calls", "API calls this month", state_topic=usage, json_attributes_topic=usage,
               value_template="{{ value_json.calls }}", unit_of_measurement="calls",
               state_class="total_increasing", icon="mdi:counter", **available),
        # no quota: the API's "unlimited" number; Home Assistant shows a rendered None as unknown
        entity("sensor", "call_quota", "API call quota", state_topic=usage,
               value_template=f"{{{{ value_json.max_calls if value_json.max_calls < {UNLIMITED_CALLS} "
                              "else None }}",
               unit_of_measurement="calls", entity_category="diagnostic", icon="mdi:counter", **available),
        entity("sensor", "waiting", "Events waiting", state_topic=health,
               value_template="{{ value_json.get('pending', 0) }}", state_class="measurement",
               icon="mdi:tray-full", **counter),
        entity("sensor", "dropped", "Events dropped", state_topic=health,
               value_template="{{ value_json.get('dropped', 0) }}", state_class="total_increasing",
               icon="mdi:tray-remove", **counter),
    ]
