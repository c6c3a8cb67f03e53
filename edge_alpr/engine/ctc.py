"""Decoding for a CTC reader head: per-frame character probabilities -> strings with scores.

Why CTC: a fixed-slot head names "the 3rd character" directly, so when two slots look at the
same glyph the plate reads with a doubled character and a dropped one (``444MWK`` as
``444WWW``).  A CTC head classifies every column of the crop (one frame sequence per plate row,
top row first, so two-line plates still read top to bottom) and the decoder merges repeats and
drops blanks, so the order of the characters comes from the image itself.

Probabilities here are plain (not log) values in [0, 1] from the int8 model: a path's score is
the product of its frames' probabilities and a string's score is the sum over its paths.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..types import Candidate
from . import regions
from .ctc_forward import string_prob, string_probs, without_repeats

# string_prob(s) live in ctc_forward (the forward algorithm) and are read from here, as always
__all__ = ["MIN_CHAR_P", "beam", "fit_templates", "greedy", "prepare", "string_prob", "string_probs"]

# A frame character below this probability cannot start or extend a beam (an int8 softmax step
# is 1/256, so this keeps every character the model gives any weight).
MIN_CHAR_P = 1.0 / 256


def prepare(probs: np.ndarray, blank: int, rows: int) -> np.ndarray:
    """Model output -> decoder input: each frame renormalised, and a pure-blank frame between rows.

    Why renormalise: the int8 softmax tops out at 255/256 per frame, so over 64 frames even a
    certain reading would score at most 0.78; the scores are meant to compare with the slot
    heads' and with the service's score thresholds.  Why the separator: the top row's last
    frame and the bottom row's first frame are neighbours in the sequence, and one character
    at the end of the top row and the same one starting the bottom row must stay two.
    """
    p = probs.astype(np.float64)
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    if rows > 1:
        sep = np.zeros((1, p.shape[1]))
        sep[0, blank] = 1.0
        parts = np.split(p, rows)
        p = np.concatenate([x for part in parts for x in (part, sep)][:-1])
    return p


def greedy(probs: np.ndarray, blank: int) -> list[int]:
    """Best path: the most likely class per frame, repeats merged, blanks dropped."""
    best = np.argmax(probs, axis=-1)
    out: list[int] = []
    prev = -1
    for c in best.tolist():
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return out


# A beam: prefix (character indices) -> (P(ends in blank), P(ends in its last character), their sum).
# Why the sum is kept: every step reads it several times (growing, ranking), and computing it once
# where its two terms are made gives the same float each time.
_Beams = dict[tuple[int, ...], tuple[float, float, float]]


def beam(probs: np.ndarray, alphabet: str, blank: int, width: int, top_n: int) -> list[Candidate]:
    """Top strings by CTC prefix beam search (each score sums every path that spells it).

    Why the two steps per frame: most frames offer, beside their character, a few at the int8
    floor (1/256), and every prefix grown by one of those used to be stored and sorted only to be
    dropped.  A prefix new in this frame has one path into it (from its parent), so its score is
    known when it is grown; the prefixes already in the beam are summed first, and a new one
    scoring under the ``width``-th of them cannot make the beam, so it is never stored.  The
    result is the same to the bit as storing them all (``tests/test_ctc.py`` holds that
    reference): every sum adds the same terms (at most two, in either order), and what is kept
    is inserted in the same order, so ties sort alike.

    Why repeated pure-blank frames are skipped (most of a plate's 65 frames): the first of a run
    moves every prefix's probability to "ends in blank" (times exactly 1) and zeroes the rest
    (times exactly 0), after which each further one multiplies by 1 and adds 0, which changes
    no bit (``tests/test_decode_reference.py`` holds that to the plain search too).
    """
    beams: _Beams = {(): (1.0, 0.0, 1.0)}
    frames, pure = without_repeats(probs.astype(np.float64), blank)
    # every frame's candidate characters in one call, and plain floats: the loop below is
    # Python, where numpy scalars cost several times more per operation
    tops = frames.argsort(axis=1)[:, ::-1][:, :width].tolist()
    for p, top, clear in zip(frames.tolist(), tops, pure.tolist()):
        if clear:  # every prefix now ends in blank with all it had (times 1; the rest times 0): exact
            beams = {k: (both, 0.0, both) for k, (_, _, both) in beams.items()}
            continue
        chars = [(c, p[c]) for c in top if c != blank and p[c] >= MIN_CHAR_P]
        if chars:
            beams = _step(beams, p, chars, blank, width)
            continue
        # a gap between characters: no prefix can grow
        gap, held = p[blank], {}
        for k, (_, pnb, both) in beams.items():
            b, n = both * gap, pnb * p[k[-1]] if k else 0.0
            held[k] = (b, n, b + n)
        beams = held
    out = [Candidate("".join(alphabet[c] for c in k), min(1.0, float(both)))
           for k, (_, _, both) in beams.items() if k and both > 0]
    return sorted(out, key=lambda c: -c.score)[:top_n]


def _total(item: tuple[tuple[int, ...], tuple[float, float, float]]) -> float:
    return item[1][2]


def _step(beams: _Beams, p: list[float], chars: list[tuple[int, float]], blank: int, width: int) -> _Beams:
    """One frame of :func:`beam` that offers ``chars`` ((class, probability), best first)."""
    offered = dict(chars)
    gap = p[blank]
    # the prefixes already in the beam, with every path into them: blank, the last character
    # held over this frame, and their parent grown by their last character
    sums: _Beams = {}
    known: dict[tuple[int, ...], dict[int, tuple[int, ...]]] = {}  # parent in beam -> {character: child in beam}
    lowest = math.inf
    for k, (_, pnb, both) in beams.items():
        n = 0.0
        if k:
            parent, c = k[:-1], k[-1]
            n = pnb * p[c]
            q = beams.get(parent)
            if q is not None:
                kids = known.get(parent)
                if kids is None:
                    known[parent] = {c: k}
                else:
                    kids[c] = k
                if c in offered:
                    # after a blank, the same character again is a new character
                    n += (q[0] if parent and parent[-1] == c else q[2]) * offered[c]
        b = both * gap
        total = b + n
        sums[k] = (b, n, total)
        if total < lowest:
            lowest = total
    # a beam holds at most ``width`` prefixes, so a full one's ``width``-th best is its lowest
    floor = lowest if len(sums) >= width else 0.0
    nxt: _Beams = {}
    for prefix, (pb, _, both) in beams.items():
        if prefix not in nxt:
            nxt[prefix] = sums[prefix]
        last, kids = prefix[-1] if prefix else -1, known.get(prefix)
        for i, (c, pc) in enumerate(chars):
            if kids is not None and c in kids:
                if kids[c] not in nxt:
                    nxt[kids[c]] = sums[kids[c]]
            elif c == last:  # directly after itself, the same character needs a blank between
                grown = pb * pc
                if grown >= floor:
                    nxt[prefix + (c,)] = (0.0, grown, grown)
            else:
                grown = both * pc
                if grown < floor:
                    # chars come best first and pb <= both, so no later character grows this
                    # prefix into the beam either; its children already in the beam still go in,
                    # in the same order
                    if kids is not None:
                        for c2, _ in chars[i + 1:]:
                            if c2 in kids and kids[c2] not in nxt:
                                nxt[kids[c2]] = sums[kids[c2]]
                    break
                nxt[prefix + (c,)] = (0.0, grown, grown)
    # best first, ties in insertion order (``reverse`` keeps a sort stable)
    return dict(sorted(nxt.items(), key=_total, reverse=True)[:width])


def fit_templates(probs: np.ndarray, alphabet: str, blank: int, templates: tuple[str, ...]) -> list[Candidate]:
    """The likeliest string for each plate template (``L`` letter, ``N`` digit, ``X`` either).

    Why: as for the slot head, the beam keeps only what the model already ranks high.  Here the
    template's character classes are aligned to the frames by a best-path search in which a
    frame at template position k scores its best character of that class; each position then
    takes the character with the most probability over its frames, and the string is scored
    exactly with ``string_prob``, so template readings compare fairly with beam readings.
    All templates are aligned in one pass, over the frames where some character is possible,
    and every position of every template picks its character in one array operation.
    """
    chars = probs[:, : len(alphabet)].astype(np.float64)
    masks, allowed = _symbols(alphabet)
    live = np.flatnonzero(chars.max(axis=1) >= MIN_CHAR_P)  # pure-blank frames align trivially
    # a template needs a frame per position, and a character of the alphabet for each symbol
    todo = list(dict.fromkeys(t for t in templates if t and len(t) <= len(live) and all(allowed[k] for k in t)))
    if not todo:
        return []
    seen = chars[live]
    best = {k: np.where(masks[k], seen, 0.0).max(axis=1) for k in {k for t in todo for k in t}}
    symbols = [k for t in todo for k in t]
    aligned = _align(np.stack([best[k] for k in symbols], axis=1), [len(t) for t in todo], probs[live, blank])
    # per position of every aligned template, the probability over its frames (in the order the
    # alignment lists them, latest first, as they were always summed) of each character
    rows, sums, spelt = [], {}, []
    for t, frames in zip(todo, aligned, strict=True):
        if frames is None:
            continue
        spelt.append(t)
        for f in frames:
            if len(f) == 1:
                rows.append(seen[f[0]])
            else:
                key = tuple(f)
                if key not in sums:
                    sums[key] = seen[f].sum(axis=0)
                rows.append(sums[key])
    found: dict[str, list[int]] = {}  # each distinct string once, all scored in one batch
    if spelt:
        # the first best allowed character: disallowed ones never win against a probability
        picked = np.where(np.array([masks[k] for t in spelt for k in t]), np.array(rows), -np.inf).argmax(axis=1)
        at = 0
        for t in spelt:
            labels = picked[at : at + len(t)].tolist()
            at += len(t)
            found.setdefault("".join(alphabet[c] for c in labels), labels)
    scores = string_probs(probs, list(found.values()), blank)
    return [Candidate(text, min(1.0, float(score))) for text, score in zip(found, scores, strict=True)]


@functools.lru_cache(maxsize=8)
def _symbols(alphabet: str) -> tuple[dict[str, np.ndarray], dict[str, bool]]:
    """Per template symbol, which of the alphabet's characters it allows, and whether any.

    Why cached: the same for every read of a reader, and building it cost more than a template
    fit's arithmetic.  Never written to.
    """
    masks = {k: np.array(m, bool) for k, m in regions.symbol_masks(alphabet).items()}
    return masks, {k: bool(m.any()) for k, m in masks.items()}


@functools.lru_cache(maxsize=64)
def _template_states(positions: tuple[int, ...]) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_align`'s layout for templates of these lengths: each one's states, where each
    starts, which are positions (not blanks), and what the advance and skip moves add: -inf where
    no state may make the move (a template's first state cannot advance, a blank cannot skip),
    else 0, which is exact.  Cached: a region's templates come back on every read.  Never written to.
    """
    sizes = [2 * n + 1 for n in positions]
    local = np.concatenate([np.arange(n) for n in sizes])  # state index within its template
    odd = local % 2 == 1
    no_advance = np.where(local < 1, -np.inf, 0.0)[1:]
    no_skip = np.where(odd & (local >= 2), 0.0, -np.inf)[2:]
    return sizes, np.cumsum([0] + sizes[:-1]), odd, no_advance, no_skip


def _align(emit: np.ndarray, positions: list[int], blank: np.ndarray) -> list[list[list[int]] | None]:
    """Viterbi over each template's states blank/pos0/blank/pos1/..., all templates side by side.

    ``emit`` is (frames, positions of every template, one template after the other), with
    ``positions[i]`` of template i.  Returns, per template, the frames each position holds, latest
    first (None where no alignment gives every position a frame).
    """
    t_len = len(blank)
    sizes, starts, odd, no_advance, no_skip = _template_states(tuple(positions))
    rows = np.empty((t_len, len(odd)))
    rows[:, ~odd] = np.log(np.maximum(blank, 1e-12))[:, None]
    rows[:, odd] = np.log(np.maximum(emit, 1e-12))
    # moves[k, s]: the score of reaching state s from state s - k (stay, advance, skip a blank),
    # moves[0] being the scores so far
    moves = np.full((3, len(odd)), -np.inf)
    score = moves[0]
    score[starts], score[starts + 1] = rows[0, starts], rows[0, starts + 1]
    back = np.zeros((t_len, len(odd)), np.int64)  # per frame and state, the move that reached it
    best = np.empty(len(odd))
    for t in range(1, t_len):
        np.add(score[:-1], no_advance, out=moves[1, 1:])
        np.add(score[:-2], no_skip, out=moves[2, 2:])
        moves.argmax(axis=0, out=back[t])
        moves.max(axis=0, out=best)
        np.add(best, rows[t], out=score)
    final, moved = score.tolist(), back.tolist()
    out: list[list[list[int]] | None] = []
    for start, n in zip(starts.tolist(), sizes, strict=True):
        end = start + n - 1 if final[start + n - 1] >= final[start + n - 2] else start + n - 2
        if not math.isfinite(final[end]):
            out.append(None)
            continue
        frames: list[list[int]] = [[] for _ in range(n // 2)]
        s = end
        for t in range(t_len - 1, -1, -1):
            if (s - start) % 2 == 1:
                frames[(s - start) // 2].append(t)
            s -= moved[t][s]
        out.append(frames if all(frames) else None)
    return out
