"""Topic levels in the ``mqtt`` section that no topic may hold are refused when the config is read.

Measured before for ``ha_prefix: homeassistant/#``: the config was taken, and on connecting the
sweep's subscription (``homeassistant/#/sensor/+/config``) raised in paho's network thread, which
ended it: the device never reconnected, and each event failed "no PUBACK within 5.0 s" for ever.
An ``ha_prefix`` with a leading or trailing ``/`` (``homeassistant/``), which earlier versions
took, is used without it and warned of by check-config: refusing it stopped an upgraded device.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mosquitto import Broker, Subscriber
from test_cli_server import cli
from waiting import wait_for

from edge_alpr.cli import EXIT_CONFIG
from edge_alpr.delivery.mqtt import MqttPublisher
from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.errors import ConfigError

pytest_plugins = ["mosquitto"]


@pytest.mark.parametrize("key, value", [
    ("ha_prefix", "homeassistant/#"), ("ha_prefix", "home+assistant"), ("ha_prefix", "/"),
    ("ha_prefix", ""), ("ha_prefix", "#/"), ("topic_prefix", "edge-alpr/#"), ("device_id", "gate+1"),
])
def test_a_wildcard_or_an_empty_level_is_refused_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        MqttConfig.from_dict({key: value, "ha_discovery": True}, "mqtt")
    assert f"mqtt.{key}" in str(error.value), error.value


@pytest.mark.parametrize("value", ["homeassistant", "ha/discovery", "hass-2"])
def test_a_plain_or_nested_ha_prefix_is_taken(value: str) -> None:
    assert MqttConfig.from_dict({"ha_prefix": value}, "mqtt").ha_prefix == value


@pytest.mark.parametrize("value", ["homeassistant/", "/homeassistant", "/ha/discovery/"])
def test_an_ha_prefix_earlier_versions_took_with_a_slash_at_an_end_is_used_without_it(value: str) -> None:
    cfg = MqttConfig.from_dict({"ha_prefix": value}, "mqtt")
    assert cfg.discovery_prefix == value.strip("/")
    warning = cfg.ha_prefix_warning()
    assert warning is not None and f"mqtt.ha_prefix {value!r} is used as {value.strip('/')!r}" in warning


def test_check_config_warns_of_an_ha_prefix_with_a_trailing_slash_and_refuses_a_wildcard(tmp_path: Path) -> None:
    cfg, head = tmp_path / "c.yaml", f"state_dir: {tmp_path / 'state'}\nstream: {{enabled: false}}\n"
    cfg.write_text(head + "mqtt: {host: broker.local, ha_prefix: homeassistant/}\n")
    out = cli("check-config", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    assert "warning: mqtt.ha_prefix 'homeassistant/' is used as 'homeassistant'" in out.stderr, out.stderr
    cfg.write_text(head + "mqtt: {host: broker.local, ha_prefix: homeassistant}\n")
    assert "ha_prefix" not in cli("check-config", "--config", str(cfg)).stderr
    cfg.write_text(head + "mqtt: {host: broker.local, ha_prefix: homeassistant/#}\n")
    out = cli("check-config", "--config", str(cfg))
    assert out.returncode == EXIT_CONFIG and "mqtt.ha_prefix" in out.stderr, out.stderr


def test_a_device_with_ha_prefix_homeassistant_slash_announces_under_homeassistant(broker: Broker) -> None:
    """The upgraded device connects and its discovery configs go where Home Assistant reads them."""
    watch = Subscriber(broker.port, topic="#", client_id="ha")
    cfg = MqttConfig.from_dict({"host": "127.0.0.1", "port": broker.port, "device_id": "gate",
                                "ha_discovery": True, "ha_prefix": "homeassistant/"}, "mqtt")
    pub = MqttPublisher(cfg, ("yard",), environ={})
    pub.start()
    try:
        assert pub.wait_connected(10)
        assert wait_for(lambda: bool(watch.on("/config")), 10)
        assert wait_for(lambda: pub.ha_id is not None, 10)
    finally:
        pub.stop(timeout=1.0)
        watch.close()
    with watch.lock:
        topics = [t for t, _, _ in watch.messages if t.endswith("/config")]
    assert topics and all(t.startswith("homeassistant/") and "//" not in t for t in topics), topics
