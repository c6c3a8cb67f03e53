"""How messages name users, the programs of other processes and a client's values.

Why a module of its own: the checks that ``check-config`` runs (camera paths, the models folder)
name the user too, and must stay light (no sqlite3, as ``statedir.py`` imports); and a name read
from /proc is whatever a process chose, so it is shown printable in one way everywhere.
"""

from __future__ import annotations

import pwd
import re
from typing import Any

SHOWN_CHARS = 80  # of a client's value quoted in an error message
# C0 (\t \n \r among them), DEL, C1 (NEL), the line and paragraph separators (str.splitlines
# breaks a line on each) and lone surrogates (UTF-8, the journal's and SQLite's, cannot encode them)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def user_name(uid: int) -> str:
    """The name of ``uid``, or the number where the passwd database has none (a container)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def printable(text: str) -> str:
    """``text`` with each character a terminal or the journal would not show as itself as ``?``."""
    return "".join(c if c.isprintable() else "?" for c in text)


def control_problem(text: str) -> str:
    """Why ``text`` cannot be a client's name for something ("" when it can): its first control
    character, by code point and position (from 1).  Why: a camera_id or a watch-list label is
    echoed, logged, exported as CSV and sent on in events; a newline there forges a journal line
    and splits a CSV row for a tool that reads lines.  Printable text of any script is fine."""
    found = _CONTROL.search(text)
    if found is None:
        return ""
    return (f"holds the control character U+{ord(found.group()):04X} at position {found.start() + 1} "
            "(line breaks, tabs and other control characters are refused); send printable text")


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``value`` quoted for an error message (its ``repr``): a string of more than ``limit``
    characters by its first ``limit`` and its length, any other value's ``repr`` alike.  Why: a
    message naming a client's bad value (a 64 KB header, a form field or a JSON value of
    megabytes) must not send it back, nor let it fill a log; the length says what was cut.  One
    wording for the API's requests, their recognition ``config`` and the watch lists."""
    if isinstance(value, str):  # cut the text, then quote it: the quotes and escapes stay whole
        return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
