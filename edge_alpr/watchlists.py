"""Watch lists: named sets of known plates, matched with the OCR-forgiving distance.

Why two homes: a list written in the config file (``watchlists:``) is the installer's and is
read-only at run time (the file is a root-owned conffile the service cannot write); a list
created through the API lives in ``<state_dir>/watchlists.json``, written atomically (temp
file, fsync, rename), so a power cut leaves the old or the new lists, never half of them.  A
name in both: the config file wins and the stored copy is ignored (logged).

Shape (YAML; the JSON of ``PUT /v1/watchlists/<name>/`` is the same per list)::

    watchlists:
      deny:
        max_distance: 1          # default for the list's plates (0 = exact after normalising)
        plates: [AB123CD, {plate: "XY-99-ZZ", label: "Delivery van", max_distance: 0.5}]
      allow: {plates: [...]}

A read matches an entry when ``fuzzy.distance(read, entry) <= max_distance``; of several
matches the closest wins, then the earlier list.  ``match(...)`` is what events and API results
carry as ``match: {list, plate, label, distance}``.

The lists' parsing, limits and config section are in ``watchlists_config``, which loads without
numpy (the config is read by ``edge-alpr check-config`` before each start).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, InputError
from .fuzzy import distances, normalize
from .plate_text import earlier_forms, foreign, foreign_said
from .watchlists_config import MAX_LISTS, WatchEntry, WatchList, WatchListsConfig, parse_list, parse_lists

log = logging.getLogger(__name__)

STATE_FILE = "watchlists.json"


@dataclass(frozen=True)
class Match:
    """The watch-list entry a read matched, as events and API results carry it."""

    list: str
    plate: str
    label: str
    distance: float

    def to_dict(self) -> dict[str, Any]:
        return {"list": self.list, "plate": self.plate, "label": self.label,
                "distance": round(self.distance, 2)}


@dataclass(frozen=True)
class _Index:
    """Every entry of every list flattened for one vectorised distance call."""

    plates: tuple[str, ...]
    limits: np.ndarray
    owners: tuple[tuple[WatchList, WatchEntry], ...]


def _index(lists: tuple[WatchList, ...]) -> _Index:
    owners = tuple((wl, e) for wl in lists for e in wl.entries)
    limits = np.array([e.max_distance if e.max_distance is not None else wl.max_distance
                       for wl, e in owners], np.float32)
    return _Index(tuple(e.plate for _, e in owners), limits, owners)


class WatchLists:
    """The config's lists plus the API's, matched and edited thread-safely."""

    def __init__(self, cfg: WatchListsConfig, state_dir: Path) -> None:
        self.path = state_dir / STATE_FILE
        self._config = cfg.lists
        self._stored = self._load()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[tuple[str, ...]], None]] = []
        self.matches: Counter[str] = Counter()  # by list name, for /metrics
        self.counting_since = time.time()  # when ``matches`` began: the console says since when
        self._view = self._rebuild()

    def _load(self) -> tuple[WatchList, ...]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{self.path}: cannot read the stored watch lists ({e})") from e
        try:
            lists = parse_lists(json.loads(text).get("lists"), str(self.path), "api")
        except (ValueError, AttributeError) as e:
            raise ConfigError(f"{self.path}: stored watch lists are invalid ({e}); fix or remove "
                              "the file (the lists of the config file are not in it)") from e
        names = {wl.name for wl in self._config}
        for wl in lists:
            if wl.name in names:
                log.warning("watch list %r is in the config file and in %s: the config file's "
                            "is used", wl.name, self.path)
        return tuple(wl for wl in lists if wl.name not in names)

    def _rebuild(self) -> tuple[tuple[WatchList, ...], _Index]:
        lists = self._config + self._stored
        return lists, _index(lists)

    def on_change(self, listener: Callable[[tuple[str, ...]], None]) -> None:
        """Call ``listener(names)`` after every edit (MQTT discovery republishes its triggers)."""
        self._listeners.append(listener)

    def names(self) -> tuple[str, ...]:
        return tuple(wl.name for wl in self._view[0])

    def lists(self) -> tuple[WatchList, ...]:
        return self._view[0]

    def get(self, name: str) -> WatchList | None:
        return next((wl for wl in self._view[0] if wl.name == name), None)

    def match(self, plate: str, *, counted: bool = True) -> Match | None:
        """The closest entry within its distance, or None (see the module docstring).

        ``counted``: a match of an event or result (``matches``, the metric); a look that
        delivers nothing (the console's live view) passes False.
        """
        index = self._view[1]
        if not index.plates or not normalize(plate):
            return None
        found = distances(plate, index.plates)
        ok = np.flatnonzero(found <= index.limits + 1e-6)
        if ok.size == 0:
            return None
        best = int(ok[np.argmin(found[ok])])
        wl, entry = index.owners[best]
        if counted:
            with self._lock:
                self.matches[wl.name] += 1
        return Match(wl.name, entry.plate, entry.label, float(found[best]))

    # -- edits (API lists only) -----------------------------------------------------------------

    def put(self, name: str, body: Any) -> WatchList:
        """Create or replace an API list; ``InputError`` 400 on a bad body, 409 for a config list.

        The labels the stored list lets an edit keep are read under the lock: read before it, an
        edit that waited for another could keep a label the other had just replaced."""
        with self._lock:
            old = next((wl for wl in self._stored if wl.name == name), None)
            kept = {e.plate: e.label for e in old.entries} if old is not None else {}
            try:
                new = parse_list(name, body, f"watch list {name}", "api", printable=True, kept=kept)
            except ValueError as e:
                raise InputError(str(e)) from e
            stored = tuple(wl for wl in self._stored if wl.name != name)
            self._writable(name, len(stored))
            self._commit(stored + (new,))
        return new

    def put_plate(self, name: str, plate: str, body: Any) -> WatchList:
        """Add one plate to the API list ``name``, or replace its label and distance (``body``:
        ``{"label", "max_distance"}``, both optional); the list as it is then.

        Why beside ``put``: a client that edits a list by reading it and sending it back whole
        loses a plate another client (or its own second click) added in between; this edit
        reads and writes under the lock, so each plate sent is kept.  404 for a list that does
        not exist (``put`` creates lists), 409 for a config list, 400 for a bad plate or body."""
        if body is None:
            body = {}
        if not isinstance(body, dict) or set(body) - {"label", "max_distance"}:
            raise InputError("expected a JSON object with the optional keys label and max_distance, "
                             f"got {str(body)[:80]!r}")
        with self._lock:
            old = self._editable(name)
            entries = [{k: v for k, v in e.to_dict().items() if v is not None} for e in old.entries]
            entry = {**body, "plate": plate}
            key = normalize(plate)  # once: not once per entry, under the lock
            same = [i for i, e in enumerate(entries) if e["plate"] == key]
            if same:
                entries[same[0]] = entry  # in its place: the list's order is the operator's
            else:
                entries.append(entry)
            try:
                new = parse_list(name, {"max_distance": old.max_distance, "plates": entries},
                                 f"watch list {name}", "api", printable=True,
                                 kept={e.plate: e.label for e in old.entries})
            except ValueError as e:
                raise InputError(str(e)) from e
            self._commit(tuple(new if wl.name == name else wl for wl in self._stored))
        return new

    def remove_plate(self, name: str, plate: str) -> WatchList:
        """Remove one plate from the API list ``name`` (read and written under the lock, as
        ``put_plate``); the list as it is then.  404 names a plate the list does not hold."""
        with self._lock:
            old = self._editable(name)
            held = {e.plate for e in old.entries}
            if odd := foreign(plate):
                raise InputError(f"plate {plate[:32]!r} {foreign_said(plate, odd)}")
            key = normalize(plate)
            if key not in held:
                # only named, never removed in its place: a second DELETE of the same text (a
                # retry) would remove another car's entry (TÜ123's TU123, then T123)
                earlier = next((k for k in earlier_forms(plate) if k in held), None)
                hint = (f"; it holds {earlier}, the form earlier versions stored {plate[:32]!r} as: "
                        f"DELETE .../plates/{earlier}/ to remove that" if earlier else "")
                raise InputError(f"watch list {name!r} holds no plate {plate[:32]!r} (removed "
                                 f"already?){hint}; reload the list", status=404)
            new = WatchList(name, tuple(e for e in old.entries if e.plate != key), old.max_distance, "api")
            self._commit(tuple(new if wl.name == name else wl for wl in self._stored))
        return new

    def _editable(self, name: str) -> WatchList:
        """The stored API list ``name``: 409 for a config list, 404 for none (under the lock)."""
        self._writable(name, 0)
        found = next((wl for wl in self._stored if wl.name == name), None)
        if found is None:
            raise InputError(f"no watch list named {name!r}; create it first with "
                             f"PUT /v1/watchlists/{name}/", status=404)
        return found

    def delete(self, name: str) -> None:
        with self._lock:
            if self.get(name) is None:
                raise InputError(f"no watch list named {name!r}", status=404)
            self._writable(name, 0)
            self._commit(tuple(wl for wl in self._stored if wl.name != name))

    def _writable(self, name: str, count: int) -> None:
        if any(wl.name == name for wl in self._config):
            raise InputError(f"watch list {name!r} is defined in the config file; edit it there "
                             "(or choose another name for a list kept through the API)", status=409)
        if len(self._config) + count >= MAX_LISTS:
            raise InputError(f"at most {MAX_LISTS} watch lists; delete one first", status=409)

    def _commit(self, stored: tuple[WatchList, ...]) -> None:
        lists = {wl.name: {"max_distance": wl.max_distance,
                           "plates": [{k: v for k, v in e.to_dict().items() if v is not None}
                                      for e in wl.entries]}
                 for wl in stored}
        body = {"version": 1, "lists": lists}
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(body, f)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(self.path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            log.error("watch lists not saved to %s: %s", self.path, e)
            raise InputError(f"cannot save the watch lists to {self.path} ({e}); free space on "
                             "the device and retry", status=507) from e
        self._stored = stored
        self._view = self._rebuild()
        names = self.names()
        for listener in self._listeners:
            listener(names)
