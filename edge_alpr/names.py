"""How messages name users, the programs of other processes and a client's values.

Why a module of its own: the checks that ``check-config`` runs (camera paths, the models folder)
name the user too, and must stay light (no sqlite3, as ``statedir.py`` imports); and a name read
from /proc is whatever a process chose, so it is shown printable in one way everywhere.
"""

from __future__ import annotations

import pwd
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

SHOWN_CHARS = 80  # of a client's value quoted in an error message
# C0 (\t \n \r among them), DEL, C1 (NEL), the line and paragraph separators (str.splitlines
# breaks a line on each) and lone surrogates (UTF-8, the journal's and SQLite's, cannot encode them)
_CONTROL = "\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
# the bidirectional embeddings, overrides and isolates (U+202E shows ``gate\u202eexe.jpg`` as
# ``gategpj.exe``: text in the console, a log or a CSV export that reads other than it is) and
# the invisible zero-width space and byte order mark (``ga\u200bte`` shows as ``gate`` but is
# another camera), like every other invisible format character (``_FORMAT_KEPT``).  The zero-width
# joiner and non-joiner (emoji, Persian, Indic scripts) and the left-to-right, right-to-left and
# Arabic letter marks (Hebrew or Arabic beside digits) stay accepted.
_BIDI = "\u202a-\u202e\u2066-\u2069"
_INVISIBLE = "\u200b\ufeff\u115f\u1160\u3164\uffa0"  # the Hangul fillers show as a blank yet are letters
_REFUSED = re.compile(f"[{_CONTROL}{_BIDI}{_INVISIBLE}]")
# Every other invisible format character (Unicode category Cf: the word joiner U+2060, the soft
# hyphen U+00AD, the tag characters U+E0000-E007F, so the flags of England, Scotland and Wales
# built from them, ...) is refused too, but for these, which
# scripts and emoji need: ZWNJ, ZWJ, the left-to-right, right-to-left and Arabic letter marks
_FORMAT_KEPT = frozenset("\u200c\u200d\u200e\u200f\u061c")
_KIND = ((re.compile(f"[{_CONTROL}]"), "the control character"),
         (re.compile(f"[{_BIDI}]"), "the bidirectional control"))


def user_name(uid: int) -> str:
    """The name of ``uid``, or the number where the passwd database has none (a container)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def printable(text: str) -> str:
    """``text`` with each character a terminal or the journal would not show as itself as ``?``."""
    return "".join(c if c.isprintable() else "?" for c in text)


def control_problem(text: str, start: int = 0) -> str:
    """Why ``text`` cannot be a client's name for something ("" when it can): its first refused
    character, by code point and by its place in the value (from 1; ``start``: the characters
    before ``text`` in the value as sent, stripped off).  Why: a camera_id or a watch-list label
    is echoed, logged, exported as CSV, shown in the console and sent on in events; a newline
    there forges a journal line and splits a CSV row for a tool that reads lines, a bidirectional
    override shows its text reordered.  Printable text of any script is fine."""
    found = _REFUSED.search(text)
    end = len(text) if found is None else found.start()
    place = end if text.isascii() else next(
        (i for i, c in enumerate(text[:end]) if c not in _FORMAT_KEPT and unicodedata.category(c) == "Cf"), end)
    if place == len(text):
        return ""
    char = text[place]
    kind = next((name for kind, name in _KIND if kind.match(char)), "the invisible character")
    return (f"holds {kind} U+{ord(char):04X} as character {start + place + 1} "
            "(line breaks, tabs and other control characters, bidirectional controls and invisible "
            "characters such as zero-width spaces, word joiners and soft hyphens are refused); "
            "send printable text")


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``value`` quoted for an error message (its ``repr``): a string of more than ``limit``
    characters by its first ``limit`` and its length, any other value's ``repr`` alike.  Why: a
    message naming a client's bad value (a 64 KB header, a form field or a JSON value of
    megabytes) must not send it back, nor let it fill a log; the length says what was cut.  One
    wording for the API's requests, their recognition ``config``, the watch lists and the config.

    A list or mapping is written only as far as it is shown, and counted up to ``_REPR_WALK``:
    a config's YAML aliases nest one list nine times in each of nine levels (a "billion laughs"
    of a few hundred bytes), whose whole ``repr`` would take minutes and gigabytes."""
    if isinstance(value, str):  # cut the text, then quote it: the quotes and escapes stay whole
        return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"
    head: list[str] = []  # the pieces of the first ``limit`` characters, then only the count
    size = 0
    for part in _repr_parts(value, set()):
        if size <= limit:
            head.append(part)
        size += len(part)
        if size > _REPR_WALK:
            return f"{''.join(head)[:limit]}... (over {_REPR_WALK} characters)"
    text = "".join(head)
    return text if size <= limit else f"{text[:limit]}... ({size} characters)"


# characters of a value's repr counted before its length is said only as a bound: more than the
# repr of the API's largest JSON (100,000 numbers), a fraction of a second to count
_REPR_WALK = 1 << 22


def _repr_parts(value: Any, inside: set[int]) -> Iterator[str]:
    """``repr(value)`` in pieces, lazily, as ``repr`` writes lists, tuples and dicts (``[...]``
    for one inside itself); a leaf's text is cut to ``_REPR_WALK`` characters."""
    kind = type(value)
    if kind in (list, tuple, dict):
        if id(value) in inside:
            yield "[...]" if kind is list else "{...}" if kind is dict else "(...)"
            return
        inside.add(id(value))
        items = value.items() if kind is dict else value
        yield "[" if kind is list else "{" if kind is dict else "("
        for i, item in enumerate(items):
            if i:
                yield ", "
            if kind is dict:
                yield from _repr_parts(item[0], inside)
                yield ": "
                yield from _repr_parts(item[1], inside)
            else:
                yield from _repr_parts(item, inside)
        yield "]" if kind is list else "}" if kind is dict else ",)" if len(value) == 1 else ")"
        inside.discard(id(value))
    elif isinstance(value, (str, bytes)) and len(value) > _REPR_WALK:
        yield repr(value[:_REPR_WALK])
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 10_000:
        yield f"<an integer of {value.bit_length()} bits>"  # repr refuses over 4,300 digits
    else:
        yield repr(value)
