"""A config file with a slip or a trap in it is a ``ConfigError`` naming the file, never a traceback,
a hang or gigabytes of memory.

The slips of a hand-edited file: a section pasted twice (YAML keeps the last, and the first one's
settings would be lost without a word), a value YAML takes for a date or a number but cannot
build (``2026-13-45``, an integer of thousands of digits).  The traps: YAML aliases that nest one
list in itself level after level (a "billion laughs" of a few hundred bytes) where a string is
due, which an error message quoting the whole value would write out in full; ``--config`` naming
a file of gigabytes.  Real parts: files on disk read by ``config.load``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from edge_alpr import config
from edge_alpr.configyaml import parse
from edge_alpr.errors import ConfigError


def error_of(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        config.load(path)
    return str(raised.value)


@pytest.mark.parametrize("text, first, again", [
    ("api:\n  port: 9000\nlog_level: INFO\napi:\n  threads: 2\n", 1, 4),
    ("api:\n  port: 9000\n  threads: 2\n  port: 9001\n", 2, 4),
    ("watchlists:\n  deny: {plates: [AB123CD]}\n  deny: {plates: [XY99ZZ]}\n", 2, 3),
])
def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path: Path, text: str, first: int, again: int) -> None:
    said = error_of(tmp_path / "twice.yaml", text)
    assert "given again" in said, said
    assert f"twice.yaml\", line {first}," in said and f"twice.yaml\", line {again}," in said, said


def test_a_merge_key_is_not_taken_for_a_key_given_twice(tmp_path: Path) -> None:
    """``<<: *common`` then a key it also holds: YAML's way to override a shared setting."""
    path = tmp_path / "merged.yaml"
    path.write_text("api: {<<: {port: 9000, threads: 2}, port: 9001}\n", encoding="utf-8")
    cfg = config.load(path)
    assert (cfg.api.port, cfg.api.threads) == (9001, 2)


@pytest.mark.parametrize("value, kind", [
    ("2026-13-45", "timestamp"),  # a date typed where a number is due, with a month out of range
    ("1" + "0" * 5000, "int"),  # Python refuses to read an integer of over 4,300 digits
    ('!!int "eighty"', "int"),
])
def test_a_value_yaml_cannot_build_is_an_error_naming_its_line(tmp_path: Path, value: str, kind: str) -> None:
    said = error_of(tmp_path / "odd.yaml", f"log_level: INFO\napi:\n  port: {value}\n")
    assert "not valid YAML" in said and f"as a YAML {kind}" in said and 'odd.yaml", line 3, column 9' in said, said
    assert len(said) < 1000, "the value is quoted cut"


def test_a_huge_integer_out_of_range_is_named_by_its_size(tmp_path: Path) -> None:
    """A hexadecimal integer of 5,000 digits is read (base 16 has no digit limit) but has no
    decimal ``repr`` (over 4,300 digits): the error says its size."""
    said = error_of(tmp_path / "hex.yaml", "api:\n  port: 0x" + "f" * 5000 + "\n")
    assert "api.port: must be in 0..65535" in said and "integer of 20000 bits" in said, said


