"""Topic levels in the ``mqtt`` section that no topic may hold are refused when the config is read.

Measured before for ``ha_prefix: homeassistant/#``: the config was taken, and on connecting the
sweep's subscription (``homeassistant/#/sensor/+/config``) raised in paho's network thread, which
ended it: the device never reconnected, and each event failed "no PUBACK within 5.0 s" for ever.
"""

from __future__ import annotations

import pytest

from edge_alpr.delivery.mqtt_config import MqttConfig
from edge_alpr.errors import ConfigError


@pytest.mark.parametrize("key, value", [
    ("ha_prefix", "homeassistant/#"), ("ha_prefix", "home+assistant"), ("ha_prefix", "homeassistant/"),
    ("ha_prefix", ""), ("topic_prefix", "edge-alpr/#"), ("device_id", "gate+1"),
])
def test_a_wildcard_or_an_empty_level_is_refused_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        MqttConfig.from_dict({key: value, "ha_discovery": True}, "mqtt")
    assert f"mqtt.{key}" in str(error.value), error.value


@pytest.mark.parametrize("value", ["homeassistant", "ha/discovery", "hass-2"])
def test_a_plain_or_nested_ha_prefix_is_taken(value: str) -> None:
    assert MqttConfig.from_dict({"ha_prefix": value}, "mqtt").ha_prefix == value
