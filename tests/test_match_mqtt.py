"""Watch-list matches over a real mosquitto: the match topic and Home Assistant device triggers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr.delivery.mqtt import MQTT_SINK, MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.worker import DeliveryWorker

pytest_plugins = ["mosquitto"]


def test_matches_on_their_topic_and_one_trigger_per_camera_and_list(
        broker: Broker, subscriber: Subscriber, tmp_path: Path) -> None:
    cfg = MqttConfig.from_dict({"port": broker.port, "device_id": "dev1", "ha_discovery": True,
                                "retry_max_s": 0.5}, "test")
    pub = MqttPublisher(cfg, camera_ids=("gate", "yard"), lists=("deny",))
    box = Outbox(tmp_path / "outbox.sqlite")
    stop = threading.Event()
    worker = DeliveryWorker(box, MQTT_SINK, pub.send, stop, backoff_initial_s=0.1, backoff_max_s=0.5)
    pub.start()
    worker.start()
    try:
        match = {"list": "deny", "plate": "AB0123", "label": "van", "distance": 0.5}
        box.put(MQTT_SINK, {"id": "ev-1", "camera_id": "gate", "plate": "abo123", "match": match})
        box.put(MQTT_SINK, {"id": "ev-2", "camera_id": "gate", "plate": "zz999"})
        assert [m["id"] for m in subscriber.wait_for("dev1/gate/plate", 2, 10)] == ["ev-1", "ev-2"]
        assert [m["id"] for m in subscriber.wait_for("dev1/gate/match/deny", 1, 5)] == ["ev-1"]
        assert subscriber.on("dev1/gate/match/deny")[0]["match"] == match

        triggers = {t["topic"]: t for t in subscriber.wait_for("/config", 4, 5)
                    if t.get("automation_type") == "trigger"}
        assert sorted(triggers) == ["edge-alpr/dev1/gate/match/deny", "edge-alpr/dev1/yard/match/deny"]
        gate = triggers["edge-alpr/dev1/gate/match/deny"]
        assert gate["type"] == "plate_match" and gate["subtype"] == "deny (gate)"
        assert gate["device"]["identifiers"] == ["edge_alpr_dev1"]

        pub.set_lists(("vip",))  # deny deleted, vip created
        topic = "homeassistant/device_automation/edge_alpr_dev1_gate_match_deny/config"
        assert wait_for(lambda: subscriber.texts(topic)[-1:] == [""], 5)  # retained trigger removed
        assert wait_for(lambda: any(json.loads(p).get("topic") == "edge-alpr/dev1/yard/match/vip"
                                    for p in subscriber.texts("/config") if p), 5)
    finally:
        stop.set()
        worker.join(5)
        pub.stop()
        box.close()