def laughs(levels: int) -> str:
    """A flow list whose last item nests nine copies of the one before, ``levels`` times over."""
    items = ["&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    items += [f"&l{k} [" + ", ".join([f"*l{k - 1}"] * 9) + "]" for k in range(1, levels)]
    return "[" + ", ".join(items) + "]"


@pytest.mark.parametrize("place", [
    "log_level: {bomb}\n",
    "api:\n  license_key: {bomb}\n",
    "api:\n  allowed_hosts: [{bomb}]\n",
    "watchlists:\n  deny:\n    plates: [{{plate: {bomb}}}]\n",
])
def test_an_alias_bomb_where_text_is_due_is_a_short_error(tmp_path: Path, place: str) -> None:
    """Six levels of nine: half a million strings from 350 bytes of YAML, whose whole ``repr``
    is some 4 MB (nine levels: gigabytes and minutes).  The message quotes its start only."""
    said = error_of(tmp_path / "laughs.yaml", place.format(bomb=laughs(6)))
    assert "[['lol', 'lol'" in said and "characters)" in said and len(said) < 1000, said[:1000]


@pytest.mark.parametrize("place", [
    "stream:\n  cameras:\n    - id: gate\n      source: {bomb}\n",  # a mapping is due
    "stream:\n  cameras:\n    - id: gate\n      source: {{kind: {bomb}}}\n",  # a source kind is due
    "stream:\n  cameras: {{x: {bomb}}}\n",  # a list of cameras is due
    "stream:\n  cameras:\n    - id: gate\n      source: {{kind: folder}}\n      zone: {bomb}\n",  # points due
])
def test_an_alias_bomb_where_a_camera_setting_is_due_is_a_short_error(tmp_path: Path, place: str) -> None:
    """Six levels of nine (half a million strings, a ``repr`` of some 4 MB) where a camera's
    source, its kind, the camera list or a zone is due: the message quotes the value's start."""
    said = error_of(tmp_path / "laughs.yaml", place.format(bomb=laughs(6)))
    assert "laughs.yaml" in said and "'lol', 'lol'" in said and "characters)" in said, said[:1000]
    assert len(said) < 1000, said[:1000]


@pytest.mark.parametrize("levels", [8, 9])
def test_aliases_copying_a_list_millions_of_times_are_refused_as_the_file_is_read(tmp_path: Path, levels: int) -> None:
    """Eight levels of nine (43 million strings) or nine (387 million), under a key of no
    section: refused by the YAML reader itself, naming the line, before any reader of the data
    (an error message, a loop over a list) can walk it."""
    said = error_of(tmp_path / "laughs.yaml", f"# shared settings\nx-shared: {laughs(levels)}\n")
    assert "laughs.yaml\", line 2," in said and "aliases (*name)" in said and len(said) < 1000, said[:1000]


def test_the_error_points_at_the_alias_that_crosses_the_limit(tmp_path: Path) -> None:
    """A level of the bomb a line: the line and caret named are those of an alias (``*l5``), not
    the list or key that holds it, whose line says nothing of aliases."""
    levels = ["    - &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    levels += [f"    - &l{k} [" + ", ".join([f"*l{k - 1}"] * 9) + "]\n" for k in range(1, 9)]
    text = "watchlists:\n  deny:\n    plates:\n" + "".join(levels)
    said = error_of(tmp_path / "laughs.yaml", text)
    place = re.search(r"line (\d+), column (\d+)", said)
    assert place is not None, said[:1000]
    line, column = int(place.group(1)), int(place.group(2))
    assert text.splitlines()[line - 1][column - 1] == "*", said[:1000]
    assert f"\n    {' ' * (column - 1)}^" in said, said[:1000]


def test_a_labelled_watch_list_aliased_in_every_list_is_read(tmp_path: Path) -> None:
    """10,000 plates each with a label (a mapping of two pairs: 50,000 nodes) in all 32 lists, one
    written and 31 aliases: 1.55 million nodes copied, the most that watch lists can use."""
    plates = "".join(f"      - {{plate: AB{i:05d}, label: gate {i}}}\n" for i in range(10_000))
    lists = "".join(f"  l{k}:\n    plates: *plates\n" for k in range(1, 32))
    path = tmp_path / "labelled.yaml"
    path.write_text(f"watchlists:\n  l0:\n    plates: &plates\n{plates}{lists}", encoding="utf-8")
    cfg = config.load(path)
    assert len(cfg.watchlists.lists) == 32 and all(len(w.entries) == 10_000 for w in cfg.watchlists.lists)


def test_aliases_used_as_a_config_uses_them_are_read(tmp_path: Path) -> None:
    """One watch list's plates given to 32 lists by an alias: 320,000 plates read from one
    10,000, as the lists would be written out in full."""
    plates = ", ".join(f"AB{i:05d}" for i in range(10_000))
    lists = "".join(f"  l{k}: {{plates: *plates}}\n" for k in range(1, 32))
    path = tmp_path / "shared.yaml"
    path.write_text(f"watchlists:\n  l0: {{plates: &plates [{plates}]}}\n{lists}", encoding="utf-8")
    cfg = config.load(path)
    assert len(cfg.watchlists.lists) == 32 and all(len(w.entries) == 10_000 for w in cfg.watchlists.lists)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("text", [
    f"log_level: {nested(3000)}\n",  # PyYAML's composer recursed past Python's limit: a RecursionError
    f"a: &deep {nested(60)}\nlog_level: {'[' * 60}*deep{']' * 60}\n",  # 120 deep through an alias
], ids=["3000 deep", "through an alias"])
def test_lists_nested_thousands_deep_are_an_error_naming_the_file(tmp_path: Path, text: str) -> None:
    said = error_of(tmp_path / "deep.yaml", text)
    assert "deep.yaml\", line" in said, said[:1000]
    assert "nest more than 100 deep" in said or "100 levels deep" in said, said[:1000]
    assert len(said) < 1000


def test_lists_nested_as_deep_as_allowed_are_read() -> None:
    """The document's mapping, then 99 lists: 100 levels."""
    assert parse(f"a: {nested(99)}\n")["a"] == parse(f"a: {nested(99)}\n", "again")["a"]
    with pytest.raises(ConfigError, match="nest more than 100 deep"):
        parse(f"a: {nested(100)}\n")


@pytest.mark.parametrize("text", [
    # a camera's settings merge shared ones and override one of them; a camera merges those
    "templates:\n  base: &base\n    a: 1\n  cam: &cam\n    <<: *base\n    a: 2\nfront:\n  <<: *cam\n  b: 3\n",
    # the same, the overriding mapping nested deeper than the one that merges it
    "l0: &l0 {a: 1}\ngrp:\n  sub:\n    l1: &l1\n      <<: *l0\n      a: 2\nuse:\n  <<: *l1\n",
])
def test_a_merge_of_a_mapping_that_overrides_what_it_merges_is_no_key_given_twice(text: str) -> None:
    assert parse(text) == yaml.safe_load(text)


def test_a_key_given_twice_is_quoted_as_each_place_spells_it(tmp_path: Path) -> None:
    """``1`` and ``1.0`` are one key to YAML: the message gives each as its place spells it, a
    number unquoted (``'1'`` would be the text "1", another key), text quoted."""
    said = error_of(tmp_path / "twice.yaml", "1: a\n1.0: b\n")
    assert "the key 1 is first given here" in said and "given again here as 1.0," in said, said
    said = error_of(tmp_path / "twice.yaml", "'1': a\n'1': b\n")
    assert "the key '1' is first given here" in said and "given again here, where" in said, said


def test_a_config_file_of_gigabytes_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--config`` naming a log or a disk image (here 64 MiB of zeros): its first 32 MiB are read, no more, and the
    error says why (before, the whole file was read, and ``/dev/zero`` filled the memory)."""
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as f:  # sparse: no disk used
        f.truncate(64 * 1024 ** 2)
    with pytest.raises(ConfigError, match=r"huge.yaml: the config file is over 33554432 bytes") as raised:
        config.load(huge)
    # 32 lists of 10,000 plates with long labels can be more: the message says where they go
    assert "PUT /v1/watchlists/<name>/" in str(raised.value), raised.value
    # the bound itself, lowered (PyYAML takes some 15 s to read 32 MiB): a file at it is read
    monkeypatch.setattr(config, "MAX_CONFIG_BYTES", 100)
    edge = tmp_path / "edge.yaml"
    edge.write_bytes(b"api: {port: 9000}\n" + b"#" * 81 + b"\n")
    assert edge.stat().st_size == 100 and config.load(edge).api.port == 9000
    edge.write_bytes(b"api: {port: 9000}\n" + b"#" * 82 + b"\n")
    with pytest.raises(ConfigError, match=r"over 100 bytes"):
        config.load(edge)
