"""Per-camera health on MQTT: the retained ``<p>/<d>/<camera>/health`` topic and its Home
Assistant entities.

Why separate from the device's ``<p>/<d>/health``: the device can be online while one of its
cameras has been unreachable for a day; each camera gets its own retained message (the body is
``stream.health.camera_health``) and, with discovery on, a connectivity binary sensor (on while
the camera is ``streaming`` or ``waiting``), a problem binary sensor (on while its ``view`` is ``dark``,
``bright`` or ``frozen``: frames arrive but show nothing useful) and a sensor of its recognised
frames per second.
"""

from __future__ import annotations

from typing import Any

from .mqtt_discovery import unique_id


def health_topic(base: str, camera_id: str) -> str:
    """``<p>/<d>/<camera>/health``."""
    return f"{base}/{camera_id}/health"


def discovery(ha_prefix: str, base: str, device: str, camera: str, camera_id: str,
              shared: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The discovery topics and configs of one camera's entities (``device`` and ``camera`` are
    their ``mqtt_discovery.ha_ids``); ``shared`` carries the availability keys and the
    ``device`` block every entity of this device has."""
    topic = health_topic(base, camera_id)
    common = {"state_topic": topic, "json_attributes_topic": topic, **shared}
    connected, fps = unique_id(device, camera, "connected"), unique_id(device, camera, "fps")
    view = unique_id(device, camera, "view")
    return [
        (f"{ha_prefix}/binary_sensor/{connected}/config", {
            "name": f"{camera_id} camera",
            "unique_id": connected,
            "default_entity_id": f"binary_sensor.{connected}",
            "device_class": "connectivity",
            # on while the source is there: frames arrive, or a folder camera waits for new files
            # (stream.health.CONNECTED); a health of any version reads alike
            "value_template": "{{ 'ON' if value_json.state in ['streaming', 'waiting'] else 'OFF' }}",
            **common,
        }),
        (f"{ha_prefix}/binary_sensor/{view}/config", {
            "name": f"{camera_id} view",
            "unique_id": view,
            "default_entity_id": f"binary_sensor.{view}",
            "device_class": "problem",
            # the health of a version before the view check has none: no problem
            "value_template": "{{ 'ON' if value_json.get('view') in ['dark', 'bright', 'frozen'] else 'OFF' }}",
            **common,
        }),
        (f"{ha_prefix}/sensor/{fps}/config", {
            "name": f"{camera_id} fps",
            "unique_id": fps,
            "default_entity_id": f"sensor.{fps}",
            "unit_of_measurement": "fps",
            "state_class": "measurement",
            "value_template": "{{ value_json.fps_processed }}",
            "icon": "mdi:speedometer",
            **common,
        }),
    ]
