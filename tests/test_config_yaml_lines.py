"""A config file's YAML error shows the line YAML means, counted as YAML counts lines.

PyYAML breaks lines at ``\\n``, ``\\r\\n``, ``\\r``, NEL (``\\x85``), LS (``\\u2028``) and PS
(``\\u2029``), and refuses the other characters Python's ``str.splitlines`` also breaks at
(``\\v``, ``\\f``, ``\\x1c``-``\\x1e``) before it parses anything.  Real parts: files on disk read by
``config.load``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_alpr import config
from edge_alpr.errors import ConfigError


def error_of(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8", newline="")
    with pytest.raises(ConfigError) as raised:
        config.load(path)
    return str(raised.value)


@pytest.mark.parametrize("char", ["\v", "\f", "\x1c", "\x1e"])
def test_a_character_yaml_refuses_is_placed_by_file_line_and_column(tmp_path: Path, char: str) -> None:
    """A character pasted in from elsewhere: the error names the file and the line YAML counts (not
    PyYAML's "<unicode string>, position 98"), and shows that line with its credentials hidden and
    the character as ``?`` (a raw form feed or separator would garble the terminal)."""
    path = tmp_path / "pasted.yaml"
    text = ("api:\n  port: 8081\nstream:\n  cameras:\n"
            f"    - id: gate\n      url: rtsp://admin:s3cret@cam/stream1{char} # main\n"
            "      fps: 5\n")
    message = error_of(path, text)
    assert "<unicode string>" not in message and "position" not in message, message
    assert f'in "{path}", line 6, column 43' in message, message  # 1-based, as PyYAML's own places
    assert "\n  line 6:\n          url: rtsp://cam/stream1? # main" in message, message
    assert "s3cret" not in message and char not in message, message


def test_the_caret_stands_under_the_refused_character(tmp_path: Path) -> None:
    message = error_of(tmp_path / "ff.yaml", "api:\n  port: 8081\n\f\nstream: {}\n")
    assert message.endswith("\n  line 3:\n    ?\n    ^"), message


@pytest.mark.parametrize("brk", ["\r\n", "\r", "\x85", "\u2028", "\u2029"])
def test_a_syntax_error_shows_the_line_yaml_counts_after_each_kind_of_line_break(tmp_path: Path, brk: str) -> None:
    path = tmp_path / "breaks.yaml"
    message = error_of(path, f"# first{brk}api:{brk}  port: [8081{brk}")
    assert f'in "{path}", line 3, column 9' in message, message  # the "[" that is never closed
    assert "\n  line 3:\n      port: [8081\n" in message, message
