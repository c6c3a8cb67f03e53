"""What ``edge-alpr run`` leaves retained on the broker: each camera ``stopped`` and the device
``offline`` after a clean stop, and no health or Home Assistant entity of a camera (or watch
list) that is no longer configured.

Real parts: the service as a process (SIGTERM stops it), a real mosquitto
(tests/mosquitto.py), a video file camera, the real recognizer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from mosquitto import Broker, Subscriber
from videos import sample_video
from waiting import wait_for

from edge_alpr.delivery.mqtt import MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig

pytest_plugins = ["mosquitto"]

ROOT = Path(__file__).resolve().parent.parent
HA = "homeassistant"


def retained(port: int, quiet_s: float = 0.7) -> dict[str, Any]:
    """Every retained message the broker holds now (a new subscriber to ``#`` is handed them),
    JSON-decoded where it is JSON."""
    got: dict[str, Any] = {}
    last = [time.monotonic()]
    subscribed = threading.Event()

    def on_message(client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:
            try:
                got[msg.topic] = json.loads(msg.payload)
            except ValueError:
                got[msg.topic] = msg.payload.decode()
            last[0] = time.monotonic()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"retained-{time.monotonic_ns()}")
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", port)
    client.subscribe("#", qos=0)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        last[0] = time.monotonic()
        while time.monotonic() - last[0] < quiet_s:
            time.sleep(0.05)
    finally:
        client.loop_stop()
        client.disconnect()
    return got


def seed(port: int, messages: dict[str, Any]) -> None:
    """Publish ``messages`` retained, as an earlier run (or another device) left them."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="seed")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, body in messages.items():
            client.publish(topic, json.dumps(body), qos=1, retain=True).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()


def _entity(device: str, camera: str, what: str) -> dict[str, Any]:
    return {"name": f"{camera} {what}", "unique_id": f"edge_alpr_{device}_{camera}_{what}",
            "state_topic": f"edge-alpr/{device}/{camera}/health",
            "device": {"identifiers": [f"edge_alpr_{device}"], "name": f"edge-alpr {device}"}}


def test_a_clean_stop_says_stopped_and_removed_cameras_leave_no_ghosts(
        tmp_path: Path, broker: Broker, subscriber: Subscriber) -> None:
    ghosts = {  # an earlier run of dev1 had a camera "old" and a watch list "gone"
        "edge-alpr/dev1/old/health": {"camera_id": "old", "state": "streaming"},
        f"{HA}/binary_sensor/edge_alpr_dev1_old_connected/config": _entity("dev1", "old", "connected"),
        f"{HA}/sensor/edge_alpr_dev1_old_fps/config": _entity("dev1", "old", "fps"),
        f"{HA}/sensor/edge_alpr_dev1_old_plate/config": _entity("dev1", "old", "plate"),
        f"{HA}/device_automation/edge_alpr_dev1_gate_match_gone/config": {
            "automation_type": "trigger", "topic": "edge-alpr/dev1/gate/match/gone",
            "device": {"identifiers": ["edge_alpr_dev1"]}},
    }
    others = {  # another device's, and another integration's: not this device's to remove
        "edge-alpr/dev2/old/health": {"camera_id": "old", "state": "streaming"},
        f"{HA}/sensor/edge_alpr_dev2_old_plate/config": _entity("dev2", "old", "plate"),
        f"{HA}/sensor/kitchen_temperature/config": {"name": "kitchen", "state_topic": "zigbee/kitchen"},
    }
    seed(broker.port, {**ghosts, **others})
    cfg = {"state_dir": str(tmp_path / "state"), "api": {"enabled": False},
           "mqtt": {"port": broker.port, "device_id": "dev1", "ha_discovery": True, "usage_interval_s": 0.5},
           "watchlists": {"deny": {"plates": ["AB123CD"]}},
           "stream": {"cameras": [{"id": "gate", "source": {
               "kind": "video", "path": str(sample_video(tmp_path / "v.avi", 30)), "realtime": True,
               "loop": True}}]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / "service.log", "wb")  # closed below
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "run", "--config", str(tmp_path / "config.yaml")],
                            stdout=log, stderr=log, env=env)
    try:
        assert wait_for(lambda: any(m["state"] == "streaming" for m in subscriber.on("dev1/gate/health")),
                        90), (tmp_path / "service.log").read_text()
        held = retained(broker.port)
        assert not set(ghosts) & set(held), sorted(set(ghosts) & set(held))
        assert set(others) <= set(held), sorted(set(others) - set(held))
        assert held["edge-alpr/dev1/gate/health"]["state"] == "streaming"
        assert f"{HA}/binary_sensor/edge_alpr_dev1_gate_connected/config" in held
        assert f"{HA}/device_automation/edge_alpr_dev1_gate_match_deny/config" in held
        assert held["edge-alpr/dev1/status"] == "online"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
    held = retained(broker.port)
    assert held["edge-alpr/dev1/status"] == "offline"
    assert held["edge-alpr/dev1/health"]["state"] == "offline"
    gate = held["edge-alpr/dev1/gate/health"]
    assert gate["state"] == "stopped" and gate["camera_id"] == "gate" and gate["frames_processed"] > 0, gate
    # Home Assistant shows every entity unavailable while the device is offline: after a clean
    # stop (above) and after a crash (the broker's last will, test_mqtt.py); but the device's
    # connectivity, which is the status topic itself and shows Disconnected
    for topic, body in held.items():
        if topic.startswith(f"{HA}/") and "edge_alpr_dev1" in topic and "device_automation" not in topic:
            if body.get("state_topic") == "edge-alpr/dev1/status":
                assert "availability_topic" not in body and body["payload_off"] == "offline", topic
            else:
                assert body["availability_topic"] == "edge-alpr/dev1/status", topic


