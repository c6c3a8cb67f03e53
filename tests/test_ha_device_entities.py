"""The device's own Home Assistant entities, and devices whose names fold to one id.

The rules are Home Assistant's (2026.2.3), read in its source and seen in a real Home Assistant
given these configs:

* binary sensor device classes: ``BinarySensorDeviceClass`` (components/binary_sensor/__init__.py);
  sensor state classes: ``SensorStateClass`` (components/sensor/const.py);
* a sensor or binary sensor with entity category ``config`` is refused
  (components/sensor/__init__.py and binary_sensor/__init__.py: ``EntityCategory.CONFIG``);
* a sensor with a state class or a unit expects a number (``_numeric_state_expected``,
  components/sensor/__init__.py), the MQTT sensor taking a rendered ``None`` as unknown
  (``PAYLOAD_NONE``, components/mqtt/sensor.py); a binary sensor's template must render its
  ``payload_on`` or ``payload_off`` (default ``ON``/``OFF``, components/mqtt/binary_sensor.py);
* a config on a discovery topic Home Assistant knows is an update of that topic's entity, which
  stays on the device that registered it ("Component has already been discovered ..., sending
  update", components/mqtt/discovery.py): two devices must never share a topic.

Real parts: the publisher on a real mosquitto (tests/mosquitto.py); the templates rendered by
jinja2, the engine of Home Assistant's templates.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import jinja2.sandbox
from mosquitto import Broker
from test_ha_discovery_ids import TOPIC_MATCHER
from test_mqtt_retained import retained
from waiting import wait_for

from edge_alpr.delivery.mqtt import MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig

pytest_plugins = ["mosquitto"]

HA = "homeassistant"
BINARY_SENSOR_CLASSES = {"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
                         "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving",
                         "occupancy", "opening", "plug", "power", "presence", "problem", "running", "safety",
                         "smoke", "sound", "tamper", "update", "vibration", "window"}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
CAMERA_ENDS = ("_plate", "_connected", "_view", "_fps")


def publisher(port: int, device: str, **mqtt: Any) -> MqttPublisher:
    cfg = MqttConfig.from_dict({"port": port, "device_id": device, "ha_discovery": True, "retry_max_s": 0.5,
                                **mqtt}, "test")
    return MqttPublisher(cfg, camera_ids=("gate",), lists=("vip",))


def render(template: str, payload: Any) -> str:
    """A value template as Home Assistant renders it for a JSON payload."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment()
    return env.from_string(template).render(value_json=payload, value=payload).strip()


def device_configs(held: dict[str, Any], device: str) -> dict[str, dict[str, Any]]:
    """The discovery configs of the device's own entities (not its cameras'), by unique id."""
    return {c["unique_id"]: c for t, c in held.items()
            if t.startswith(f"{HA}/") and isinstance(c, dict) and c.get("device", {}).get("identifiers")
            == [f"edge_alpr_{device}"] and "unique_id" in c and not c["unique_id"].endswith(CAMERA_ENDS)}


def state(config: dict[str, Any], held: dict[str, Any]) -> str:
    """What Home Assistant makes of the retained message on the entity's state topic."""
    payload = held[config["state_topic"]]
    return render(config["value_template"], payload) if "value_template" in config else str(payload)


