"""Plate similarity that forgives the reader's usual confusions.

Why a weighted edit distance: a reader that sees ``O`` where the plate has ``0`` (or ``I``/``1``,
``B``/``8``, ``S``/``5``, ``Z``/``2``, ``D``/``0``) is off by one character in plain
Levenshtein terms, exactly as far as a different plate that differs by one real character.
Search and watch lists should find "my plate read with an O" first, so those substitutions
cost ``CONFUSION_COST`` (0.5) instead of 1; every other edit (substitution, insertion,
deletion) costs 1.

Plates are compared after ``normalize``: upper case, letters and digits only (``AB-123 cd``
is ``AB123CD``).  ``distances`` compares one plate with many at once in numpy (a search over
the distinct plates of a large history stays in milliseconds); ``distance`` is the scalar form
and agrees with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# the normal form, kept apart from numpy: the config's watch lists are normalised when it loads
from .plate_text import MAX_PLATE_CHARS as MAX_PLATE_CHARS
from .plate_text import normalize

CONFUSION_COST = 0.5
CONFUSION_PAIRS = (("O", "0"), ("I", "1"), ("B", "8"), ("S", "5"), ("Z", "2"), ("D", "0"))


def _cost_table() -> np.ndarray:
    table = np.ones((256, 256), np.float32)
    np.fill_diagonal(table, 0.0)
    for a, b in CONFUSION_PAIRS:
        table[ord(a), ord(b)] = table[ord(b), ord(a)] = CONFUSION_COST
    return table


_COSTS = _cost_table()


def distance(a: str, b: str) -> float:
    """Weighted edit distance of two plates (normalised first); see the module docstring."""
    a, b = normalize(a), normalize(b)
    prev = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        cur = [float(i)]
        row = _COSTS[ord(ca)]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1.0, cur[j - 1] + 1.0, prev[j - 1] + float(row[ord(cb)])))
        prev = cur
    return prev[-1]


def distances(query: str, plates: Sequence[str]) -> np.ndarray:
    """``distance(query, p)`` for every ``p`` of ``plates`` (already normalised), as float32.

    One dynamic-programming row per query character, each computed for all plates at once.
    """
    q = normalize(query)
    n = len(plates)
    if n == 0:
        return np.zeros(0, np.float32)
    width = max(len(p) for p in plates)
    lengths = np.fromiter((len(p) for p in plates), np.int64, n)
    if width == 0:
        return np.full(n, float(len(q)), np.float32)
    packed = "".join(p.ljust(width, "\0") for p in plates).encode("ascii", "replace")
    codes = np.frombuffer(packed, np.uint8).reshape(n, width)
    prev = np.tile(np.arange(width + 1, dtype=np.float32), (n, 1))
    for i, qc in enumerate(q.encode("ascii"), 1):
        sub = _COSTS[qc][codes]  # (n, width) substitution costs against this query character
        best = np.minimum(prev[:, :-1] + sub, prev[:, 1:] + 1.0)
        cur = np.empty_like(prev)
        cur[:, 0] = i
        for j in range(1, width + 1):
            np.minimum(best[:, j - 1], cur[:, j - 1] + 1.0, out=cur[:, j])
        prev = cur
    return prev[np.arange(n), lengths]
