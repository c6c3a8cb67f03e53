"""The string decoders against plain references, to the bit (edge_alpr.engine.ctc, .slots, .regions).

The decoders read every plate more than once per request, so they are written for speed: one
sort for all slots, template fits with cached layouts and one pick for every position, skipped
runs of pure-blank frames.  The references here are the plain forms they replaced; on random
frames like a plate's (int8 steps with many ties, blank-heavy, runs of pure blanks, two rows) the
fast forms must return exactly what the plain ones do: the same strings, order and scores.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edge_alpr.engine import ctc, regions, slots
from edge_alpr.engine.reader import Reader, rerank
from edge_alpr.engine.runtime import model_path
from edge_alpr.types import Candidate

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ?"
BLANK = len(ALPHABET)
TEMPLATES = sorted({t for ts in regions.PATTERNS.values() for t in ts})


def plate_frames(rng: np.random.Generator, n: int, int8: bool) -> np.ndarray:
    """Frames like a CTC head's: mostly blank, some characters, int8 steps where asked, runs of
    pure-blank frames (blank exactly 1) as ``ctc.prepare`` leaves the empty columns."""
    logits = rng.normal(0, rng.uniform(0.5, 6), (n, BLANK + 1))
    logits[:, BLANK] += rng.uniform(0, 4)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    if int8:
        p = np.round(p * 256) / 256
    p[rng.random(n) < rng.uniform(0, 0.8)] = np.eye(BLANK + 1)[BLANK]
    return ctc.prepare(p, BLANK, rows=2) if n % 4 == 0 else ctc.prepare(p, BLANK, rows=1)


def reference_ctc_fit(probs: np.ndarray, alphabet: str, blank: int, templates: tuple[str, ...]) -> list[Candidate]:
    """``ctc.fit_templates`` as first written: each position's character picked on its own."""
    chars = probs[:, : len(alphabet)].astype(np.float64)
    masks = {k: np.array(m) for k, m in regions.symbol_masks(alphabet).items()}
    best = {k: np.where(m, chars, 0.0).max(axis=1) for k, m in masks.items()}
    live = np.flatnonzero(chars.max(axis=1) >= ctc.MIN_CHAR_P)
    allowed = {k: np.flatnonzero(m) for k, m in masks.items()}
    todo = list(dict.fromkeys(t for t in templates if t and len(t) <= len(live) and all(len(allowed[k]) for k in t)))
    if not todo:
        return []
    emit = np.concatenate([np.stack([best[k][live] for k in t], axis=1) for t in todo], axis=1)
    found: dict[str, list[int]] = {}
    for t, frames in zip(todo, ctc._align(emit, [len(t) for t in todo], probs[live, blank]), strict=True):
        if frames is None:
            continue
        labels = [int(allowed[k][np.argmax(chars[live[f]].sum(axis=0)[allowed[k]])]) for k, f in zip(t, frames)]
        found.setdefault("".join(alphabet[c] for c in labels), labels)
    scores = [ctc.string_prob(probs, labels, blank) for labels in found.values()]
    return [Candidate(text, min(1.0, s)) for text, s in zip(found, scores, strict=True)]


def reference_slot_beam(probs: np.ndarray, alphabet: str, pad: int, width: int, top_n: int) -> list[Candidate]:
    """``slots.beam`` as first written: one slot at a time, sequences carried along."""
    scores, seqs = np.zeros(1), np.zeros((1, 0), np.int64)
    classes = np.array([i for i in range(probs.shape[1]) if i >= len(alphabet) or alphabet[i] != "?"])
    for slot in np.log(np.maximum(probs, 1e-9)):
        best = classes[np.argsort(slot[classes])[::-1][:width]]
        grown = (scores[:, None] + slot[best].astype(np.float64)[None, :]).ravel()
        keep = np.argsort(-grown, kind="stable")[:width]
        rows, cols = np.divmod(keep, len(best))
        scores, seqs = grown[keep], np.concatenate([seqs[rows], best[cols][:, None]], axis=1)
    merged: dict[str, float] = {}
    for lp, seq in zip(scores.tolist(), seqs.tolist()):
        text = "".join(alphabet[c] for c in seq if c != pad)
        if text:
            merged[text] = merged.get(text, 0.0) + math.exp(lp)
    return [Candidate(t, min(1.0, s)) for t, s in sorted(merged.items(), key=lambda kv: -kv[1])[:top_n]]


def test_ctc_template_fits_equal_the_plain_fits_to_the_bit() -> None:
    rng = np.random.default_rng(21)
    for i in range(300):
        p = plate_frames(rng, int(rng.integers(1, 66)), int8=i % 2 == 0)
        templates = tuple(rng.choice(TEMPLATES, int(rng.integers(1, 10))).tolist())
        assert ctc.fit_templates(p, ALPHABET, BLANK, templates) == reference_ctc_fit(p, ALPHABET, BLANK, templates), i


