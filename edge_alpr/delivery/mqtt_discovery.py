"""Home Assistant MQTT discovery: the retained configs that make a device's cameras and watch
lists appear there without a line of YAML.

Why apart from the connection (``mqtt.py``): what Home Assistant is told is a matter of its
discovery schema (unique ids, entity ids, templates), not of when and how the broker is spoken
to; the publisher sends these on every (re)connect and when the watch lists change.  The
per-camera health entities are ``mqtt_cameras.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import __version__


def unique_id(device: str, camera_id: str, what: str) -> str:
    """An entity's unique id: ``edge_alpr_<device>_<camera>_<what>`` with ``-`` and ``.`` as
    ``_`` (also the object id of the entity id Home Assistant makes from it)."""
    return f"edge_alpr_{device}_{camera_id}_{what}".replace("-", "_").replace(".", "_")


def device_block(device: str) -> dict[str, Any]:
    """The ``device`` every entity of this device carries, so Home Assistant groups them."""
    return {"identifiers": [f"edge_alpr_{device}"], "name": f"edge-alpr {device}",
            "manufacturer": "edge-alpr", "sw_version": __version__}


def trigger_topic(ha_prefix: str, device: str, camera_id: str, watch_list: str) -> str:
    """Where the device trigger of one camera and watch list is announced (and removed)."""
    return f"{ha_prefix}/device_automation/{unique_id(device, camera_id, f'match_{watch_list}')}/config"


def trigger(camera_id: str, watch_list: str, match_topic: str, device: Mapping[str, Any]) -> dict[str, Any]:
    """A device trigger that fires on each message of ``match_topic`` (one camera, one list)."""
    return {"automation_type": "trigger", "type": "plate_match", "subtype": f"{watch_list} ({camera_id})",
            "topic": match_topic, "device": dict(device)}


def plate_sensor(ha_prefix: str, device: str, camera_id: str, plate_topic: str,
                 shared: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The "last plate" sensor of one camera: its discovery topic and config; ``shared`` carries
    the availability keys and the ``device`` block every entity of this device has."""
    uid = unique_id(device, camera_id, "plate")
    availability = {k: v for k, v in shared.items() if k != "device"}
    return f"{ha_prefix}/sensor/{uid}/config", {
        "name": f"{camera_id} last plate",
        "unique_id": uid,
        # the entity id Home Assistant creates (``object_id`` is deprecated since 2025.10)
        "default_entity_id": f"sensor.{uid}",
        "state_topic": plate_topic,
        "value_template": "{{ value_json.plate }}",
        "json_attributes_topic": plate_topic,
        **availability,
        "icon": "mdi:car",
        "device": shared["device"],
    }
