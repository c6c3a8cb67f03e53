"""Two devices on one broker whose ids and camera ids join to one entity id.

``edge_alpr_<device>_<camera>_<what>`` joins the ids with ``_``, which a name may hold too: device
``gate`` with camera ``1_x`` and device ``gate_1`` with camera ``x`` both make
``edge_alpr_gate_1_x_plate``.  Home Assistant takes a second config on a discovery topic as an
update of the entity the first made, which stays on the first device (components/mqtt/discovery.py,
"Component has already been discovered"): the second device's camera would get no entity.

Real parts: two publishers on a real mosquitto (tests/mosquitto.py).
"""

from __future__ import annotations

from typing import Any

from mosquitto import Broker
from test_mqtt_retained import retained
from waiting import wait_for

from edge_alpr.delivery.mqtt import MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig

pytest_plugins = ["mosquitto"]

HA = "homeassistant"


def publisher(port: int, device: str, cameras: tuple[str, ...]) -> MqttPublisher:
    cfg = MqttConfig.from_dict({"port": port, "device_id": device, "ha_discovery": True, "retry_max_s": 0.5},
                               "test")
    return MqttPublisher(cfg, camera_ids=cameras, lists=("vip",))


def configs_of(held: dict[str, Any], device: str) -> dict[str, dict[str, Any]]:
    """The discovery configs the broker holds of ``device`` (by its identifier), by topic."""
    return {t: c for t, c in held.items() if t.startswith(f"{HA}/") and isinstance(c, dict)
            and c.get("device", {}).get("identifiers") == [f"edge_alpr_{device}"]}


def count(port: int, device: str) -> int:
    return len(configs_of(retained(port, 0.3), device))


def restarted(port: int, device: str, cameras: tuple[str, ...]) -> dict[str, str]:
    """The ids a device started again gives the cameras whose ids another device holds, once
    its discovery is out."""
    pub = publisher(port, device, cameras)
    pub.start()
    try:
        assert pub.wait_connected(10) and wait_for(lambda: pub.ha_id is not None, 10)
        retained(port)  # its discovery, published at the sweep's end, has come
        return pub.ha_cameras
    finally:
        pub.stop()


# per device: its 6 own entities, 4 per camera, a trigger per camera and watch list
TOPICS = 6 + 2 * 4 + 2


def test_a_device_whose_camera_ids_join_to_anothers_takes_its_own_for_that_camera_only(broker: Broker) -> None:
    first = publisher(broker.port, "gate", ("1_x", "north"))  # registered first: keeps its ids
    first.start()
    try:
        assert wait_for(lambda: count(broker.port, "gate") == TOPICS, 10)
        before = configs_of(retained(broker.port), "gate")
        assert f"{HA}/sensor/edge_alpr_gate_1_x_plate/config" in before
        second = publisher(broker.port, "gate_1", ("x", "south"))
        second.start()
        try:
            assert wait_for(lambda: count(broker.port, "gate_1") == TOPICS, 10)
            held = retained(broker.port)
            mine = configs_of(held, "gate_1")
            assert configs_of(held, "gate") == before  # the first device's entities untouched
            ids = [c["unique_id"] for c in [*before.values(), *mine.values()] if "unique_id" in c]
            assert len(ids) == len(set(ids)) == 2 * (6 + 2 * 4)
            # the camera whose ids were taken gets ids of its own; the device's other ids are as ever
            assert f"{HA}/sensor/edge_alpr_gate_1_south_plate/config" in mine
            assert f"{HA}/sensor/edge_alpr_gate_1_online/config" not in mine  # a binary sensor
            assert f"{HA}/binary_sensor/edge_alpr_gate_1_online/config" in mine
            x = [c["unique_id"] for c in mine.values() if c.get("name") == "x last plate"]
            assert len(x) == 1 and x[0].startswith("edge_alpr_gate_1_x_") and x[0] != "edge_alpr_gate_1_x_plate"
            trig = [t for t, c in mine.items() if c.get("subtype") == "vip (x)"]
            assert len(trig) == 1 and trig[0] != f"{HA}/device_automation/edge_alpr_gate_1_x_match_vip/config"
        finally:
            second.stop()
        # each, started again, keeps the ids it had (its entities keep their history)
        for device, cameras, taken in (("gate_1", ("x", "south"), second.ha_cameras), ("gate", ("1_x", "north"), {})):
            assert restarted(broker.port, device, cameras) == taken and set(taken) <= {"x"}
            held = retained(broker.port)
            assert configs_of(held, "gate") == before and set(configs_of(held, "gate_1")) == set(mine)
    finally:
        first.stop()
