"""Home Assistant MQTT discovery: the retained configs that make a device's cameras and watch
lists appear there without a line of YAML.

Why apart from the connection (``mqtt.py``): what Home Assistant is told is a matter of its
discovery schema (unique ids, entity ids, templates), not of when and how the broker is spoken
to; the publisher sends these on every (re)connect and when the watch lists change.  The
per-camera health entities are ``mqtt_cameras.py``'s.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .. import __version__

# the names earlier versions made ids of by turning ``-`` and ``.`` into ``_``: such a name keeps
# that id (its entities keep their history in Home Assistant) unless it collides with another's
_KEPT = re.compile(r"[A-Za-z0-9_.-]+")


def fold(name: str) -> str:
    """``name`` in its composed form (``composed``) with each character that is not an ASCII
    letter or digit as ``_``, an accented letter as its base letter (``Süd``: ``Sud``)."""
    out: list[str] = []
    for c in composed(name):
        base = "".join(b for b in unicodedata.normalize("NFKD", c) if b.isascii() and b.isalnum())
        out.append(base or "_")
    return "".join(out)


def composed(name: str) -> str:
    """``name`` in Unicode's composed form (NFC).  Why: ``Süd`` typed is ``u`` with its umlaut as
    one character, ``Süd`` from a Mac's file name two (``u`` and a combining diaeresis); one name
    to whoever reads it, so one id.  The composed form, as names are almost always typed, keeps
    the id it had (folded per character, hashed as it is); a decomposed one takes that id."""
    return unicodedata.normalize("NFC", name)


def ha_ids(names: Iterable[str]) -> dict[str, str]:
    """The id part of each name in Home Assistant's discovery topics and unique ids.

    Why: Home Assistant ignores (with a warning) a discovery topic whose object id has anything
    but ``[a-zA-Z0-9_-]`` (``TOPIC_MATCHER`` in homeassistant/components/mqtt/discovery.py), so
    a camera ``Gate 1`` or a device ``Hof-Süd`` would get no entity; and two names with one id
    (``rear-lot`` and ``rear_lot``) would share one discovery topic, the second replacing the
    first.  So a name is folded (``fold``), and one that has other characters than letters,
    digits, ``-``, ``.`` and ``_``, or that folds to another's id without being that id itself,
    gets a short hash of the name after it.  A name is taken in its composed form, as ``hashed``
    takes it; only where the config has both forms (two cameras to it) does the decomposed one
    get a hash of its own."""
    unique = list(dict.fromkeys(names))
    folded = {name: fold(name) for name in unique}
    count = Counter(folded[n] for n in unique if _KEPT.fullmatch(n))  # a hashed name takes no plain id
    forms = Counter(composed(n) for n in unique)  # two names of one composed form: two cameras
    out: dict[str, str] = {}
    for name in unique:
        f = folded[name]
        kept = _KEPT.fullmatch(name) is not None and (count[f] == 1 or name == f)
        own = forms[composed(name)] > 1 and name != composed(name)  # the composed one keeps its id
        out[name] = f if kept else _hash(f, name) if own else hashed(name)
    return out


def keeps_fold(name: str) -> bool:
    """Whether ``name`` may have its folded form as its id (``ha_ids``), unless another's is."""
    return _KEPT.fullmatch(name) is not None


def hashed(name: str) -> str:
    """The id of a name that cannot have its folded form: that and a short hash of the name."""
    return _hash(fold(name), composed(name))


def _hash(folded: str, name: str) -> str:
    """``folded``, ``_`` and the first 6 hex digits of the sha256 of ``name``: short, and the
    same on every device and version (Home Assistant keeps the entities by it)."""
    return f"{folded}_{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def unique_id(device: str, camera: str, what: str) -> str:
    """An entity's unique id: ``edge_alpr_<device>_<camera>_<what>`` of the ids ``ha_ids`` gave
    the device and camera (also the object id of its discovery topic and of the entity id)."""
    return f"edge_alpr_{device}_{camera}_{what}"


def device_block(device: str) -> dict[str, Any]:
    """The ``device`` every entity of this device carries, so Home Assistant groups them."""
    return {"identifiers": [f"edge_alpr_{device}"], "name": f"edge-alpr {device}",
            "manufacturer": "edge-alpr", "sw_version": __version__}


def trigger_topic(ha_prefix: str, device: str, camera: str, watch_list: str) -> str:
    """Where the device trigger of one camera and watch list is announced (and removed); the
    arguments are their ``ha_ids``."""
    return f"{ha_prefix}/device_automation/{unique_id(device, camera, f'match_{watch_list}')}/config"


def trigger(camera_id: str, watch_list: str, match_topic: str, device: Mapping[str, Any]) -> dict[str, Any]:
    """A device trigger that fires on each message of ``match_topic`` (one camera, one list)."""
    return {"automation_type": "trigger", "type": "plate_match", "subtype": f"{watch_list} ({camera_id})",
            "topic": match_topic, "device": dict(device)}


def plate_sensor(ha_prefix: str, device: str, camera: str, camera_id: str, plate_topic: str,
                 shared: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The "last plate" sensor of one camera: its discovery topic and config (``device`` and
    ``camera`` are ``ha_ids``); ``shared`` carries the availability keys and the ``device``
    block every entity of this device has."""
    uid = unique_id(device, camera, "plate")
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


def parsed(payload: bytes | bytearray) -> Any:
    """A retained message found on connecting, decoded as JSON; None where it is none.

    Why not ``json.loads`` alone: anyone who may write the discovery prefix leaves what they like
    there, and a payload nested some thousands deep (``[[[[...``) raises ``RecursionError``, no
    ``ValueError``: raised in paho's network thread (the sweep reads every discovery config), it
    ended that thread, and no event of the device went again ("no PUBACK" for ever)."""
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):  # not JSON (nor a config of a device)
        return None
