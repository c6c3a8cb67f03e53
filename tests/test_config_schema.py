"""The config file's JSON schema (``python -m edge_alpr.configref --schema``): the same keys,
defaults and ranges as the parser, and the bundled config files validate against it."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from edge_alpr import config, configref, configschema
from edge_alpr.config import Config
from edge_alpr.configutil import limits_of, section_types
from edge_alpr.errors import ConfigError
from edge_alpr.watchlists import WatchListsConfig

ROOT = Path(__file__).resolve().parents[1]


def bundled_configs() -> list[tuple[str, Any]]:
    """The package's default config file and the YAML examples of the README and the docs."""
    out = [("debian/config.yaml", yaml.safe_load((ROOT / "debian" / "config.yaml").read_text()))]
    for name in ("README.md", "docs/fleet.md"):
        for i, block in enumerate((ROOT / name).read_text().split("```yaml\n")[1:]):
            out.append((f"{name}#{i}", yaml.safe_load(block.split("```", 1)[0])))
    return out


def sections(cls: type = Config) -> list[type]:
    """Every section class under ``cls``, once, depth first (the watch lists parse their own way)."""
    out = [cls]
    for f in dataclasses.fields(cls) if cls is not WatchListsConfig else ():
        for sub in section_types(typing.get_type_hints(cls)[f.name]):
            out += [s for s in sections(sub) if s not in out]
    return out


def test_the_schema_has_a_definition_per_section_with_its_keys_only() -> None:
    schema = configschema.schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for cls in sections():
        node = schema if cls is Config else schema["$defs"][cls.__name__]
        if cls is WatchListsConfig:
            continue  # a mapping of list names: see test_watch_lists_are_a_mapping_of_names
        keys = {f.name for f in dataclasses.fields(cls)} - configref.NOT_KEYS.get(cls, set())
        if configref.kind_of(cls):
            keys.add("kind")
        assert set(node["properties"]) == keys, cls.__name__
        assert node["additionalProperties"] is False, cls.__name__


def test_types_defaults_and_limits_come_from_the_fields() -> None:
    schema = configschema.schema()
    for cls in sections():
        if cls is WatchListsConfig:
            continue
        props = (schema if cls is Config else schema["$defs"][cls.__name__])["properties"]
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in configref.NOT_KEYS.get(cls, set()):
                continue
            prop, lim, t = props[f.name], limits_of(f), hints[f.name]
            where = f"{cls.__name__}.{f.name}"
            if t in configschema.SCALAR_TYPES:
                assert prop["type"] == configschema.SCALAR_TYPES[t], where
            for key, bound in (("minimum", lim.min), ("maximum", lim.max), ("exclusiveMinimum", lim.above),
                               ("exclusiveMaximum", lim.below)):
                assert prop.get(key) == bound, where
            assert set(lim.choices) <= set(prop.get("enum", lim.choices)), where
            if f.default is not dataclasses.MISSING and not lim.required and "default" in prop:
                assert prop["default"] == json.loads(json.dumps(f.default)), where
            assert prop.get("description") or section_types(t), f"{where} has no description"


def test_watch_lists_are_a_mapping_of_names() -> None:
    node = configschema.schema()["$defs"]["WatchListsConfig"]
    assert node["propertyNames"]["pattern"] and node["additionalProperties"]["additionalProperties"] is False


def test_the_reference_shows_each_declared_range() -> None:
    shown = {(k.name, k.range) for s in configref.sections(Config) for k in s.keys}
    for cls in sections():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            lim = limits_of(f)
            if lim.choices or lim.rule() or lim.nonempty:
                text = configref.range_text(f, hints[f.name])
                assert text and (f.name, text) in shown, f"{cls.__name__}.{f.name}: no range in the reference"
    assert {("port", "0..65535"), ("tile_overlap", "[0, 0.9)"), ("qos", "0, 1 or 2")} <= shown


def test_schema_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert configref.main(["--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == configschema.schema()


@pytest.mark.parametrize("name,obj", bundled_configs(), ids=lambda v: v if isinstance(v, str) else "")
def test_bundled_configs_parse_and_validate_against_the_schema(name: str, obj: Any) -> None:
    config.from_dict(obj, name)
    schema = configschema.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(obj)]
    assert not errors, errors


@pytest.mark.parametrize("bad", [
    {"bogus": 1},
    {"api": {"port": 70000}},
    {"api": {"threads": 0}},
    {"api": {"port": "80"}},
    {"log_level": "loud"},
    {"models": {"tile_overlap": 0.9}},
    {"models": {"reader_pair": "both"}},
    {"mqtt": {"qos": 3}},
    {"mqtt": {"host": ""}},
    {"history": {"jpeg_quality": 99}},
    {"webhooks": {"targets": ["ftp://x"]}},
    {"stream": {"cameras": [{"source": {"kind": "folder"}}]}},
    {"stream": {"cameras": [{"id": "a", "source": {"kind": "webcam"}}]}},
    {"stream": {"cameras": [{"id": "a", "source": {"kind": "video"}}]}},
    {"stream": {"cameras": [{"id": "a", "source": {"kind": "folder"}, "mode": "slow"}]}},
    {"stream": {"cameras": [{"id": "a", "source": {"kind": "folder"}, "zone": [[0, 0], [1, 1]]}]}},
    {"stream": {"cameras": [{"id": "a", "source": {"kind": "folder", "patterns": []}}]}},
    {"watchlists": {"bad name": {"plates": ["AB123"]}}},
])
def test_the_schema_refuses_what_the_parser_refuses(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        config.from_dict(bad, "bad.yaml")
    assert list(jsonschema.Draft202012Validator(configschema.schema()).iter_errors(bad))
