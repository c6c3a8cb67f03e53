"""Plate similarity that forgives the reader's usual confusions.

Why a weighted edit distance: a reader that sees ``O`` where the plate has ``0`` (or ``I``/``1``,
``B``/``8``, ``S``/``5``, ``Z``/``2``, ``D``/``0``) is off by one character in plain
Levenshtein terms, exactly as far as a different plate that differs by one real character.
Search and watch lists should find "my plate read with an O" first, so those substitutions
cost ``CONFUSION_COST`` (0.5) instead of 1; every other edit (substitution, insertion,
deletion) costs 1.

Plates are compared after ``normalize``: upper case, letters and digits only (``AB-123 cd``
is ``AB123CD``).  ``distances`` compares one plate with many at once in numpy; ``within``
finds those within a distance among the distinct plates of a large history (200,000) in tens of
milliseconds, most of them ruled out by their characters alone; ``distance`` is the scalar form
and agrees with both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def _class_table() -> np.ndarray:
    """Each character's class: the characters a reader confuses share one (``O``, ``0``, ``D``)."""
    table = np.arange(256, dtype=np.uint8)
    for a, b in CONFUSION_PAIRS:
        table[table == table[ord(b)]] = table[ord(a)]
    return table


_COSTS = _cost_table()
_CLASSES = _class_table()
_IDENTITY = np.arange(256, dtype=np.uint8)


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
    if not plates:
        return np.zeros(0, np.float32)
    packed = pack("\n".join(plates))
    return _dp(normalize(query).encode("ascii"), packed.columns.T, packed.lengths)


@dataclass(frozen=True)
class Packed:
    """Many normalised plates side by side, for comparing one query with all of them: their
    characters position by position (ASCII codes, 0 past a plate's end: ``columns[j]`` is every
    plate's ``j``-th, so a count over the plates runs along contiguous memory), their lengths,
    and where each starts in ``text`` (the plates joined by newlines, as SQLite's
    ``group_concat`` gives them: one string, not 200,000 Python objects)."""

    text: str
    columns: np.ndarray  # (longest, plates) uint8
    lengths: np.ndarray  # (plates,) int64
    starts: np.ndarray  # (plates,) int64

    def plate(self, i: int) -> str:
        start = int(self.starts[i])
        return self.text[start:start + int(self.lengths[i])]


def pack(joined: str | None) -> Packed:
    """``joined``: normalised plates separated by newlines ("" is one empty plate; None none)."""
    if joined is None:
        empty = np.zeros(0, np.int64)
        return Packed("", np.zeros((0, 0), np.uint8), empty, empty)
    buf = np.frombuffer(joined.encode("ascii", "replace"), np.uint8)  # a character a byte, as text
    newline = buf == ord("\n")
    ends = np.append(np.flatnonzero(newline), buf.size)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    codes = np.zeros((lengths.size, int(lengths.max())), np.uint8)
    codes[np.arange(codes.shape[1]) < lengths[:, None]] = buf[~newline]  # row by row, as they come
    return Packed(joined, np.ascontiguousarray(codes.T), lengths, starts)


def within(query: str, plates: Packed, max_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the plates within ``max_distance`` of ``query`` and their distances,
    exactly as ``distances`` gives them, at a fraction of its cost over a large history.

    Why it may skip most plates: what their characters alone cost is a lower bound no sequence
    of edits beats.  An edit costs at least 0.5 and changes one character on each side at most,
    so a plate costs at least half of the characters of the longer of the two that the other
    lacks; and only a confusion costs less than 1, between characters of one class (``O``,
    ``0`` and ``D``; ``I`` and ``1``; ...), so it costs at least the characters of the longer
    that the other lacks counted by class.  Only the plates within on both bounds are compared.
    """
    q = normalize(query).encode("ascii")
    limit = max_distance + 1e-6
    qb = np.frombuffer(q, np.uint8)
    columns, n = plates.columns, plates.lengths.size
    longer = np.maximum(plates.lengths, len(q))
    bound = np.zeros(n, np.float32)
    for table, weight in ((_IDENTITY, 0.5), (_CLASSES, 1.0)):
        shared = np.zeros(n, np.int64)  # the characters (or classes) the plate has of the query's
        coded = table[columns]
        for c, k in zip(*np.unique(table[qb], return_counts=True)):
            count = np.zeros(n, np.uint8)
            for column in coded:
                count += column == c
            shared += np.minimum(count, k)
        bound = np.maximum(bound, weight * (longer - shared))
    near = np.flatnonzero(bound <= limit)
    lengths = plates.lengths[near]
    found = _dp(q, columns[:int(lengths.max(initial=0)), near].T, lengths)
    ok = found <= limit
    return near[ok], found[ok]


def _dp(q: bytes, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The distances of ``q`` to each row of ``codes`` (``lengths`` long), as float32."""
    n, width = codes.shape
    if n == 0:
        return np.zeros(0, np.float32)
    if width == 0:
        return np.full(n, float(len(q)), np.float32)
    prev = np.tile(np.arange(width + 1, dtype=np.float32), (n, 1))
    for i, qc in enumerate(q, 1):
        sub = _COSTS[qc][codes]  # (n, width) substitution costs against this query character
        best = np.minimum(prev[:, :-1] + sub, prev[:, 1:] + 1.0)
        cur = np.empty_like(prev)
        cur[:, 0] = i
        for j in range(1, width + 1):
            np.minimum(best[:, j - 1], cur[:, j - 1] + 1.0, out=cur[:, j])
        prev = cur
    return prev[np.arange(n), lengths]