def test_the_device_gets_entities_of_its_status_health_and_usage_home_assistant_takes(broker: Broker) -> None:
    pub = publisher(broker.port, "dev1")
    pub.start()
    try:
        assert pub.wait_connected(10)
        pub.set_status(dropped=2, pending=5, aside=0, crashes=0, stalled=[])
        pub.publish_usage({"calls": 7, "max_calls": 2**31 - 1, "lifetime_calls": 9,
                           "resets_on": "2027-01-01T00:00:00Z", "dropped": 2})
        assert wait_for(lambda: len(device_configs(retained(broker.port, 0.3), "dev1")) >= 6, 10)
        held = retained(broker.port)
        configs = device_configs(held, "dev1")
        for uid, c in configs.items():
            topic = next(t for t, v in held.items() if v is c or v == c)
            component = topic.split("/")[1]
            assert TOPIC_MATCHER.fullmatch(topic[len(HA) + 1:]) and topic.split("/")[2] == uid
            assert c["default_entity_id"] == f"{component}.{uid}"
            assert c.get("entity_category") in (None, "diagnostic"), uid
            if component == "binary_sensor":
                assert c["device_class"] in BINARY_SENSOR_CLASSES
                assert state(c, held) in (c.get("payload_on", "ON"), c.get("payload_off", "OFF")), uid
            else:
                assert component == "sensor" and c.get("state_class") in (None, *STATE_CLASSES)
                value = state(c, held)
                assert value == "None" or float(value) >= 0, (uid, value)  # a number, or unknown
            # unavailable while the device is offline, but the entity that says so
            if c["state_topic"] == "edge-alpr/dev1/status":
                assert "availability_topic" not in c
            else:
                assert c["availability_topic"] == "edge-alpr/dev1/status"
        by_class = {(c.get("device_class"), c["state_topic"].rsplit("/", 1)[1]): c for c in configs.values()}
        online, problem = by_class[("connectivity", "status")], by_class[("problem", "health")]
        assert state(online, held) == online["payload_on"]
        assert state(problem, held) == "OFF"
        sensors = {state(c, held) for c in configs.values() if "state_class" in c or "unit_of_measurement" in c}
        assert {"7", "5", "2", "None"} <= sensors  # calls, waiting, dropped, no quota
        # trouble in the health: a stalled worker, an event set aside
        health = held["edge-alpr/dev1/health"]
        assert render(problem["value_template"], {**health, "stalled": ["camera gate"]}) == "ON"
        assert render(problem["value_template"], {**health, "aside": 1}) == "ON"
        quota = next(c for c in configs.values() if "max_calls" in c.get("value_template", ""))
        assert render(quota["value_template"], {"calls": 1, "max_calls": 100}) == "100"
    finally:
        pub.stop()
    held = retained(broker.port)
    online = next(c for c in device_configs(held, "dev1").values() if c.get("device_class") == "connectivity")
    assert state(online, held) == online["payload_off"]  # Disconnected, not unavailable


def topics_of(held: dict[str, Any], device: str) -> set[str]:
    return {t for t, c in held.items() if t.startswith(f"{HA}/") and isinstance(c, dict)
            and f"edge_alpr_{device}" in str(c.get("device", {}).get("identifiers"))}


def test_two_devices_whose_names_fold_to_one_id_never_share_a_discovery_topic(broker: Broker) -> None:
    first = publisher(broker.port, "yard-1")  # registered first: keeps edge_alpr_yard_1_...
    first.start()
    try:
        assert wait_for(lambda: len(topics_of(retained(broker.port, 0.3), "yard-1")) == 11, 10)
        before = {t: c for t, c in retained(broker.port).items() if t in topics_of(retained(broker.port), "yard-1")}
        assert f"{HA}/sensor/edge_alpr_yard_1_gate_plate/config" in before
        second = publisher(broker.port, "yard_1")
        second.start()
        try:
            assert wait_for(lambda: len(topics_of(retained(broker.port, 0.3), "yard_1")) == 11, 10)
            held = retained(broker.port)
            assert not topics_of(held, "yard-1") & topics_of(held, "yard_1")
            assert {t: held[t] for t in before} == before  # the first device's entities untouched
            ids = [c["unique_id"] for t, c in held.items() if t.startswith(f"{HA}/") and "unique_id" in c]
            assert len(ids) == len(set(ids)) == 20
        finally:
            second.stop()
        # the second one, started again, keeps the id it took (its entities keep their history)
        again = publisher(broker.port, "yard_1")
        again.start()
        try:
            assert again.wait_connected(10)
            assert wait_for(lambda: again.ha_id is not None, 10)
            assert again.ha_id == second.ha_id != "yard_1"
            assert not topics_of(retained(broker.port), "yard-1") & topics_of(retained(broker.port), "yard_1")
        finally:
            again.stop()
    finally:
        first.stop()


def test_a_broker_that_lets_the_device_read_nothing_still_gets_its_discovery(tmp_path: Path) -> None:
    """The connection's sweep ends on the echo of the device's own ``online``; a broker whose ACL
    lets the account only write never sends it, and the discovery, published at the sweep's
    end, must go all the same."""
    b = Broker(tmp_path / "broker")
    pwfile, acl = b.dir / "passwd", b.dir / "acl"
    pwfile.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(pwfile), "cam", "pw123"], check=True)
    acl.write_text("topic read #\nuser cam\ntopic write edge-alpr/dev1/#\ntopic write homeassistant/#\n")
    b.conf.write_text(b.conf.read_text() + f"password_file {pwfile}\nacl_file {acl}\n")
    b.start()
    cfg = MqttConfig.from_dict({"port": b.port, "device_id": "dev1", "username": "cam", "ha_discovery": True,
                                "retry_max_s": 0.5}, "test")
    pub = MqttPublisher(cfg, camera_ids=("gate",), environ={"EDGE_ALPR_MQTT_PASSWORD": "pw123"})
    pub.start()
    try:
        assert wait_for(lambda: len(topics_of(retained(b.port, 0.3), "dev1")) == 10, 10)
    finally:
        pub.stop()
        b.stop()
