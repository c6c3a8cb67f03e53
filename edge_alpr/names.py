"""How messages name users and the programs of other processes.

Why a module of its own: the checks that ``check-config`` runs (camera paths, the models folder)
name the user too, and must stay light (no sqlite3, as ``statedir.py`` imports); and a name read
from /proc is whatever a process chose, so it is shown printable in one way everywhere.
"""

from __future__ import annotations

import pwd


def user_name(uid: int) -> str:
    """The name of ``uid``, or the number where the passwd database has none (a container)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def printable(text: str) -> str:
    """``text`` with each character a terminal or the journal would not show as itself as ``?``."""
    return "".join(c if c.isprintable() else "?" for c in text)
