"""A device's id in Home Assistant ids when another device's name folds to the same one.

Why: entity unique ids and discovery topics (``edge_alpr_<device>_...``) are shared by every
device on one broker, and a device's name is folded into them (``mqtt_discovery.ha_ids``):
devices ``yard-1`` and ``yard_1`` both got ``edge_alpr_yard_1_gate_plate``.  Home Assistant takes
the second's config as an update of the first's entity (measured, 2026.2.3: "Component has
already been discovered ..., sending update"), which stays on the first device with the second's
state: the second device gets no camera entity, no trigger.

A device cannot know the names of all others, but it sees their discovery configs: on each
connection it reads the retained ones anyway (``mqtt_retained.Sweep``).  So the first device
that registered the folded id keeps it (its entities and their history in Home Assistant stay),
and one that finds the id held by another device's configs takes its hashed id
(``mqtt_discovery.hashed``), as a camera whose id another camera has.  Which holds is read from
the ids of the configs found: this device's own (by its ``device`` identifier) under the plain
or the hashed id, or another device's, whose name folds to the same id, under the plain one.
"""

from __future__ import annotations

from . import mqtt_discovery

_PREFIX = "edge_alpr_"  # of unique ids, object ids and device identifiers


class DeviceIds:
    """What the discovery configs found on the broker say of this device's id."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.plain = mqtt_discovery.fold(device)
        self.hashed = mqtt_discovery.hashed(device)
        self.mine_plain = self.mine_hashed = self.other_plain = False

    def see(self, topic: str, payload: bytes | bytearray) -> None:
        """A retained discovery config (``<prefix>/<component>/<object id>/config``)."""
        parts = topic.split("/")
        object_id = parts[-2] if len(parts) >= 3 else ""
        if not object_id.startswith(f"{_PREFIX}{self.plain}_"):
            return
        config = mqtt_discovery.parsed(payload)
        device = config.get("device") if isinstance(config, dict) else None
        ids = device.get("identifiers") if isinstance(device, dict) else None
        for ident in ids if isinstance(ids, list) else []:
            name = ident[len(_PREFIX):] if isinstance(ident, str) and ident.startswith(_PREFIX) else None
            if name == self.device:
                if object_id.startswith(f"{_PREFIX}{self.hashed}_"):
                    self.mine_hashed = True
                else:
                    self.mine_plain = True
            elif (name is not None and mqtt_discovery.fold(name) == self.plain
                  and not object_id.startswith(f"{_PREFIX}{mqtt_discovery.hashed(name)}_")):
                self.other_plain = True

    def decide(self) -> str:
        """The device's id: the hashed one where it has it already, or where another device holds
        the plain one (both holding it, from before: the one whose name is the plain id keeps
        it); else the plain one (``ha_ids`` of the name alone)."""
        if not mqtt_discovery.keeps_fold(self.device) or self.mine_hashed:
            return self.hashed
        if self.other_plain and not (self.mine_plain and self.device == self.plain):
            return self.hashed
        return self.plain
