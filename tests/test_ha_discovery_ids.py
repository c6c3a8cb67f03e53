"""Home Assistant takes every discovery config a device announces, whatever its device, camera
and watch-list names.

The rules are those of Home Assistant's MQTT integration (2026.2.3), seen when a real Home
Assistant was given a device's configs:

* a discovery topic is ``<prefix>/<component>/[<node_id>/]<object_id>/config`` with the ids of
  ``[a-zA-Z0-9_-]`` only (``TOPIC_MATCHER`` in homeassistant/components/mqtt/discovery.py;
  https://www.home-assistant.io/integrations/mqtt/#discovery-topic); another is ignored with
  "Received message on illegal discovery topic": a camera ``Gate 1`` or a device ``Hof-Süd``
  got no entity and no trigger at all;
* a discovery topic holds one entity or device trigger: a second config there replaces the
  first (cameras ``rear_lot`` and ``rear-lot`` got one set of entities, watch lists
  ``stolen-cars`` and ``stolen_cars`` one trigger), and a unique id names one entity of the
  platform (homeassistant/helpers/entity_platform.py: "does not generate unique IDs");
* a device trigger is known by its device, ``type`` and ``subtype``
  (homeassistant/components/mqtt/device_trigger.py), so those must differ too.

Real parts: the discovery configs as the publisher builds them, and (for a watch list added at
run time) the publisher on a real mosquitto (tests/mosquitto.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr.delivery.mqtt import MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.mqtt_connect import device_id
from edge_alpr.delivery.mqtt_device_id import DeviceIds
from edge_alpr.delivery.mqtt_discovery import ha_ids
from edge_alpr.delivery.mqtt_retained import discovery_configs

pytest_plugins = ["mosquitto"]

HA = "homeassistant"
# Home Assistant's own pattern (homeassistant/components/mqtt/discovery.py, TOPIC_MATCHER)
TOPIC_MATCHER = re.compile(r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config")
AVAILABILITY = {"availability_topic": "edge-alpr/x/status"}


def check_home_assistant_takes(configs: list[tuple[str, dict[str, Any]]], cameras: int, lists: int) -> None:
    """Every topic legal and its own, every unique id and trigger (type, subtype) its own."""
    topics = [topic for topic, _ in configs]
    for topic in topics:
        assert topic.startswith(f"{HA}/") and TOPIC_MATCHER.fullmatch(topic[len(HA) + 1:]), topic
    # per camera 4 entities, per camera and list a trigger, and the device's own 6 entities
    assert len(set(topics)) == len(topics) == cameras * lists + cameras * 4 + 6
    ids = [c["unique_id"] for _, c in configs if "unique_id" in c]
    assert len(set(ids)) == len(ids) == cameras * 4 + 6
    triggers = [(c["type"], c["subtype"]) for _, c in configs if c.get("automation_type") == "trigger"]
    assert len(set(triggers)) == len(triggers) == cameras * lists


def test_any_device_camera_and_list_name_gives_configs_home_assistant_takes() -> None:
    cameras = ("Gate 1", "Einfahrt-Süd", "rear_lot", "rear-lot", "cam:1", "gate", "rear-lot.2", "北门")
    lists = ("stolen-cars", "stolen_cars", "vip")
    configs = discovery_configs(HA, "Hof-Süd", "edge-alpr/Hof-Süd", AVAILABILITY, cameras, lists)
    check_home_assistant_takes(configs, len(cameras), len(lists))
    by_topic = dict(configs)
    # an entity still reads its own camera's topics and is named after it as configured
    plate = next(c for t, c in configs if t.startswith(f"{HA}/sensor/") and c["name"] == "Gate 1 last plate")
    assert plate["state_topic"] == "edge-alpr/Hof-Süd/Gate 1/plate"
    assert by_topic[f"{HA}/sensor/{plate['unique_id']}/config"] is plate
    assert plate["default_entity_id"] == f"sensor.{plate['unique_id']}"
    trig = [c for c in by_topic.values() if c.get("subtype") == "stolen-cars (rear-lot)"]
    assert [c["topic"] for c in trig] == ["edge-alpr/Hof-Süd/rear-lot/match/stolen-cars"]


def test_names_home_assistant_took_before_keep_their_ids() -> None:
    # the unique ids and trigger topic a real Home Assistant registered for device yard-1
    configs = discovery_configs(HA, "yard-1", "edge-alpr/yard-1", AVAILABILITY,
                                ("gate", "rear-lot.2", "Gate 1"), ("vip", "stolen-cars"))
    ids = {c["unique_id"] for _, c in configs if "unique_id" in c}
    assert {"edge_alpr_yard_1_gate_plate", "edge_alpr_yard_1_gate_connected", "edge_alpr_yard_1_gate_view",
            "edge_alpr_yard_1_gate_fps", "edge_alpr_yard_1_rear_lot_2_plate",
            "edge_alpr_yard_1_rear_lot_2_fps"} <= ids
    assert f"{HA}/device_automation/edge_alpr_yard_1_rear_lot_2_match_stolen_cars/config" in dict(configs)
    check_home_assistant_takes(configs, 3, 2)


def test_a_name_that_always_gets_a_hash_does_not_push_a_plain_name_off_its_id() -> None:
    """``Gate 1`` has a space and is hashed whatever else is there; ``Gate-1`` keeps the id Home
    Assistant registered for it (else its entities' history is orphaned)."""
    ids = ha_ids(["Gate-1", "Gate 1"])
    assert ids["Gate-1"] == "Gate_1"
    assert ids["Gate 1"].startswith("Gate_1_") and ids["Gate 1"] != ids["Gate-1"]
    assert ha_ids(["rear-lot", "rear_lot"])["rear_lot"] == "rear_lot"  # a real collision: the id's owner keeps it
    assert ha_ids(["rear-lot", "rear_lot"])["rear-lot"] != "rear_lot"


def latest(subscriber: Subscriber) -> dict[str, Any]:
    """The newest payload of each device trigger topic (None: removed)."""
    out: dict[str, Any] = {}
    with subscriber.lock:
        for topic, payload, _ in subscriber.messages:
            if topic.startswith(f"{HA}/device_automation/"):
                out[topic] = json.loads(payload) if payload else None
    return out


def test_a_list_added_at_run_time_whose_id_collides_gets_a_trigger_of_its_own(
        broker: Broker, subscriber: Subscriber) -> None:
    cfg = MqttConfig.from_dict({"port": broker.port, "device_id": "dev1", "ha_discovery": True}, "test")
    pub = MqttPublisher(cfg, camera_ids=("gate",), lists=("stolen-cars",))
    pub.start()
    try:
        def triggers() -> set[str]:
            return {c["subtype"] for c in latest(subscriber).values() if c}

        assert wait_for(lambda: triggers() == {"stolen-cars (gate)"}, 10)
        pub.set_lists(("stolen-cars", "stolen_cars"))  # the API adds a list whose id is the same
        assert wait_for(lambda: triggers() == {"stolen-cars (gate)", "stolen_cars (gate)"}, 5), latest(subscriber)
        pub.set_lists(("stolen_cars",))  # and the first is deleted: its trigger goes, none else
        assert wait_for(lambda: triggers() == {"stolen_cars (gate)"}, 5), latest(subscriber)
        live = {t for t, c in latest(subscriber).items() if c}
        assert live == {f"{HA}/device_automation/edge_alpr_dev1_gate_match_stolen_cars/config"}
    finally:
        pub.stop()


NFC, NFD = "Hof-S\u00fcd", "Hof-Su\u0308d"  # one name as typed (composed) and as a Mac writes it (decomposed)


def sha6(name: str) -> str:
    """The hash part released versions gave a name with other characters than letters, digits,
    ``-``, ``.`` and ``_``: the first 6 hex digits of the sha256 of its UTF-8 (Home Assistant holds
    the ids made with it)."""
    return hashlib.sha256(name.encode()).hexdigest()[:6]


def test_a_name_composed_or_decomposed_gets_one_id() -> None:
    """``Süd`` typed on one machine and pasted from a Mac's folder name on another is one name to
    the person who reads it: one id, the one the composed form has always had."""
    assert ha_ids([NFD])[NFD] == ha_ids([NFC])[NFC] == f"Hof_Sud_{sha6(NFC)}"
    nfd = discovery_configs(HA, NFD, f"edge-alpr/{NFD}", AVAILABILITY, (NFD, "gate"), ("vip",))
    nfc = discovery_configs(HA, NFC, f"edge-alpr/{NFC}", AVAILABILITY, (NFC, "gate"), ("vip",))
    assert [t for t, _ in nfd] == [t for t, _ in nfc]
    assert [c.get("unique_id") for _, c in nfd] == [c.get("unique_id") for _, c in nfc]
    assert f"{HA}/sensor/edge_alpr_Hof_Sud_{sha6(NFC)}_gate_plate/config" in dict(nfd)
    ids = DeviceIds(NFD)  # the device's id on a broker (mqtt_device_id)
    assert (ids.plain, ids.hashed, ids.decide()) == ("Hof_Sud", f"Hof_Sud_{sha6(NFC)}", f"Hof_Sud_{sha6(NFC)}")


def test_plain_and_composed_names_keep_the_ids_they_had() -> None:
    ids = ha_ids(["gate", "rear-lot.2", "Gate-1", "Gate 1", NFC, "北门"])
    assert ids["gate"] == "gate" and ids["rear-lot.2"] == "rear_lot_2" and ids["Gate-1"] == "Gate_1"
    assert ids["Gate 1"] == "Gate_1_a2ae10"  # the id docs/fleet.md shows
    assert ids[NFC] == f"Hof_Sud_{sha6(NFC)}" and ids["北门"] == f"___{sha6('北门')}"


def test_both_forms_as_two_cameras_of_one_device_still_get_an_id_each() -> None:
    """Two cameras whose names differ only in composition are two cameras to the config: the
    composed one keeps its id, the other gets one of its own."""
    ids = ha_ids([NFD, NFC])
    assert ids[NFC] == f"Hof_Sud_{sha6(NFC)}" and ids[NFD] != ids[NFC]
    configs = discovery_configs(HA, "yard", "edge-alpr/yard", AVAILABILITY, (NFD, NFC), ("vip",))
    check_home_assistant_takes(configs, 2, 1)


def test_a_device_named_decomposed_gets_the_composed_names_ids_on_the_broker(
        broker: Broker, subscriber: Subscriber) -> None:
    """The device name goes through ``mqtt_connect.device_id`` (topic-safe) before the ids are
    made of it: there the combining diaeresis of ``Süd`` decomposed was not a letter and became
    ``_`` (ids ``edge_alpr_Hof_Su_d_...``), so the device got other entities than ``Süd`` typed."""
    cfg = MqttConfig.from_dict({"port": broker.port, "device_id": NFD, "ha_discovery": True}, "test")
    pub = MqttPublisher(cfg, camera_ids=("gate",), lists=("vip",))
    pub.start()
    try:
        topic = f"{HA}/sensor/edge_alpr_Hof_Sud_{sha6(NFC)}_gate_plate/config"
        assert wait_for(lambda: bool(subscriber.on(topic)), 10), sorted({t for t, _, _ in subscriber.messages})
        assert subscriber.on(topic)[-1]["state_topic"] == f"edge-alpr/{NFC}/gate/plate"
        assert not [t for t, _, _ in subscriber.messages if "Su_d" in t]
    finally:
        pub.stop()


def test_plain_and_composed_device_names_keep_their_topic_names() -> None:
    names = {"gate-north": "gate-north", "yard_1.b": "yard_1.b", "Gate 1": "Gate_1", "cam:1/b": "cam_1_b",
             NFC: NFC, "北门": "北门"}
    for name, expected in names.items():
        assert device_id(MqttConfig.from_dict({"device_id": name}, "test")) == expected