def test_ctc_beam_skips_pure_blank_runs_to_the_bit() -> None:
    """Runs of pure-blank frames (most of a plate's) change nothing past their first frame."""
    from test_ctc import reference_beam

    rng = np.random.default_rng(22)
    for i in range(300):
        p = plate_frames(rng, int(rng.integers(1, 66)), int8=i % 2 == 0)
        width, top_n = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        assert ctc.beam(p, ALPHABET, BLANK, width, top_n) == reference_beam(p, ALPHABET, BLANK, width, top_n), i


def test_ctc_string_probs_of_plate_frames_equal_one_string_at_a_time() -> None:
    from test_ctc import reference_string_probs

    rng = np.random.default_rng(23)
    for i in range(200):
        p = plate_frames(rng, int(rng.integers(1, 66)), int8=i % 2 == 1)
        texts = [[int(c) for c in rng.integers(0, BLANK, rng.integers(0, 10))] for _ in range(rng.integers(1, 20))]
        assert np.array_equal(ctc.string_probs(p, [*texts], BLANK), reference_string_probs(p, texts, BLANK)), i


def test_slot_beam_equals_the_plain_beam_to_the_bit() -> None:
    rng = np.random.default_rng(24)
    for i in range(300):
        probs = rng.dirichlet(np.full(BLANK + 1, rng.uniform(0.05, 2)), size=int(rng.integers(1, 12)))
        if i % 2:
            probs = np.round(probs * 256) / 256  # int8 steps: ties everywhere, exact zeros
        width, top_n = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        got = slots.beam(probs, ALPHABET, BLANK, width, top_n)
        assert got == reference_slot_beam(probs, ALPHABET, BLANK, width, top_n), i


def test_region_matcher_answers_as_matching_each_region() -> None:
    rng = np.random.default_rng(25)
    codes = ["us-ca", "de", "br", "gb", "se", "xx", "nl", "in", "us"]
    plates = ["".join(rng.choice(list(ALPHABET[:-1]), int(rng.integers(1, 11)))) for _ in range(400)]
    plates += ["ABC1234", "ab12cde", "1ABC234", "B123456", "abc123"]
    for n in range(4):
        for _ in range(20):
            prior = tuple(rng.choice(codes, n).tolist())
            fit = regions.matcher(prior)
            assert [fit(p) for p in plates] == [any(regions.matches(p, r) for r in prior) for p in plates], prior


def test_rerank_puts_fitting_readings_first_in_score_order() -> None:
    cands = [Candidate("5NF3490", 0.6), Candidate("GNF3490", 0.3), Candidate("XYZ", 0.2)]
    out = rerank(cands, [Candidate("GNF3490", 0.31), Candidate("ABC1234", 0.1)], ("de", "br"), 0.05)
    assert [c.plate for c in out] == ["GNF3490", "ABC1234", "5NF3490", "XYZ"]
    assert out[0].score == 0.31


def test_a_text_with_a_character_the_head_does_not_know_scores_zero() -> None:
    reader = Reader(model_path(None, "reader_ctc"))
    frames = plate_frames(np.random.default_rng(26), 65, int8=True)
    got = reader.string_probs(frames, ["AB1", "A-1", "", "?Q"])
    assert got[1] == 0.0 and got[0] == pytest.approx(ctc.string_prob(frames, [10, 11, 1], BLANK))
    assert got[0] == ctc.string_probs(frames, [[10, 11, 1]], BLANK)[0]


def test_a_bare_us_region_reads_as_its_likeliest_state(tmp_path: Path) -> None:
    """A reader trained with a bare ``us`` (synthetic US plates) names the likeliest state, with
    both scores added; the state list is read from the sidecar once, not per read."""
    src = model_path(None, "reader")
    side = json.loads(src.with_suffix(".json").read_text())
    names = ["us" if r == side["regions"][0] else r for r in side["regions"]]  # same count, one bare us
    (tmp_path / src.name).write_bytes(src.read_bytes())
    (tmp_path / src.with_suffix(".json").name).write_text(json.dumps({**side, "regions": names}))
    reader = Reader(tmp_path / src.name)
    rng = np.random.default_rng(27)
    for _ in range(50):
        p = rng.dirichlet(np.full(len(names), 0.3))
        p[0] = p.max() + 0.01  # the bare us wins
        states = [j for j, r in enumerate(names) if r.startswith("us-")]
        j = max(states, key=lambda k: p[k])
        assert reader.region(p) == (names[j], float(p[0] + p[j]))
    other = np.eye(len(names))[1]
    assert reader.region(other) == (names[1], 1.0)
