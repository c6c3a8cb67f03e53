"""JSON from a client, where nesting past Python's recursion limit is bad input, not a crash.

Why: ``json.loads`` raises ``RecursionError`` (not ``ValueError``) for a few kB of brackets,
well under every size limit, and an uncaught one is a 500.  Callers keep their own messages for
JSON that does not parse; this turns the too-deep case into an ``InputError`` naming the field.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import InputError


def loads(text: str | bytes, what: str) -> Any:
    """``json.loads(text)``; ``InputError`` naming ``what`` where it is nested too deeply."""
    try:
        return json.loads(text)
    except RecursionError as e:
        raise InputError(f"{what} is nested too deeply to be read (JSON arrays or objects within "
                         "each other hundreds of levels down); send a flat object") from e
