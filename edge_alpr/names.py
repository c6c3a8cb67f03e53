"""How messages name users, the programs of other processes and a client's values.

Why a module of its own: the checks that ``check-config`` runs (camera paths, the models folder)
name the user too, and must stay light (no sqlite3, as ``statedir.py`` imports); and a name read
from /proc is whatever a process chose, so it is shown printable in one way everywhere.
"""

from __future__ import annotations

import pwd
from typing import Any

SHOWN_CHARS = 80  # of a client's value quoted in an error message


def user_name(uid: int) -> str:
    """The name of ``uid``, or the number where the passwd database has none (a container)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def printable(text: str) -> str:
    """``text`` with each character a terminal or the journal would not show as itself as ``?``."""
    return "".join(c if c.isprintable() else "?" for c in text)


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
