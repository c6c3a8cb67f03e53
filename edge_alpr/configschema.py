"""The config file's JSON Schema (draft 2020-12), from the same dataclasses as ``docs/config.md``.

``python -m edge_alpr.configref --schema`` prints it (for editors that validate YAML).  Each key's
type, default, range and meaning come from the dataclass that parses it, through the helpers the
reference uses (``configref``), so the schema, the reference and the parser cannot disagree.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from typing import Any

from . import watchlists_config as watchlists
from .config import Config
from .configref import NOT_KEYS, default_text, field_comments, kind_of
from .configutil import limits_of, section_types
from .watchlists_config import WatchListsConfig

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCALAR_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the config file, from the same dataclasses as the reference."""
    defs: dict[str, Any] = {}
    root = object_schema(Config, defs)
    return {"$schema": DRAFT, "title": "edge-alpr configuration (/etc/edge-alpr/config.yaml)", **root,
            "$defs": dict(sorted(defs.items()))}


def ref(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    """``{"$ref": ...}`` to the schema of a section, adding it to ``defs`` on first use."""
    if cls.__name__ not in defs:
        defs[cls.__name__] = {}  # a placeholder while its own fields are walked
        defs[cls.__name__] = object_schema(cls, defs)
    return {"$ref": f"#/$defs/{cls.__name__}"}


def object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of one section: its keys, each with type, default, range and meaning."""
    if cls is WatchListsConfig:
        return watchlists_schema()
    hints, notes = typing.get_type_hints(cls), field_comments(cls)
    props: dict[str, Any] = {}
    required = []
    kind = kind_of(cls)
    if kind:
        props["kind"] = {"const": kind, "description": f"selects this source: kind: {kind}"}
        required.append("kind")
    for f in dataclasses.fields(cls):
        if f.name in NOT_KEYS.get(cls, set()):
            continue
        t = hints[f.name]
        prop = value_schema(f, t, defs)
        if notes.get(f.name):
            prop["description"] = notes[f.name]
        default = json_default(f)
        if default is not None:
            prop["default"] = default
        props[f.name] = prop
        if default_text(f) == "required":
            required.append(f.name)
    doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
    # a section left empty (null) is all defaults
    out: dict[str, Any] = {"type": ["object", "null"], "description": doc, "properties": props,
                           "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def value_schema(f: dataclasses.Field[Any], t: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """A key's value: its type from the annotation, its limits from ``setting``."""
    subs = [ref(sub, defs) for sub in section_types(t)]
    given = f.metadata.get("schema")
    if given is not None:
        return dict(given)
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is tuple and subs:
        return {"type": "array", "items": {**subs[0], "type": "object"}}
    if len(subs) > 1:  # a camera source: its kind picks the section
        kinds = [kind_of(sub) for sub in section_types(t)]
        return {"type": "object", "required": ["kind"], "properties": {"kind": {"enum": kinds}},
                "allOf": [{"if": {"properties": {"kind": {"const": k}}}, "then": sub} for k, sub in zip(kinds, subs)]}
    if subs:
        return subs[0]
    out: dict[str, Any]
    if origin is tuple and args[0] in SCALAR_TYPES:
        out = {"type": "array", "items": {"type": SCALAR_TYPES[args[0]]}}
    else:
        out = {"type": SCALAR_TYPES[t]}
    lim = limits_of(f)
    bounds = {"minimum": lim.min, "maximum": lim.max, "exclusiveMinimum": lim.above, "exclusiveMaximum": lim.below}
    out.update({k: v for k, v in bounds.items() if v is not None})
    if lim.choices:
        extra = [c.lower() for c in lim.choices if isinstance(c, str)] if lim.any_case else []
        out["enum"] = [*lim.choices, *extra]
    if lim.nonempty and out["type"] == "string":
        out["minLength"] = 1
    elif lim.nonempty:
        out.update(minItems=1, items={**out["items"], "minLength": 1})
    return out


def json_default(f: dataclasses.Field[Any]) -> Any:
    """A key's default as JSON, ``None`` where it has none or it is a section."""
    if f.default is dataclasses.MISSING or dataclasses.is_dataclass(f.default) or limits_of(f).required:
        return None
    value = f.default
    if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
        return None
    return json.loads(json.dumps(value))


def watchlists_schema() -> dict[str, Any]:
    """``watchlists``: parsed by ``watchlists_config.parse_lists`` (shared with the API), described here."""
    distance = {"type": "number", "minimum": 0, "maximum": watchlists.MAX_DISTANCE}
    entry = {"type": "object", "additionalProperties": False, "required": ["plate"], "properties": {
        "plate": {"type": "string", "minLength": 1},
        "label": {"type": "string", "maxLength": watchlists.MAX_LABEL_CHARS},
        "max_distance": {"type": ["number", "null"], "minimum": 0, "maximum": watchlists.MAX_DISTANCE}}}
    one = {"type": "object", "additionalProperties": False, "properties": {
        "max_distance": {**distance, "default": watchlists.DEFAULT_DISTANCE, "description":
                         "the fuzzy distance a read may have; OCR confusions such as O/0 cost half an edit"},
        "plates": {"type": "array", "maxItems": watchlists.MAX_ENTRIES,
                   "items": {"anyOf": [{"type": "string", "minLength": 1}, entry]}}}}
    return {"type": ["object", "null"], "description": "named watch lists, read-only at run time",
            "maxProperties": watchlists.MAX_LISTS, "propertyNames": {"pattern": watchlists.NAME.pattern},
            "additionalProperties": one}
