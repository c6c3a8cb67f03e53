"""The paired reader (edge_alpr.engine.pair): a slot head and a CTC head as a product of experts.

The heads' outputs are hand-made probability arrays that reproduce each head's typical failure;
the decoders and scorers are the real ones.  The expected readings follow from the arrays.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_alpr.engine import ctc
from edge_alpr.engine.pair import PairedReader, joint
from edge_alpr.engine.reader import Reader, ReadSettings
from edge_alpr.engine.runtime import model_path
from edge_alpr.engine.slots import beam, string_probs
from edge_alpr.errors import ConfigError, ModelError
from edge_alpr.recognizer import ModelsConfig, Recognizer

ALPHABET = "AB5G"
PAD = len(ALPHABET)  # the slot head's pad and the CTC head's blank
A, B, FIVE = 0, 1, 2


def dist(**p: float) -> np.ndarray:
    """One slot's or frame's distribution; the rest of the mass spread over the other classes."""
    idx = {"A": A, "B": B, "5": FIVE, "G": 3, "_": PAD}
    out = np.zeros(PAD + 1)
    for k, v in p.items():
        out[idx[k]] = v
    rest = [i for i in range(PAD + 1) if out[i] == 0]
    out[rest] = (1 - out.sum()) / len(rest)
    return out


# Slot head: the middle slot looks at the first glyph again (the doubled-character failure).
SLOT = np.stack([dist(A=0.9), dist(A=0.5, **{"5": 0.45}), dist(B=0.9)])
# CTC head: the middle glyph is faint, so most of its frame's mass is blank (a dropped character).
CTC = np.stack([dist(A=0.9), dist(_=0.5, **{"5": 0.4}), dist(_=0.9), dist(B=0.9)])


def test_each_head_alone_misreads() -> None:
    assert beam(SLOT, ALPHABET, PAD, 8, 3)[0].plate == "AAB"
    assert ctc.beam(CTC, ALPHABET, PAD, 8, 3)[0].plate == "AB"


def test_the_pair_reads_what_neither_head_rules_out() -> None:
    texts = list(dict.fromkeys(c.plate for c in beam(SLOT, ALPHABET, PAD, 8, 6) + ctc.beam(CTC, ALPHABET, PAD, 8, 6)))
    ids = [[ALPHABET.index(c) for c in t] for t in texts]
    ranked = joint(texts, string_probs(SLOT, ids, PAD), ctc.string_probs(CTC, ids, PAD))
    assert ranked[0].plate == "A5B"
    # its score is the geometric mean of the two heads' exact probabilities
    p_slot = 0.9 * 0.45 * 0.9
    p_ctc = ctc.string_prob(CTC, [A, FIVE, B], PAD)
    assert ranked[0].score == pytest.approx(np.sqrt(p_slot * p_ctc))
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)


def test_slot_probability_puts_pads_after_the_text() -> None:
    probs = np.stack([dist(A=0.8), dist(_=0.7), dist(_=0.6)])
    got = string_probs(probs, [[A], [A, A, A, A], None], PAD)
    assert got[0] == pytest.approx(0.8 * 0.7 * 0.6)
    assert got[1] == 0.0 and got[2] == 0.0  # longer than the slots / not in the alphabet


def test_a_pair_of_two_slot_heads_is_refused() -> None:
    slot = Reader(model_path(None, "reader"))
    with pytest.raises(ModelError, match="slot head and a CTC head"):
        PairedReader(slot, slot)


def test_reader_pair_setting_is_checked_and_on_requires_a_ctc_reader(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="reader_pair: 'both' is not auto, on or off"):
        ModelsConfig.from_dict({"reader_pair": "both"})
    # a folder with the slot reader but no reader_ctc_v<N>: auto and off use it alone, on refuses
    for kind in ("detector", "reader", "vehicle"):
        src = model_path(None, kind)
        for f in (src, src.with_suffix(".json")):
            shutil.copy2(f, tmp_path / f.name)
    assert isinstance(Recognizer.from_config(ModelsConfig(directory=str(tmp_path))).reader, Reader)
    assert isinstance(Recognizer.from_config(ModelsConfig(directory=str(tmp_path), reader_pair="off")).reader,
                      Reader)
    with pytest.raises(ModelError, match="no reader_ctc_v<N>.tflite"):
        Recognizer.from_config(ModelsConfig(directory=str(tmp_path), reader_pair="on"))


def test_a_pair_must_share_its_crop(tmp_path: Path) -> None:
    """A CTC reader trained with other crop margins would read a crop it was not trained on."""
    src = model_path(None, "reader_ctc")
    shutil.copy2(src, tmp_path / src.name)
    meta = json.loads(src.with_suffix(".json").read_text())
    meta["preprocess"]["crop_margin_x"] += 0.05
    (tmp_path / src.name).with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="crop plates differently"):
        PairedReader(Reader(model_path(None, "reader")), Reader(tmp_path / src.name))



def test_views_average_the_joint_score_over_crops() -> None:
    """Two views of one plate: each candidate scores its mean geometric-mean score over the views."""
    texts = ["A5B", "AAB"]
    ids = [[ALPHABET.index(c) for c in t] for t in texts]
    other = np.stack([dist(A=0.9), dist(A=0.8), dist(B=0.9)])  # a second view that favours AAB
    p_slot = np.array([string_probs(SLOT, ids, PAD), string_probs(other, ids, PAD)])
    p_ctc = np.array([ctc.string_probs(CTC, ids, PAD), ctc.string_probs(CTC, ids, PAD)])
    ranked = {c.plate: c.score for c in joint(texts, p_slot, p_ctc)}
    for i, t in enumerate(texts):
        views = [np.sqrt(p_slot[v, i] * p_ctc[v, i]) for v in (0, 1)]
        assert ranked[t] == pytest.approx(sum(views) / 2)
    # one view reads as before (1-D arrays)
    assert joint(texts, p_slot[0], p_ctc[0]) == joint(texts, p_slot[:1], p_ctc[:1])



def test_ctc_weight_shifts_the_ranking_towards_the_ctc_head() -> None:
    """Weighted product of experts: the equal weights keep today's ranking, a heavier CTC weight
    lets the CTC head's favourite win where the two heads disagree."""
    texts = ["AB1", "AB7"]
    p_slot, p_ctc = np.array([0.6, 0.2]), np.array([0.2, 0.5])
    even = joint(texts, p_slot, p_ctc)
    assert [c.plate for c in even] == ["AB1", "AB7"]
    assert [c.score for c in even] == pytest.approx([np.sqrt(0.12), np.sqrt(0.1)])
    heavy = joint(texts, p_slot, p_ctc, ctc_weight=0.85)
    assert heavy[0].plate == "AB7"
    assert heavy[0].score == pytest.approx(0.2**0.15 * 0.5**0.85)


