"""The ``watchlists`` config section: named lists of known plates, parsed and validated.

The lists' shape and matching are described in ``watchlists``; this module holds what the config
file's lists need to load (their limits, ``WatchEntry``, ``WatchList``, ``parse_lists`` and
``WatchListsConfig``) without numpy, so ``edge-alpr check-config`` stays fast on a Raspberry Pi.
``watchlists`` re-exports all of it; ``parse_list`` validates the API's lists too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .names import control_problem, shown
from .plate_text import MAX_PLATE_CHARS, foreign, foreign_said, normalize

NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_LISTS = 32
MAX_ENTRIES = 10_000
MAX_LABEL_CHARS = 80
MAX_DISTANCE = 3.0
DEFAULT_DISTANCE = 1.0


@dataclass(frozen=True)
class WatchEntry:
    """One known plate (normalised) with its label; ``max_distance`` None: the list's."""

    plate: str
    label: str = ""
    max_distance: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"plate": self.plate, "label": self.label, "max_distance": self.max_distance}


@dataclass(frozen=True)
class WatchList:
    """A named list; ``source`` is ``config`` (read-only) or ``api``."""

    name: str
    entries: tuple[WatchEntry, ...]
    max_distance: float = DEFAULT_DISTANCE
    source: str = "config"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "max_distance": self.max_distance, "source": self.source,
                "plates": [e.to_dict() for e in self.entries]}


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not 0 <= value <= MAX_DISTANCE:
        raise ValueError(f"{where}: max_distance must be a number 0..{MAX_DISTANCE:g}, got {shown(value)}")
    return float(value)


def parse_list(name: str, obj: Any, where: str, source: str, *, printable: bool = False,
               kept: Mapping[str, str] | None = None) -> WatchList:
    """Validate one list (from YAML or an API body); ``ValueError`` names the bad value.

    ``printable``: refuse a label holding a control character (a list sent to the API: its
    labels go into events, CSV exports and logs).  Lists already stored or written in the config
    file are read as they are, so an upgrade never stops a service over a label it kept before.
    ``kept``: the stored list's label of each plate; a label sent unchanged for its plate is
    taken as it is, since a client may edit a list by sending it whole (or one plate: the
    others are sent again): a label stored before control characters were refused must not block that."""
    if not isinstance(name, str) or not NAME.fullmatch(name):  # fullmatch: `$` also matches before a final newline
        raise ValueError(f"{where}: list name {shown(name)} must be 1-32 letters, digits, _ or -")
    if not isinstance(obj, dict) or set(obj) - {"max_distance", "plates"}:
        raise ValueError(f"{where}: expected a mapping with the keys max_distance and plates")
    default = _number(obj.get("max_distance", DEFAULT_DISTANCE), where)
    raw = obj.get("plates", [])
    if not isinstance(raw, list) or len(raw) > MAX_ENTRIES:
        raise ValueError(f"{where}.plates: expected a list of at most {MAX_ENTRIES} plates")
    entries: dict[str, WatchEntry] = {}
    for i, item in enumerate(raw):
        at = f"{where}.plates[{i}]"
        item = {"plate": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or set(item) - {"plate", "label", "max_distance"}:
            raise ValueError(f"{at}: expected a plate or a mapping with plate, label, max_distance")
        typed = item.get("plate", "")
        if isinstance(typed, str) and len(typed) > 4 * MAX_PLATE_CHARS:  # before any work on it
            raise ValueError(f"{at}.plate: {shown(typed)} is {len(typed)} characters long; a plate holds "
                             f"at most {MAX_PLATE_CHARS} letters or digits")
        if isinstance(typed, str) and (odd := foreign(typed)):
            raise ValueError(f"{at}.plate: {shown(typed)} {foreign_said(typed, odd)}")
        plate = normalize(typed) if isinstance(typed, str) else ""
        if not 1 <= len(plate) <= MAX_PLATE_CHARS:
            raise ValueError(f"{at}.plate: {shown(item.get('plate'))} must hold 1-{MAX_PLATE_CHARS} "
                             "letters or digits")
        label = item.get("label", "")
        if not isinstance(label, str) or len(label) > MAX_LABEL_CHARS:
            raise ValueError(f"{at}.label: expected text of at most {MAX_LABEL_CHARS} characters")
        if printable and (kept is None or kept.get(plate) != label) and (problem := control_problem(label)):
            raise ValueError(f"{at}.label: {shown(label)} {problem}")
        limit = item.get("max_distance")
        entries[plate] = WatchEntry(plate, label, None if limit is None else _number(limit, at))
    return WatchList(name, tuple(entries.values()), default, source)


def parse_lists(obj: Any, where: str, source: str) -> tuple[WatchList, ...]:
    """A mapping of name to list; ``ValueError`` names the bad value."""
    if obj is None:
        return ()
    if not isinstance(obj, dict) or len(obj) > MAX_LISTS:
        raise ValueError(f"{where}: expected a mapping of at most {MAX_LISTS} named lists")
    return tuple(parse_list(name, body, f"{where}.{name}", source) for name, body in obj.items())


@dataclass(frozen=True)
class WatchListsConfig:
    """The lists of the config file (read-only at run time)."""

    lists: tuple[WatchList, ...] = ()

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> WatchListsConfig:
        try:
            return cls(parse_lists(obj, where, "config"))
        except ValueError as e:
            raise ConfigError(str(e)) from e
