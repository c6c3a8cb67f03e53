"""A config file with a slip or a trap in it is a ``ConfigError`` naming the file, never a traceback,
a hang or gigabytes of memory.

The traps: YAML aliases that nest one list in itself level after level (a "billion laughs" of a
few hundred bytes) where a string is due, which an error message quoting the whole value would
write out in full; an integer too long for Python to write in decimal.  Real parts: files on
disk read by ``config.load``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_alpr import config
from edge_alpr.errors import ConfigError


def error_of(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        config.load(path)
    return str(raised.value)


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
    """Seven levels of nine: 4.8 million strings from 400 bytes of YAML, whose whole ``repr``
    is some 40 MB (nine levels: gigabytes and minutes).  The message quotes its start only."""
    said = error_of(tmp_path / "laughs.yaml", place.format(bomb=laughs(7)))
    assert "[['lol', 'lol'" in said and "(over 4194304 characters)" in said and len(said) < 1000, said[:1000]
