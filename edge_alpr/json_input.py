"""JSON from a client, where deep nesting is bad input, not a crash, on every Python.

Why: no request this API takes nests more than three levels (a watch list's ``plates`` of
mappings), yet a few kB of brackets, well under every size limit, used to reach the parser's
recursion limit.  Where that limit is depends on the Python: 3.11's ``json.loads`` raises
``RecursionError`` past about 1000 levels, 3.13's (Debian trixie) parses ~10000, and the value
then reaches code that echoes it in a message or walks it.  So the depth is bounded here
(``MAX_DEPTH``), the same on every Python, and the too-deep case is an ``InputError`` naming the
field.  So is the count of values (``MAX_VALUES``): parsed, 10 MB of ``[{},{},...]`` took 2 GB
over four requests at once (and half a minute to answer), floats 700 MB.  Callers keep their own
messages for JSON that does not parse.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import InputError

MAX_DEPTH = 16  # arrays or objects within each other; the API's bodies need 3
# Values of one body: each costs memory far beyond its bytes (an empty object 64 bytes for its 3,
# 10 MB of '{},' 2 GB over four requests at once) and a step of ``too_deep``'s walk.
MAX_VALUES = 100_000
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes and all


def loads(text: str | bytes, what: str) -> Any:
    """``json.loads(text)``; ``InputError`` naming ``what`` where it nests past ``MAX_DEPTH`` or
    holds more than ``MAX_VALUES`` values."""
    values = _values_at_most(text)
    if values > MAX_VALUES:
        raise InputError(f"{what} holds too many JSON values ({values} commas, brackets and braces "
                         f"outside strings); at most {MAX_VALUES} are read (a watch list of 10,000 "
                         "plates, the largest body the API takes, needs 40,000)")
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        deep = True
    else:
        deep = too_deep(value)
    if deep:
        raise InputError(f"{what} is nested too deeply to be read (JSON arrays or objects more than "
                         f"{MAX_DEPTH} levels within each other); send a flat object")
    return value


def _values_at_most(text: str | bytes) -> int:
    """An upper bound of the values in ``text`` beyond the first: its commas, brackets and braces
    (each value but the first follows one).  Counted in the raw bytes first, which is enough for
    the usual body (an image's base64 has none of them); only past ``MAX_VALUES`` are they
    counted again outside strings (a label may hold commas)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _structural(data) <= MAX_VALUES:
        return 0
    return _structural(_STRING.sub(b'""', data))


def _structural(data: bytes) -> int:
    return data.count(b",") + data.count(b"[") + data.count(b"{")


def too_deep(value: Any) -> bool:
    """Whether ``value`` nests lists or dicts more than ``MAX_DEPTH`` levels; iterative, so that
    a value parsed deeper than Python's recursion limit is measured, not a crash."""
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            return True
        todo.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