@pytest.mark.parametrize("weight", [0, 1, 1.5, "0.7", None])
def test_a_bad_pair_ctc_weight_is_refused(tmp_path: Path, weight: object) -> None:
    src = model_path(None, "reader_ctc")
    shutil.copy(src, tmp_path / src.name)
    meta = json.loads(src.with_suffix(".json").read_text())
    meta["pair_ctc_weight"] = weight
    (tmp_path / src.name).with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="pair_ctc_weight"):
        PairedReader(Reader(model_path(None, "reader")), Reader(tmp_path / src.name))


@pytest.fixture(scope="module")
def pair() -> PairedReader:
    return PairedReader(Reader(model_path(None, "reader")), Reader(model_path(None, "reader_ctc")))


@pytest.fixture(scope="module")
def sample_crops() -> list[np.ndarray]:
    """The trained-margin crops of the labelled plates in the bundled sample scenes."""
    from edge_alpr.imaging import decode
    from edge_alpr.types import Box

    samples = Path(__file__).resolve().parents[1] / "edge_alpr" / "samples"
    reader = Reader(model_path(None, "reader"))
    crops = []
    for name, label in json.loads((samples / "labels.json").read_text()).items():
        img = decode((samples / name).read_bytes(), 10**8)
        crops += [reader.crop(img, Box(*p["box"])) for p in label["plates"]]
    return crops


