"""JSON from a client, where deep nesting is bad input, not a crash, on every Python.

Why: no request this API takes nests more than three levels (a watch list's ``plates`` of
mappings), yet a few kB of brackets, well under every size limit, used to reach the parser's
recursion limit.  Where that limit is depends on the Python: 3.11's ``json.loads`` raises
``RecursionError`` past about 1000 levels, 3.13's (Debian trixie) parses ~10000, and the value
then reaches code that echoes it in a message or walks it.  So the depth is bounded here
(``MAX_DEPTH``), the same on every Python, and the too-deep case is an ``InputError`` naming the
field.  Callers keep their own messages for JSON that does not parse.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import InputError

MAX_DEPTH = 16  # arrays or objects within each other; the API's bodies need 3
SHOWN_CHARS = 60  # of a bad value echoed in an error message


def loads(text: str | bytes, what: str) -> Any:
    """``json.loads(text)``; ``InputError`` naming ``what`` where it nests past ``MAX_DEPTH``."""
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


def shown(value: Any) -> str:
    """``repr(value)`` cut to ``SHOWN_CHARS``: an error message names the bad value without
    echoing a client's megabytes back to it."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."
