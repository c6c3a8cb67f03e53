"""The CTC forward algorithm: the exact probability of given strings under a CTC head's frames.

Kept apart from the decoders in ``ctc.py`` (which read it from here, as callers read it from
``ctc``) because it is the one place every reading's score is computed, several times a read
(each head's candidates under both heads, every view of a re-read, every template fit).
"""

from __future__ import annotations

import numpy as np


def without_repeats(p: np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray]:
    """``p`` (probabilities: never negative) less the pure-blank frames (blank probability
    exactly 1, every other class 0) that follow another, and which frames kept are pure blank.
    Why: such a run changes a score only at its first frame, so the decoders skip the rest (see
    where they do)."""
    pure = (p[:, blank] == 1.0) & (np.count_nonzero(p, axis=1) == 1)  # the blank is the one not 0
    keep = ~pure
    keep[0] = True
    keep[1:] |= ~pure[:-1]
    return p[keep], pure[keep]


def string_prob(probs: np.ndarray, labels: list[int], blank: int) -> float:
    """P(labels | frames) by the CTC forward algorithm (one string: see :func:`string_probs`)."""
    return float(string_probs(probs, [labels], blank)[0])


def string_probs(probs: np.ndarray, texts: list[list[int] | None], blank: int) -> np.ndarray:
    """:func:`string_prob` for many label sequences at once (``None`` scores 0).

    Why batched: a paired reader scores every candidate of both heads under this head, and one
    forward pass over all of them side by side costs about what one string does.  A run of
    pure-blank frames (blank probability exactly 1, as ``ctc.prepare`` leaves a frame with no
    character) is scored as one such frame (exact: after the first, only blank states hold
    probability and a pure-blank frame keeps them as they are).  ``probs`` must be finite
    probabilities (as ``ctc.prepare`` leaves them): the texts sit side by side in one state
    vector, kept apart by a state before each text that can emit nothing (so it holds 0 and
    adds exactly nothing to the text's first state), and by multiplying with 0, which a NaN or
    an infinity would not do.
    """
    out = np.zeros(len(texts))
    todo = [i for i, t in enumerate(texts) if t is not None]
    if not todo or not len(probs):
        return out
    p, pure = without_repeats(probs.astype(np.float64), blank)
    states, gaps, skip, ends = _layout([texts[i] or [] for i in todo], blank)
    emit = p[:, states]  # every frame's probability of every state, gathered once
    emit[:, gaps] = 0.0
    # alpha sits behind two zeros, so "the state before" and "two before" are plain shifted views;
    # per frame: (alpha + before) + two_before * skip, then times the frame, added in the order of
    # the forward recursion (a zero term adds exactly nothing), into buffers made once.  Before the
    # first frame only the gaps hold 1, so the first frame starts each text at its first blank (from
    # the gap before it) or its first character (from the gap two before): times 1, exact; the gaps
    # then hold 0 for good.  After the first frame, a pure-blank frame zeroes every state a skip
    # enters (a character that is not the blank's class), so there the skip term is left out: it
    # would add 0 to any other state and be multiplied by 0 in those
    buf = np.zeros(len(states) + 2)
    alpha, before, two_before = buf[2:], buf[1:-1], buf[:-2]
    alpha[gaps] = 1.0
    grown, term = np.empty(len(states)), np.empty(len(states))
    clears = pure.tolist()
    clears[0] = False  # the first frame starts the texts through the skip term
    for frame, clear in zip(emit, clears):
        np.add(alpha, before, out=grown)
        if not clear:
            np.multiply(two_before, skip, out=term)
            np.add(grown, term, out=grown)
        np.multiply(grown, frame, out=alpha)
    out[todo] = alpha[ends] + alpha[ends - 1]  # a text of no characters: its gap's 0 (exact)
    return out


def _layout(texts: list[list[int]], blank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All texts' forward states side by side, each text as a gap (a state that emits nothing, so
    nothing enters the text from the one before it), then its extended label sequence (blank, c1,
    blank, c2, ..., blank), laid out as pairs: (gap or character, blank).

    Returns the states' classes (a gap's is any valid class: its emission is zeroed), the gaps'
    positions, 1.0 where a state may be entered from two before (a text's first character, from
    its gap; a later character after a blank, unless the same character) else 0.0, and each
    text's last state.
    """
    heads: list[int] = []
    for t in texts:
        heads.append(-1)
        heads += t
    h = np.array(heads, np.int64)
    n = 2 * len(h)
    states = np.full(n, blank, np.int64)
    states[0::2] = h  # a gap's -1 reads the last class, then zeroed
    gap = np.flatnonzero(h < 0)
    char = h >= 0
    skip = np.zeros(n + 1)
    skip[2:-1:2] = char[1:] & char[:-1] & (h[1:] != h[:-1]) & (h[1:] != blank)
    skip[2 * gap + 2] = 1.0  # after a text of no characters, the next gap: it emits nothing anyway
    ends = 2 * gap - 1
    ends[:-1] = ends[1:]
    ends[-1] = n - 1
    return states, 2 * gap, skip[:n], ends
