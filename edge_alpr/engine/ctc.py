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

import numpy as np

from ..types import Candidate
from . import regions

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
    """
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (1.0, 0.0)}  # (ends in blank, not)
    frames = probs.astype(np.float64)
    # every frame's candidate characters in one call, and plain floats: the loop below is
    # Python, where numpy scalars cost several times more per operation
    tops = np.argsort(frames, axis=1)[:, ::-1][:, :width].tolist()
    for p, top in zip(frames.tolist(), tops):
        chars = [(c, p[c]) for c in top if c != blank and p[c] >= MIN_CHAR_P]
        if not chars:  # a gap between characters (most frames): no prefix can grow
            beams = {k: ((pb + pnb) * p[blank], pnb * p[k[-1]] if k else 0.0) for k, (pb, pnb) in beams.items()}
            continue
        beams = _step(beams, p, chars, blank, width)
    out = [Candidate("".join(alphabet[c] for c in k), min(1.0, float(pb + pnb)))
           for k, (pb, pnb) in beams.items() if k and pb + pnb > 0]
    return sorted(out, key=lambda c: -c.score)[:top_n]


def _step(beams: dict[tuple[int, ...], tuple[float, float]], p: list[float], chars: list[tuple[int, float]],
          blank: int, width: int) -> dict[tuple[int, ...], tuple[float, float]]:
    """One frame of :func:`beam` that offers ``chars`` ((class, probability), best first)."""
    offered = dict(chars)
    # the prefixes already in the beam, with every path into them: blank, the last character
    # held over this frame, and their parent grown by their last character
    sums = {k: [(pb + pnb) * p[blank], pnb * p[k[-1]] if k else 0.0] for k, (pb, pnb) in beams.items()}
    known: dict[tuple[int, ...], dict[int, tuple[int, ...]]] = {}  # parent -> {character: child in beam}
    for k in beams:
        if k:
            parent, c = k[:-1], k[-1]
            known.setdefault(parent, {})[c] = k
            if parent in beams and c in offered:
                qb, qn = beams[parent]
                # after a blank, the same character again is a new character
                sums[k][1] += (qb if parent and parent[-1] == c else qb + qn) * offered[c]
    floor = sorted((b + n for b, n in sums.values()), reverse=True)[width - 1] if len(sums) >= width else 0.0
    nxt: dict[tuple[int, ...], list[float]] = {}
    for prefix, (pb, pnb) in beams.items():
        if prefix not in nxt:
            nxt[prefix] = sums[prefix]
        both, last, kids = pb + pnb, prefix[-1] if prefix else -1, known.get(prefix)
        for c, pc in chars:
            if kids is not None and c in kids:
                if kids[c] not in nxt:
                    nxt[kids[c]] = sums[kids[c]]
                continue
            grown = (pb if last == c else both) * pc  # directly after itself, the same character
            if grown >= floor:
                nxt[prefix + (c,)] = [0.0, grown]
    ranked = sorted(nxt.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:width]
    return {k: (v[0], v[1]) for k, v in ranked}


def string_prob(probs: np.ndarray, labels: list[int], blank: int) -> float:
    """P(labels | frames) by the CTC forward algorithm (one string: see :func:`string_probs`)."""
    return float(string_probs(probs, [labels], blank)[0])


def string_probs(probs: np.ndarray, texts: list[list[int] | None], blank: int) -> np.ndarray:
    """:func:`string_prob` for many label sequences at once (``None`` scores 0).

    Why batched: a paired reader scores every candidate of both heads under this head, and one
    forward pass over all of them side by side costs about what one string does.  A run of
    pure-blank frames (blank probability exactly 1, as :func:`prepare` leaves a frame with no
    character) is scored as one such frame (exact: after the first, only blank states hold
    probability and a pure-blank frame keeps them as they are).  ``probs`` must be finite
    probabilities (as :func:`prepare` leaves them): the texts sit side by side in one state
    vector, kept apart by multiplying with 0, which a NaN or an infinity would not do.
    """
    out = np.zeros(len(texts))
    todo = [i for i, t in enumerate(texts) if t is not None]
    if not todo or not len(probs):
        return out
    p = probs.astype(np.float64)
    others = np.arange(p.shape[1]) != blank
    pure = (p[:, others].max(axis=1) == 0) & (p[:, blank] == 1.0)
    p = p[~(pure & np.concatenate(([False], pure[:-1])))]
    labels = [np.asarray(texts[i], np.int64) for i in todo]
    sizes = np.array([2 * len(t) + 1 for t in labels])
    # each text's states: blank, c1, blank, c2, ..., blank (its extended label sequence)
    states = np.full(int(sizes.sum()), blank, np.int64)
    starts = np.cumsum(sizes) - sizes
    for start, t in zip(starts.tolist(), labels, strict=True):
        states[start + 1 : start + 2 * len(t) : 2] = t
    local = np.arange(len(states)) - np.repeat(starts, sizes)
    same_as_two_before = np.zeros(len(states), bool)
    same_as_two_before[2:] = states[2:] == states[:-2]
    # 1.0 where a state may be entered from the one before (from two before: a character after
    # a blank, unless the same character), else 0.0: a multiply by these is exact, and cheaper
    # per frame than selecting
    step1 = (local >= 1).astype(np.float64)
    skip = ((local >= 2) & (states != blank) & ~same_as_two_before).astype(np.float64)
    emit = p[:, states]  # every frame's probability of every state, gathered once
    # alpha sits behind two zeros, so "the state before" and "two before" are plain shifted views;
    # per frame: alpha + before * step1 + two_before * skip, then times the frame, added in that
    # order as before (a zero term adds exactly nothing), into buffers made once
    buf = np.zeros(len(states) + 2)
    alpha, before, two_before = buf[2:], buf[1:-1], buf[:-2]
    alpha[:] = np.where(local <= 1, emit[0], 0.0)
    grown, term = np.empty(len(states)), np.empty(len(states))
    for frame in emit[1:]:
        np.multiply(before, step1, out=grown)
        np.add(alpha, grown, out=grown)
        np.multiply(two_before, skip, out=term)
        np.add(grown, term, out=grown)
        np.multiply(grown, frame, out=alpha)
    ends = np.cumsum(sizes) - 1
    total = alpha[ends] + np.where(sizes > 1, alpha[ends - 1], 0.0)
    out[todo] = total
    return out


def fit_templates(probs: np.ndarray, alphabet: str, blank: int, templates: tuple[str, ...]) -> list[Candidate]:
    """The likeliest string for each plate template (``L`` letter, ``N`` digit, ``X`` either).

    Why: as for the slot head, the beam keeps only what the model already ranks high.  Here the
    template's character classes are aligned to the frames by a best-path search in which a
    frame at template position k scores its best character of that class; each position then
    takes the character with the most probability over its frames, and the string is scored
    exactly with :func:`string_prob`, so template readings compare fairly with beam readings.
    All templates are aligned in one pass, over the frames where some character is possible.
    """
    chars = probs[:, : len(alphabet)].astype(np.float64)
    masks = {k: np.array(m) for k, m in regions.symbol_masks(alphabet).items()}
    best = {k: np.where(m, chars, 0.0).max(axis=1) for k, m in masks.items()}
    live = np.flatnonzero(chars.max(axis=1) >= MIN_CHAR_P)  # pure-blank frames align trivially
    allowed = {k: np.flatnonzero(m) for k, m in masks.items()}
    # a template needs a frame per position, and a character of the alphabet for each symbol
    todo = list(dict.fromkeys(t for t in templates if t and len(t) <= len(live) and all(len(allowed[k]) for k in t)))
    if not todo:
        return []
    emit = [np.stack([best[k][live] for k in t], axis=1) for t in todo]
    sums: dict[tuple[int, ...], np.ndarray] = {}  # templates often give a position the same frames
    found: dict[str, list[int]] = {}  # each distinct string once, all scored in one batch
    for t, frames in zip(todo, _align(emit, probs[live, blank]), strict=True):
        if frames is None:
            continue
        labels = []
        for k, f in zip(t, frames):
            key = tuple(f)
            if key not in sums:
                sums[key] = chars[live[f]].sum(axis=0)
            labels.append(int(allowed[k][np.argmax(sums[key][allowed[k]])]))  # the first best allowed
        found.setdefault("".join(alphabet[c] for c in labels), labels)
    scores = string_probs(probs, list(found.values()), blank)
    return [Candidate(text, min(1.0, float(score))) for text, score in zip(found, scores, strict=True)]


def _align(emits: list[np.ndarray], blank: np.ndarray) -> list[list[list[int]] | None]:
    """Viterbi over each template's states blank/pos0/blank/pos1/..., all templates side by side.

    ``emits[i]`` is (frames, positions) for template i.  Returns, per template, the frames each
    position holds (None where no alignment gives every position a frame).
    """
    t_len = len(blank)
    sizes = [2 * e.shape[1] + 1 for e in emits]
    local = np.concatenate([np.arange(n) for n in sizes])  # state index within its template
    odd = local % 2 == 1
    rows = np.empty((t_len, len(local)))
    rows[:, ~odd] = np.log(np.maximum(blank, 1e-12))[:, None]
    rows[:, odd] = np.log(np.maximum(np.concatenate(emits, axis=1), 1e-12))
    starts = np.cumsum([0] + sizes[:-1])
    score = np.full(len(local), -np.inf)
    score[starts], score[starts + 1] = rows[0, starts], rows[0, starts + 1]
    back = np.zeros((t_len, len(local)), np.int64)
    idx = np.arange(len(local))
    # moves[k, s]: the score of reaching state s from state s - k (stay, advance, skip a blank);
    # filled in place each frame.  A move no state may make adds -inf (a template's first state
    # cannot advance, a blank cannot skip); the others add 0, which is exact.
    moves = np.full((3, len(local)), -np.inf)
    no_advance = np.where(local < 1, -np.inf, 0.0)[1:]
    no_skip = np.where(odd & (local >= 2), 0.0, -np.inf)[2:]
    for t in range(1, t_len):
        moves[0] = score
        np.add(score[:-1], no_advance, out=moves[1, 1:])
        np.add(score[:-2], no_skip, out=moves[2, 2:])
        back[t] = idx - np.argmax(moves, axis=0)
        score = moves.max(axis=0) + rows[t]
    out: list[list[list[int]] | None] = []
    for start, n in zip(starts, sizes, strict=True):
        end = start + n - 1 if score[start + n - 1] >= score[start + n - 2] else start + n - 2
        if not np.isfinite(score[end]):
            out.append(None)
            continue
        frames: list[list[int]] = [[] for _ in range(n // 2)]
        s = int(end)
        for t in range(t_len - 1, -1, -1):
            if (s - start) % 2 == 1:
                frames[(s - start) // 2].append(t)
            s = int(back[t, s])
        out.append(frames if all(frames) else None)
    return out