def test_identical_views_read_as_one_view(pair: PairedReader, sample_crops: list[np.ndarray]) -> None:
    """The mean over copies of one view is that view: the ensemble adds nothing of its own."""
    slot = pair.slot
    for crop in sample_crops:
        once = pair.read(crop)
        twice = pair.decode([pair.infer(crop), pair.infer(crop.copy())])
        assert (twice.plate, twice.region) == (once.plate, once.region)
        assert twice.score == pytest.approx(once.score)
        assert slot.decode([slot.infer(crop), slot.infer(crop.copy())]).plate == slot.read(crop).plate


def test_reread_settings_are_checked() -> None:
    cfg = ModelsConfig.from_dict({"reread_below": 0.3, "reread_margins": [[0.02, 0.04]]})
    assert (cfg.reread_below, cfg.reread_margins) == (0.3, ((0.02, 0.04),))
    assert ModelsConfig.from_dict({"reread_margins": []}).reread_margins == ()
    with pytest.raises(ConfigError, match=r"reread_below: must be in \[0, 1\]"):
        ModelsConfig.from_dict({"reread_below": 2})
    for bad in ([0.1, 0.2], [[0.1]], [[0.1, 1.5]], [[True, 0.1]], "0.1"):
        with pytest.raises(ConfigError, match="reread_margins"):
            ModelsConfig.from_dict({"reread_margins": bad})


def test_the_recognizer_rereads_only_uncertain_plates_outside_fast_mode(sample_crops: list[np.ndarray]) -> None:
    """Real models on the bundled sample scenes: a read under ``reread_below`` is the views' read."""
    from edge_alpr.imaging import decode
    from edge_alpr.recognizer import RecognizeOptions
    from edge_alpr.types import Box

    samples = Path(__file__).resolve().parents[1] / "edge_alpr" / "samples"
    margins = ((0.0, 0.0),)
    always = Recognizer.from_config(ModelsConfig(reread_below=1.0, reread_margins=margins))
    never = Recognizer.from_config(ModelsConfig(reread_below=0.0))
    reader = always.reader  # the bundled way of reading (a CTC reader with the slot reader beside it)
    changed = 0
    for name, label in json.loads((samples / "labels.json").read_text()).items():
        img = decode((samples / name).read_bytes(), 10**8)
        for plate in label["plates"]:
            box = Box(*plate["box"])
            one = reader.read(reader.crop(img, box), always.read_settings())
            crops = [reader.crop(img, box), reader.crop(img, box, margins[0])]
            views = reader.decode([reader.infer(c) for c in crops], always.read_settings())
            # the recognizer's reads are calibrated; reread_below compares the raw score
            assert never.read(img, box, RecognizeOptions()) == reader.calibrate(one)
            assert always.read(img, box, RecognizeOptions(mode="fast")) == reader.calibrate(one)
            assert always.read(img, box, RecognizeOptions()) == reader.calibrate(views if one.score < 1.0 else one)
            changed += views != one
    assert changed  # the second view did move some reading or score


def test_the_unknown_class_reads_as_the_stand_in_character() -> None:
    """``?`` (a masked character) is a class the heads learn, never a reading: a hidden character
    reads as the stand-in ``Q``, with the probability ``?`` had, under both heads alike."""
    from edge_alpr.engine.reader import fold_unknown

    alphabet = "AQ?"  # pad/blank is class 3
    got = fold_unknown(np.array([[0.2, 0.1, 0.6, 0.1], [0.0, 0.0, 0.9, 0.1], [0.0, 0.0, 0.0, 1.0]]), alphabet)
    assert np.allclose(got, [[0.2, 0.7, 0.0, 0.1], [0.0, 0.9, 0.0, 0.1], [0.0, 0.0, 0.0, 1.0]])
    assert np.allclose(fold_unknown(np.array([0.1, 0.2, 0.7]), "AB?"), [0.8, 0.2, 0.0])  # no Q: the first one
    slots = fold_unknown(np.stack([[0.9, 0.0, 0.1, 0.0], [0.1, 0.0, 0.9, 0.0], [0.0, 0.0, 0.1, 0.9]]), alphabet)
    found = beam(slots, alphabet, 3, 8, 8)
    assert found[0].plate == "AQ" and found[0].score == pytest.approx(0.9 * 0.9 * 0.9)
    assert not any("?" in c.plate for c in found)
    assert string_probs(slots, [[0, 2]], 3)[0] == 0.0  # a "?" string has no probability, as no reading has it
    # the CTC head: a hidden character's frames read as a character, not as a gap
    frames = fold_unknown(ctc.prepare(np.array([[0.9, 0, 0, 0.1], [0, 0, 0, 1], [0, 0.05, 0.9, 0.05]]), 3, 1),
                          alphabet)
    assert [c.plate for c in ctc.beam(frames, alphabet, 3, 4, 1)] == ["AQ"]