def test_turning_discovery_off_removes_this_devices_entities(broker: Broker) -> None:
    mine = f"{HA}/sensor/edge_alpr_dev1_gate_plate/config"
    theirs = f"{HA}/sensor/edge_alpr_dev2_gate_plate/config"
    seed(broker.port, {mine: _entity("dev1", "gate", "plate"), theirs: _entity("dev2", "gate", "plate")})
    pub = MqttPublisher(MqttConfig.from_dict({"port": broker.port, "device_id": "dev1"}, "t"), ("gate",))
    pub.start()
    try:
        assert pub.wait_connected(10)
        assert wait_for(lambda: mine not in retained(broker.port, 0.3), 10)
        assert theirs in retained(broker.port)
    finally:
        pub.stop()


def test_a_watch_list_added_as_the_connection_is_made_keeps_its_trigger(broker: Broker) -> None:
    trigger = f"{HA}/device_automation/edge_alpr_dev1_gate_match_vip/config"
    seed(broker.port, {trigger: {  # an earlier run had the list "vip"; this one starts without it
        "automation_type": "trigger", "topic": "edge-alpr/dev1/gate/match/vip",
        "device": {"identifiers": ["edge_alpr_dev1"]}}})
    pub = MqttPublisher(MqttConfig.from_dict({"port": broker.port, "device_id": "dev1", "ha_discovery": True},
                                             "t"), ("gate",))
    on_connect, unsubscribe = pub.client.on_connect, pub.client.unsubscribe
    swept = threading.Event()

    def then_add(*args: Any) -> None:
        """"vip" is added again the moment the connection is made: the sweep's subscription is
        sent, the broker's retained copy of the old trigger not yet handled."""
        on_connect(*args)
        pub.set_lists(("vip",))

    def sweep_over(*args: Any) -> Any:  # the sweep ends by unsubscribing: each removal is sent
        swept.set()
        return unsubscribe(*args)

    pub.client.on_connect = then_add
    pub.client.unsubscribe = sweep_over
    pub.start()
    try:
        assert pub.wait_connected(10) and swept.wait(10)
        # acknowledged: the broker has handled everything the publisher sent before
        pub.client.publish("edge-alpr/dev1/probe", "", qos=1).wait_for_publish(5)
        held = retained(broker.port)
        assert trigger in held, "the sweep removed the trigger of a watch list added as it ran"
        assert held[trigger]["subtype"] == "vip (gate)"
    finally:
        pub.stop()
