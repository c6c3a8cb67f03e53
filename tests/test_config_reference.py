"""docs/config.md is the current reference: every key the parsers accept, documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from edge_alpr import configref
from edge_alpr.config import Config
from edge_alpr.configutil import parse_section
from edge_alpr.errors import ConfigError

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == configref.render(), (
        "docs/config.md is out of date: run python -m edge_alpr.configref --write docs/config.md")


def test_check_mode_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "config.md"
    stale.write_text(configref.render().replace("| `port` |", "| `porte` |", 1), encoding="utf-8")
    assert configref.main(["--check", str(stale)]) == 1
    configref.main(["--write", str(stale)])
    assert configref.main(["--check", str(stale)]) == 0


def accepted_keys(cls: type) -> set[str]:
    """The keys a section's parser accepts, from the error an unknown key gets."""
    parse = getattr(cls, "from_dict", lambda obj, where: parse_section(cls, obj, where))
    with pytest.raises(ConfigError) as e:
        parse({"no_such_key_": 1}, "f.yaml: x")
    found = re.search(r"allowed keys are (.*)$", str(e.value))
    assert found, str(e.value)
    return set(found.group(1).split(", "))


def parsed_sections() -> list[tuple[str, type]]:
    out = []
    for sec in configref.sections(Config):
        cls = sec_class(sec.path)
        if cls is not None and sec.path:
            out.append((sec.path, cls))
    return out


def sec_class(path: str) -> type | None:
    for p, cls in walk(Config, ""):
        if p == path:
            return cls
    return None


def walk(cls: type, path: str) -> list[tuple[str, type]]:
    import typing

    out = [(path + (f" (kind: {configref.kind_of(cls)})" if configref.kind_of(cls) else ""), cls)]
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        for suffix, sub in configref.nested(hints[f.name]):
            out += walk(sub, f"{path}.{f.name}{suffix}".lstrip("."))
    return out


@pytest.mark.parametrize("path,cls", parsed_sections(), ids=lambda v: v if isinstance(v, str) else "")
def test_documented_keys_are_the_accepted_keys(path: str, cls: type) -> None:
    if path == "watchlists":
        pytest.skip("watchlists is a mapping of list names, documented by hand")
    documented = {k.name for s in configref.sections(Config) if s.path == path for k in s.keys}
    assert documented == accepted_keys(cls)


def test_every_key_says_what_it_does() -> None:
    missing = [f"{s.path}.{k.name}".lstrip(".") for s in configref.sections(Config) for k in s.keys
               if not k.meaning]
    assert not missing, f"keys without a comment beside their field: {', '.join(missing)}"