def masked(image: np.ndarray, box: list[int], n: int) -> np.ndarray:
    """The plate with two grey rectangles over its text, each about one of its ``n`` characters
    wide, as privacy masking does (uc3m's masked characters are ``?`` in the readers' training
    labels): the 2nd and 5th of n + 1 equal columns across the box, the middle 70 % of its height."""
    out = image.copy()
    x1, y1, x2, y2 = box
    step = (x2 - x1) / (n + 1)  # the band left of the characters (EU flag) is about one column
    for k in (2, 5):
        out[y1 + (y2 - y1) * 15 // 100: y2 - (y2 - y1) * 15 // 100,
            int(x1 + step * k): int(x1 + step * (k + 1))] = 128
    return out


def test_reads_of_masked_plates_never_contain_the_unknown_mark(pair: PairedReader) -> None:
    """Real sample plates with two characters masked: no head, hint or mode ever returns ``?``."""
    from edge_alpr.imaging import decode
    from edge_alpr.recognizer import RecognizeOptions
    from edge_alpr.types import Box

    samples = Path(__file__).resolve().parents[1] / "edge_alpr" / "samples"
    labels = json.loads((samples / "labels.json").read_text())
    scenes = []
    for name, label in labels.items():
        img = decode((samples / name).read_bytes(), 10**8)
        for plate in label["plates"]:
            img = masked(img, plate["box"], len(plate["text"]))
        scenes.append((img, [Box(*p["box"]) for p in label["plates"]]))
    texts, changed = [], 0
    for img, boxes in scenes:
        for box in boxes:
            crop = pair.crop(img, box)
            for head in (pair, pair.slot, pair.ctc):
                for hint in ((), ("es",)):  # the Spanish templates allow "?" in their patterns
                    read = head.read(crop, ReadSettings(hint=hint))
                    texts += [read.plate] + [c.plate for c in read.candidates]
    rec = Recognizer.from_config(ModelsConfig())
    for (img, _), name in zip(scenes, labels, strict=True):
        for opts in (RecognizeOptions(threshold_o=0.0), RecognizeOptions(mode="fast", regions=("es",))):
            reads = rec.recognize(img, opts)
            texts += [r.read.plate for r in reads] + [c.plate for r in reads for c in r.read.candidates]
            changed += labels[name]["plates"][0]["text"] not in [r.read.plate for r in reads]
    assert changed, "the masks hide nothing: every masked plate still reads as its label"
    assert texts and all(texts) and not any("?" in t for t in texts)


def test_the_evaluation_counts_outputs_with_the_unknown_mark(tmp_path: Path) -> None:
    """scripts/eval/evaluate.py reports how many returned plates or candidates hold a ``?``: none."""

    from edge_alpr.recognizer import RecognizeOptions
    from scripts.eval import evaluate

    samples = Path(__file__).resolve().parents[1] / "edge_alpr" / "samples"
    rows = [{"image": str(samples / name), "split": "dev", "plates": label["plates"]}
            for name, label in json.loads((samples / "labels.json").read_text()).items()]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tally = evaluate.run_set(Recognizer.from_config(ModelsConfig()), tmp_path / "labels.jsonl", "dev",
                             RecognizeOptions(), 0, 0)
    summary = tally.summary()
    assert summary["plates_read"] == len(rows) and summary["outputs_with_qmark"] == 0
    assert summary["exact_read"] > 0.5
