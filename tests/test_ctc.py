"""CTC decoding (edge_alpr.engine.ctc) against the definition: a string's probability is the sum,
over every frame path that collapses to it, of the product of the path's frame probabilities.

The reference here enumerates paths by brute force, independently of the decoder's recursions.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge_alpr.engine import ctc

ALPHABET = "AB5G"
BLANK = len(ALPHABET)


def collapse(path: tuple[int, ...]) -> str:
    out, prev = [], -1
    for c in path:
        if c != prev and c != BLANK:
            out.append(ALPHABET[c])
        prev = c
    return "".join(out)


def brute_force(probs: np.ndarray) -> dict[str, float]:
    totals: dict[str, float] = {}
    for path in itertools.product(range(probs.shape[1]), repeat=len(probs)):
        text = collapse(path)
        totals[text] = totals.get(text, 0.0) + float(np.prod([probs[t, c] for t, c in enumerate(path)]))
    return totals


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    rng = np.random.default_rng(7)
    p = rng.random((4, BLANK + 1)) ** 3  # peaked, like a trained model
    return p / p.sum(axis=1, keepdims=True)


def test_greedy_merges_repeats_and_drops_blanks() -> None:
    a, b, blank = 0, 1, BLANK
    probs = np.eye(BLANK + 1)[[a, a, blank, a, b, b, blank]]
    assert "".join(ALPHABET[i] for i in ctc.greedy(probs, BLANK)) == "AAB"


def test_a_held_character_is_one_character() -> None:
    probs = np.eye(BLANK + 1)[[0, 0, 0]] * 0.97 + 0.006
    best = ctc.beam(probs, ALPHABET, BLANK, width=8, top_n=3)[0]
    assert best.plate == "A"


def test_string_probability_matches_path_enumeration(frames: np.ndarray) -> None:
    reference = brute_force(frames)
    assert sum(reference.values()) == pytest.approx(1.0)
    for text, p in reference.items():
        labels = [ALPHABET.index(c) for c in text]
        assert ctc.string_prob(frames, labels, BLANK) == pytest.approx(p, rel=1e-9, abs=1e-12)
    assert ctc.string_prob(frames, [0, 0, 0, 0, 0], BLANK) == 0.0  # 5 characters cannot fit 4 frames


def test_beam_ranks_strings_by_their_total_probability(frames: np.ndarray) -> None:
    reference = brute_force(frames)
    ranked = sorted(((p, t) for t, p in reference.items() if t), reverse=True)[:3]
    # a beam wide enough to keep every prefix is exact, up to the characters the decoder skips
    # for being below one int8 step (ctc.MIN_CHAR_P)
    got = ctc.beam(frames, ALPHABET, BLANK, width=1000, top_n=3)
    assert [c.plate for c in got] == [t for _, t in ranked]
    for c, (p, _) in zip(got, ranked, strict=True):
        assert c.score == pytest.approx(p, rel=1e-6)


def test_template_picks_the_letter_the_beam_ranks_second() -> None:
    # one frame that looks more like "5" than "G", then blanks: the template "L" wants a letter
    probs = np.full((3, BLANK + 1), 0.01)
    probs[0, ALPHABET.index("5")], probs[0, ALPHABET.index("G")] = 0.6, 0.36
    probs[1:, BLANK] = 0.96
    probs /= probs.sum(axis=1, keepdims=True)
    assert ctc.beam(probs, ALPHABET, BLANK, 8, 1)[0].plate == "5"
    (fitted,) = ctc.fit_templates(probs, ALPHABET, BLANK, ("L",))
    assert fitted.plate == "G"
    assert fitted.score == pytest.approx(brute_force(probs)["G"], rel=1e-9)


def test_template_longer_than_the_frames_is_skipped() -> None:
    probs = np.full((2, BLANK + 1), 1.0 / (BLANK + 1))
    assert ctc.fit_templates(probs, ALPHABET, BLANK, ("LLL",)) == []


def test_rows_are_kept_apart_and_frames_renormalised() -> None:
    # "A" ends the top row and "A" starts the bottom row: two characters, not one held "A"
    q = np.zeros((4, BLANK + 1))
    q[[0, 3], BLANK] = 255 / 256  # int8 softmax maximum
    q[[1, 2], 0] = 255 / 256
    p = ctc.prepare(q, BLANK, rows=2)
    assert len(p) == 5 and np.allclose(p.sum(axis=1), 1.0)
    best = ctc.beam(p, ALPHABET, BLANK, 8, 1)[0]
    assert (best.plate, best.score) == ("AA", pytest.approx(1.0))
    assert ctc.beam(ctc.prepare(q, BLANK, rows=1), ALPHABET, BLANK, 8, 1)[0].plate == "A"


def test_templates_of_several_positions_read_the_likeliest_fitting_string() -> None:
    # int8-like frames (multiples of 1/256, exact zeros) of a plate whose second character looks
    # more like "5" than "A": the beam reads "55", the template "NL" (digit, letter) must give
    # the fitting string with the most probability, "5A"
    q = np.zeros((5, BLANK + 1))
    q[0, [2, 3, BLANK]] = [150, 76, 30]  # "5", "G", blank
    q[1, BLANK] = 256
    q[2, [2, 0, 1, BLANK]] = [120, 100, 6, 30]  # "5", "A", "B", blank
    q[3, BLANK] = 256
    q[4, [0, BLANK]] = [10, 246]
    q /= 256
    reference = brute_force(q)
    assert ctc.beam(q, ALPHABET, BLANK, 8, 1)[0].plate == "55"
    fits = {t: p for t, p in reference.items() if len(t) == 2 and t[0].isdigit() and t[1].isalpha()}
    (fitted,) = ctc.fit_templates(q, ALPHABET, BLANK, ("NL", "NL"))  # a repeated template counts once
    assert fitted.plate == max(fits, key=fits.__getitem__) == "5A"
    assert fitted.score == pytest.approx(reference["5A"], rel=1e-9)


def test_template_reading_fits_and_is_scored_exactly_on_noisy_frames() -> None:
    # the alignment is a best-path approximation, so on flat frames the string need not be the
    # very best fitting one; it must fit, and its score must be its exact probability
    rng = np.random.default_rng(3)
    q = np.floor(rng.dirichlet(np.full(BLANK + 1, 0.4), size=5) * 256) / 256
    q[:, BLANK] += 1 - q.sum(axis=1)
    reference = brute_force(q)
    (fitted,) = ctc.fit_templates(q, ALPHABET, BLANK, ("LN",))
    assert len(fitted.plate) == 2 and fitted.plate[0].isalpha() and fitted.plate[1].isdigit()
    assert fitted.score == pytest.approx(reference[fitted.plate], rel=1e-9)


def test_batched_string_probabilities_match_path_enumeration(frames: np.ndarray) -> None:
    """``string_probs`` scores many strings in one pass, including runs of pure-blank frames."""
    gap = np.eye(BLANK + 1)[[BLANK, BLANK, BLANK]]  # three pure-blank frames between two halves
    probs = np.concatenate([frames[:2], gap, frames[2:]])
    reference = brute_force(probs)
    texts = sorted(reference, key=lambda t: -reference[t])[:12] + ["GGGGG"]
    got = ctc.string_probs(probs, [[ALPHABET.index(c) for c in t] for t in texts] + [None], BLANK)
    assert got[:-1] == pytest.approx([reference.get(t, 0.0) for t in texts], abs=1e-12)
    assert got[-1] == 0.0 and got[-2] == 0.0  # unreachable in 7 frames / not spellable


def test_batched_scoring_with_the_blank_inside_the_alphabet() -> None:
    """The blank need not be the last class: classes after it are characters too."""
    blank = 1
    rng = np.random.default_rng(3)
    probs = rng.random((4, 4)) ** 2
    probs[1] = [0.0, 1.0, 0.0, 0.0]  # pure blank
    probs[2] = [0.0, 0.6, 0.0, 0.4]  # only a class above the blank: not pure
    probs /= probs.sum(axis=1, keepdims=True)
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(4), repeat=4):
        out, prev = [], -1
        for c in path:
            if c != prev and c != blank:
                out.append(c)
            prev = c
        totals[tuple(out)] = totals.get(tuple(out), 0.0) + float(np.prod([probs[t, c] for t, c in enumerate(path)]))
    labels = sorted(totals, key=lambda k: -totals[k])[:10]
    got = ctc.string_probs(probs, [list(k) for k in labels], blank)
    assert got == pytest.approx([totals[k] for k in labels], abs=1e-12)


def reference_beam(probs: np.ndarray, alphabet: str, blank: int, width: int, top_n: int) -> list:
    """The prefix beam search written plainly: every grown prefix stored, summed and sorted.

    ``ctc.beam`` skips storing the prefixes that cannot make the beam; it must return exactly
    this (same strings, same order, same scores to the bit)."""
    from collections import defaultdict

    from edge_alpr.types import Candidate

    beams: dict = {(): (1.0, 0.0)}
    frames = probs.astype(np.float64)
    tops = np.argsort(frames, axis=1)[:, ::-1][:, :width].tolist()
    for p, top in zip(frames.tolist(), tops):
        chars = [c for c in top if c != blank and p[c] >= ctc.MIN_CHAR_P]
        if not chars:
            beams = {k: ((pb + pnb) * p[blank], pnb * p[k[-1]] if k else 0.0) for k, (pb, pnb) in beams.items()}
            continue
        nxt: dict = defaultdict(lambda: [0.0, 0.0])
        for prefix, (pb, pnb) in beams.items():
            nxt[prefix][0] += (pb + pnb) * p[blank]
            if prefix:
                nxt[prefix][1] += pnb * p[prefix[-1]]
            for c in chars:
                grow = pb if prefix and prefix[-1] == c else pb + pnb
                nxt[prefix + (c,)][1] += grow * p[c]
        ranked = sorted(nxt.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:width]
        beams = {k: (v[0], v[1]) for k, v in ranked}
    out = [Candidate("".join(alphabet[c] for c in k), min(1.0, float(pb + pnb)))
           for k, (pb, pnb) in beams.items() if k and pb + pnb > 0]
    return sorted(out, key=lambda c: -c.score)[:top_n]


def test_beam_equals_the_plain_search_to_the_bit() -> None:
    """Random frames like a plate's (peaked or flat, blank-heavy, int8-rounded with many ties,
    two rows with a separator), every beam width: the same candidates, order and scores."""
    rng = np.random.default_rng(11)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ?"
    blank = len(alphabet)
    for i in range(600):
        n = int(rng.integers(1, 66))
        logits = rng.normal(0, rng.uniform(0.5, 6), (n, blank + 1))
        logits[:, blank] += rng.uniform(0, 4)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        if i % 2:
            p = np.round(p * 256) / 256  # the int8 model's steps: ties everywhere
        if i % 3 == 0 and n % 2 == 0:
            p = ctc.prepare(p, blank, rows=2)
        width, top_n = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        assert ctc.beam(p, alphabet, blank, width, top_n) == reference_beam(p, alphabet, blank, width, top_n), i


def reference_string_probs(probs: np.ndarray, texts: list[list[int]], blank: int) -> np.ndarray:
    """The forward pass as first written, one copy and three array operations a frame, with the
    same pure-blank rule: the reference for ``string_probs``'s buffered loop."""
    out = np.zeros(len(texts))
    p = probs.astype(np.float64)
    others = np.arange(p.shape[1]) != blank
    pure = (p[:, others].max(axis=1) == 0) & (p[:, blank] == 1.0)
    p = p[~(pure & np.concatenate(([False], pure[:-1])))]
    for i, text in enumerate(texts):
        ext = [blank]
        for c in text:
            ext += [c, blank]
        emit = p[:, ext]
        alpha = np.zeros(len(ext))
        alpha[:2] = emit[0, :2]
        for frame in emit[1:]:
            nxt = alpha.copy()
            nxt[1:] += alpha[:-1]
            for k in range(2, len(ext)):
                if ext[k] != blank and ext[k] != ext[k - 2]:
                    nxt[k] += alpha[k - 2]
            alpha = nxt * frame
        out[i] = alpha[-1] + (alpha[-2] if len(ext) > 1 else 0.0)
    return out


def test_batched_string_probabilities_equal_one_string_at_a_time_to_the_bit() -> None:
    """Texts side by side in one state vector (several lengths, repeats, the blank's index among
    the characters, runs of pure-blank frames) score exactly what each scores alone."""
    rng = np.random.default_rng(12)
    for i in range(400):
        n, classes = int(rng.integers(1, 66)), int(rng.integers(2, 40))
        p = rng.random((n, classes)) ** rng.uniform(1, 12)
        blank = int(rng.integers(classes))
        p[rng.random(n) < 0.3] = 0.0
        p[:, blank] += float(rng.random() < 0.5)
        p /= np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
        texts = [[int(c) for c in rng.integers(0, classes, rng.integers(0, 12))] for _ in range(rng.integers(1, 8))]
        got = ctc.string_probs(p, [*texts, None], blank)
        assert np.array_equal(got[:-1], reference_string_probs(p, texts, blank)), i
        assert got[-1] == 0.0
