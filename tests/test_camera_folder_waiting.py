"""A folder camera with nothing to read is ``waiting`` in ``/info/``, the retained MQTT health
and Home Assistant, as in the console, and is connected there.

Why: after a restart a drop box whose files were all read before reads none of them again
(``sources/ledger.py``), so no frame comes; ``/info/`` and MQTT said ``starting`` ("the first
open is in progress") for as long as no file came, and Home Assistant's connectivity sensor was
off for a folder that was there all along.  The whole service runs twice on one state folder with
the real recognizer and a real mosquitto; the discovery's value template is rendered by Jinja2,
the engine Home Assistant renders it with.
"""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request
from pathlib import Path
from typing import Any

import jinja2
from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr import config
from edge_alpr.service import build
from edge_alpr.stream.sources import sample_dir

pytest_plugins = ["mosquitto"]


def _service(tmp_path: Path, recognizer: Any, broker: Broker, source: dict[str, Any]) -> Any:
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "api": {"port": 0, "threads": 4},
        "mqtt": {"port": broker.port, "device_id": "dev1", "ha_discovery": True},
        "stream": {"cameras": [{"id": "drop", "source": {"kind": "folder", "path": str(tmp_path / "drop"),
                                                          "poll_interval": 0.1, **source}}]}}, "<test>")
    return build(cfg, threading.Event(), recognizer=recognizer)


def _info(svc: Any) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{svc.api.server.port}/info/", timeout=10) as r:
        body: dict[str, Any] = json.load(r)["cameras"][0]
    return body


def _connected(subscriber: Subscriber, health: dict[str, Any]) -> str:
    """What Home Assistant's connectivity sensor of the camera shows for ``health``."""
    config_topic = "homeassistant/binary_sensor/edge_alpr_dev1_drop_connected/config"
    template = subscriber.on(config_topic)[-1]["value_template"]
    return jinja2.Environment().from_string(template).render(value_json=health).strip()


def test_a_folder_read_before_the_restart_is_waiting_and_connected(
        tmp_path: Path, recognizer: Any, broker: Broker, subscriber: Subscriber, no_token: None) -> None:
    (tmp_path / "drop").mkdir()
    samples = sorted(sample_dir().glob("*.jpg"))
    for sample in samples[:2]:
        shutil.copyfile(sample, tmp_path / "drop" / sample.name)

    svc = _service(tmp_path, recognizer, broker, {"watch": False})  # reads both, remembers them
    try:
        assert wait_for(lambda: svc.cameras[0].stats.ended, 60)
    finally:
        svc.close()

    svc = _service(tmp_path, recognizer, broker, {})  # restarted, watching: nothing to read
    try:
        assert wait_for(lambda: _info(svc)["state"] == "waiting", 15), _info(svc)
        assert _info(svc)["frames_read"] == 0

        def published() -> list[Any]:
            svc.refresh_cameras()  # what the service's main loop does
            return [m for m in subscriber.on("dev1/drop/health") if m["state"] == "waiting"]

        assert wait_for(published, 15), subscriber.on("dev1/drop/health")
        assert wait_for(lambda: subscriber.on("edge_alpr_dev1_drop_connected/config"), 15)
        assert _connected(subscriber, published()[-1]) == "ON"
        for state in ("starting", "reconnecting", "failed", "ended", "stopped"):
            assert _connected(subscriber, {**published()[-1], "state": state}) == "OFF", state
        assert _connected(subscriber, {**published()[-1], "state": "streaming"}) == "ON"

        # a new file is read: streaming, then waiting again once it is done
        shutil.copyfile(samples[2], tmp_path / "drop" / "new.jpg")
        assert wait_for(lambda: svc.cameras[0].stats.frames_processed == 1, 30), _info(svc)
        assert wait_for(lambda: _info(svc)["state"] == "waiting", 15), _info(svc)
    finally:
        svc.close()
