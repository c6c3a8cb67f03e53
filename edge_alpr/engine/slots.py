"""The slot head's string decoding: per-slot probabilities -> ranked readings and their scores.

A slot head writes a plate's characters into fixed slots from the first, pads after them
(``ctc.py`` is the same for the CTC head, whose frames need alignment).  ``reader.Reader`` picks
one module or the other by its sidecar's head.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..types import Candidate
from . import regions as reg

# The labels' mark for a masked or unreadable character: the readers learn it as a class, but it
# is never a reading (a plate has no "?" on it).
UNKNOWN = "?"


def beam(probs: np.ndarray, alphabet: str, pad: int, width: int, top_n: int) -> list[Candidate]:
    """Best strings from per-slot probabilities (slots are independent, so a beam is exact enough).

    Different slot paths that spell the same text (pads placed differently) are merged.  Every
    slot's best classes are sorted in one call (each row as it would be alone), and each beam
    entry's path is kept as a back-pointer and spelt once at the end.
    """
    classes = _classes(alphabet, probs.shape[1])
    logp = np.log(np.maximum(probs, 1e-9))
    best = classes[logp[:, classes].argsort(axis=1)[:, ::-1][:, :width]]  # per slot, its best classes
    gains = np.take_along_axis(logp, best, axis=1).astype(np.float64)
    # minus the log-probability of each beam: -(a + b) is exactly (-a) - b, and sorting the
    # negation up is the best first without negating each slot's sums again
    lost = np.zeros(1)
    steps = []
    for gain in gains:
        grown = (lost[:, None] - gain).ravel()
        keep = grown.argsort(kind="stable")[:width]  # beam-major ties, as a stable sort of the list
        steps.append(np.divmod(keep, len(gain)))
        lost = grown[keep]
    scores = -lost
    seqs = np.zeros((len(scores), len(steps)), np.int64)  # each beam's slot classes
    at = np.arange(len(scores))
    for i in range(len(steps) - 1, -1, -1):
        rows, cols = steps[i]
        seqs[:, i] = best[i][cols[at]]
        at = rows[at]
    merged: dict[str, float] = {}
    for lp, seq in zip(scores.tolist(), seqs.tolist()):
        text = "".join(alphabet[c] for c in seq if c != pad)
        if text:
            merged[text] = merged.get(text, 0.0) + math.exp(lp)
    ranked = sorted(merged.items(), key=lambda kv: -kv[1])[:top_n]
    return [Candidate(t, min(1.0, s)) for t, s in ranked]


@functools.lru_cache(maxsize=8)
def _classes(alphabet: str, n: int) -> np.ndarray:
    """The classes a reading may use: never "?" (after fold_unknown it has probability 0, but so
    may many classes of an int8 softmax).  Cached per reader output; never written to."""
    return np.array([i for i in range(n) if i >= len(alphabet) or alphabet[i] != UNKNOWN])


@functools.lru_cache(maxsize=8)
def _masks(alphabet: str, n: int) -> dict[str, np.ndarray]:
    """Per template symbol, the classes it allows among ``n`` (never the pad).  Cached; never written to."""
    return {k: np.array(m + [False])[:n] for k, m in reg.symbol_masks(alphabet).items()}


def fit_templates(probs: np.ndarray, alphabet: str, pad: int, templates: tuple[str, ...]) -> list[Candidate]:
    """The most likely string for each plate template (``L`` letter, ``N`` digit, ``X`` either).

    Why: the beam only keeps what the model already ranks high, so a plate whose one
    uncertain character is confused across classes (``5`` for ``G`` in ``GNF3490``) never gets
    its right reading.  With slots independent, the best string under a template is exact and
    cheap: per slot, the best allowed character, then pads.
    """
    # per symbol, every slot's best allowed character, once for all templates (never the pad)
    best = {k: np.where(m, probs, -1.0).argmax(axis=1).tolist() for k, m in _masks(alphabet, probs.shape[1]).items()}
    rows = probs.tolist()
    out = []
    for template in templates:
        if len(template) > len(rows):
            continue
        chosen = [best[k][i] for i, k in enumerate(template)]
        score = 1.0
        for row, c in zip(rows, chosen + [pad] * (len(rows) - len(chosen))):
            score *= row[c]
        out.append(Candidate("".join(alphabet[c] for c in chosen), min(1.0, score)))
    return out


def string_probs(probs: np.ndarray, texts: list[list[int] | None], pad: int) -> np.ndarray:
    """P(text) under a slot head: its characters in the first slots, pads in the rest.

    Why only that placement: training always writes the text from slot 0 and pads after it,
    so other pad placements carry (next to) no probability.  ``None`` or a text longer than
    the slots scores 0, and so does a text with a character the int8 softmax rounded to 0 in
    its slot (flooring such zeros was tried and lost held-out scene reads).
    """
    out = np.zeros(len(texts))
    n = len(probs)
    todo = [(i, ids + [pad] * (n - len(ids))) for i, ids in enumerate(texts) if ids is not None and len(ids) <= n]
    if todo:  # every text's slot probabilities in one gather, one product per row
        seqs = np.array([seq for _, seq in todo], np.int64)
        out[[i for i, _ in todo]] = np.prod(probs[np.arange(n)[None, :], seqs].astype(np.float64), axis=1)
    return out
