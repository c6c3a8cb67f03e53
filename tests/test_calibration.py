"""Score calibration (edge_alpr.engine.calibration): the isotonic fit, the map, and where it applies.

The expected values of the fits are worked out by hand from the pool-adjacent-violators rule
(replace each run that breaks the order by its weighted mean), not taken from the code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_alpr.engine.calibration import Calibration, ece, pav, reliability
from edge_alpr.engine.runtime import model_path
from edge_alpr.engine.states import StatedReader
from edge_alpr.errors import ModelError
from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box, Candidate, PlateRead

SAMPLES = Path(__file__).resolve().parents[1] / "edge_alpr" / "samples"
LABELS = json.loads((SAMPLES / "labels.json").read_text())


@pytest.mark.parametrize(("y", "w", "want"), [
    ([1, 2, 3], None, [1, 2, 3]),  # already in order: unchanged
    ([1, 3, 2], None, [1, 2.5, 2.5]),  # one violating pair pooled
    ([3, 2, 1], None, [2, 2, 2]),  # all decreasing: one block at the mean
    ([1, 0, 1, 0, 1], None, [0.5, 0.5, 0.5, 0.5, 1]),  # pooling cascades backwards
    ([4, 0], [1, 3], [1, 1]),  # the block's value is the weighted mean (4*1 + 0*3) / 4
    ([0, 5, 1, 1], [1, 1, 1, 2], [0, 2, 2, 2]),  # (5 + 1 + 2) / 4
])
def test_pav_on_hand_made_cases(y: list[float], w: list[float] | None, want: list[float]) -> None:
    assert pav(y, w).tolist() == pytest.approx(want)


def test_isotonic_map_is_flat_in_blocks_and_linear_between() -> None:
    cal = Calibration.fit([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1], prior=0)
    # blocks: 0.1 -> 0, {0.2, 0.3} -> 1/2, 0.4 -> 1
    assert (cal.x, cal.y) == ((0.1, 0.2, 0.3, 0.4), (0.0, 0.5, 0.5, 1.0))
    assert cal(0.25) == pytest.approx(0.5)
    assert cal(0.15) == pytest.approx(0.25)  # halfway between the first two blocks
    assert cal(0.0) == 0.0 and cal(0.9) == 1.0  # constant beyond the ends
    # the same scores, but unsorted and with ties: a tie is one point, never split by PAV
    tied = Calibration.fit([0.5, 0.2, 0.5, 0.2], [1, 1, 0, 0], prior=0)
    assert tied(0.2) == pytest.approx(0.5) and tied(0.5) == pytest.approx(0.5)


def test_the_prior_keeps_few_items_off_0_and_1() -> None:
    cal = Calibration.fit([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1], prior=1)
    # blocks (right/n): 0/1, 1/2, 1/1 -> (k + 1) / (n + 2) = 1/3, 2/4, 2/3
    assert cal(0.1) == pytest.approx(1 / 3) and cal(0.25) == pytest.approx(0.5) and cal(0.4) == pytest.approx(2 / 3)
    # a smoothed rate that breaks the order is pooled again: 0/1 -> 1/3 but 1/10 -> 2/12
    cal = Calibration.fit([0.1] + [0.2] * 10, [0] + [1] + [0] * 9, prior=1)
    assert cal(0.1) == cal(0.2) == pytest.approx((1 / 3 * 3 + 2 / 12 * 12) / 15)


def test_fitted_maps_are_monotone_probabilities() -> None:
    rng = np.random.default_rng(3)
    s = rng.random(400)
    ok = rng.random(400) < s ** 2
    cal = Calibration.fit(s, ok)
    grid = [cal(v) for v in np.linspace(-0.1, 1.1, 241)]
    assert all(b >= a for a, b in zip(grid, grid[1:], strict=False))
    assert 0.0 < min(grid) and max(grid) < 1.0
    assert ece([cal(v) for v in s], ok) < ece(s, ok)  # s is not calibrated for P = s^2


def test_inverse_is_the_smallest_raw_score_that_reaches_a_probability() -> None:
    cal = Calibration((0.1, 0.2, 0.3, 0.4), (0.0, 0.5, 0.5, 1.0))
    assert cal.inverse(0.5) == pytest.approx(0.2)
    assert cal.inverse(0.25) == pytest.approx(0.15)
    assert cal.inverse(0.0) == 0.0  # every score reaches it
    assert cal.inverse(1.01) == float("inf")  # none does
    for t in np.linspace(0.01, 1.0, 37):
        x = cal.inverse(t)
        assert cal(x) >= t - 1e-12 and cal(x - 1e-6) < t
    assert Calibration().inverse(0.7) == 0.7


def test_reliability_bins_count_every_item_once() -> None:
    p = [0.1, 0.1, 0.9, 0.9]
    rows = reliability(p, [0, 1, 1, 1], bins=2)
    assert [(r["n"], r["predicted"], r["observed"]) for r in rows] == [(2, 0.1, 0.5), (2, 0.9, 1.0)]
    assert ece(p, [0, 1, 1, 1], bins=2) == pytest.approx((2 * 0.4 + 2 * 0.1) / 4)


def test_no_map_is_the_identity() -> None:
    cal = Calibration.from_meta({"sha256": "x"}, "m")
    assert cal.identity and cal(0.37) == 0.37
    read = PlateRead("AB12", 0.8, (Candidate("AB12", 0.8), Candidate("AB13", 0.1)), "de", 0.9)
    assert cal.read(read) == read


def test_calibrated_candidates_keep_the_readers_order_and_are_sorted() -> None:
    """A region template put a reading first over one the heads score higher: the plate stays
    first and no candidate below it is said to be likelier."""
    cal = Calibration((0.0, 1.0), (0.1, 0.9))
    read = PlateRead("AB123", 0.2, (Candidate("AB123", 0.2), Candidate("A8123", 0.6), Candidate("AB12", 0.05)),
                     "de", 0.9)
    got = cal.read(read)
    assert got.plate == got.candidates[0].plate == "AB123"
    assert got.score == pytest.approx(0.1 + 0.8 * 0.2)
    assert [c.score for c in got.candidates] == pytest.approx([0.26, 0.26, 0.1 + 0.8 * 0.05])
    assert cal.read(PlateRead("", 0.0, (), "de", 0.9)).score == 0.0  # nothing read


@pytest.mark.parametrize("bad", [
    {"method": "platt", "x": [0, 1], "y": [0, 1]},
    {"method": "isotonic", "x": [0, 1], "y": [0.5, 0.2]},  # decreasing
    {"method": "isotonic", "x": [0, 1], "y": [0, 1.5]},  # not a probability
    {"method": "isotonic", "x": [0, 1, 2], "y": [0, 1]},
    {"method": "isotonic", "x": [0, 1]},
    [0, 1],
])
def test_a_malformed_map_is_refused(bad: object) -> None:
    with pytest.raises(ModelError, match="calibration"):
        Calibration.from_meta({"sha256": "x", "calibration": bad}, "m")


def _folder(tmp_path: Path, reader_cal: dict | None, det_cal: dict | None, owner: str = "reader_ctc") -> Path:
    """The bundled models in a folder, with these maps in the detector's sidecar and the reader's
    ``owner`` (the CTC reader's, which holds the map of the bundled way of reading; ``reader`` for
    the slot reader's)."""
    for kind, cal in (("detector", det_cal), ("reader", reader_cal if owner == "reader" else None),
                      ("reader_ctc", reader_cal if owner == "reader_ctc" else None), ("vehicle", None)):
        src = model_path(None, kind)
        shutil.copy2(src, tmp_path / src.name)
        meta = json.loads(src.with_suffix(".json").read_text())
        meta.pop("calibration", None)
        if cal is not None:
            meta["calibration"] = cal
        (tmp_path / src.name).with_suffix(".json").write_text(json.dumps(meta))
    return tmp_path


def _scenes() -> list[tuple[np.ndarray, list[Box]]]:
    return [(decode((SAMPLES / name).read_bytes(), 10**8), [Box(*p["box"]) for p in label["plates"]])
            for name, label in LABELS.items()]


LINEAR = {"method": "isotonic", "x": [0.0, 1.0], "y": [0.1, 0.2]}  # raw r -> 0.1 + 0.1 r


def _slot_sha() -> str:
    """The sha256 of the bundled slot reader: the CTC reader's map names it as its partner."""
    return str(json.loads(model_path(None, "reader").with_suffix(".json").read_text())["sha256"])


def test_a_sidecar_map_calibrates_every_read_score(tmp_path: Path) -> None:
    rec = Recognizer.from_config(ModelsConfig(directory=str(_folder(
        tmp_path, {**LINEAR, "reads": "states", "partner_sha256": _slot_sha()}, None))))
    assert isinstance(rec.reader, StatedReader) and not rec.reader.calibration.identity
    opts = RecognizeOptions(mode="fast")
    for img, boxes in _scenes():
        for box in boxes:
            raw = rec.reader.read(rec.reader.crop(img, box), rec.read_settings())
            got = rec.read(img, box, opts)
            assert got.plate == raw.plate
            assert got.score == pytest.approx(0.1 + 0.1 * raw.score)
            assert got.candidates[0].plate == got.plate
            assert all(0.1 <= c.score <= got.score for c in got.candidates)


def test_a_map_fitted_with_another_partner_is_not_applied(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {**LINEAR, "reads": "states", "partner_sha256": "0" * 64}, None)
    assert Recognizer.from_config(ModelsConfig(directory=str(folder))).reader.calibration.identity
    # a map fitted on another way of reading (the joint pair) does not apply either
    joint = _folder(tmp_path, {**LINEAR, "reads": "pair", "partner_sha256": _slot_sha()}, None)
    assert Recognizer.from_config(ModelsConfig(directory=str(joint))).reader.calibration.identity
    # a map of the slot reader alone applies when it reads alone, not beside the CTC reader
    single = _folder(tmp_path, {**LINEAR, "reads": "single"}, None, owner="reader")
    alone = Recognizer.from_config(ModelsConfig(directory=str(single), reader_pair="off"))
    assert not alone.reader.calibration.identity
    assert Recognizer.from_config(ModelsConfig(directory=str(single))).reader.calibration.identity


def test_thresholds_filter_on_calibrated_scores(tmp_path: Path) -> None:
    """threshold_o and threshold_d mean the calibrated score and dscore, and results are sorted."""
    high = {"method": "isotonic", "x": [0.0, 1.0], "y": [0.95, 0.96], "reads": "states", "partner_sha256": _slot_sha()}
    det = {"method": "isotonic", "x": [0.5, 0.9], "y": [0.2, 0.6]}
    cal = Recognizer.from_config(ModelsConfig(directory=str(_folder(tmp_path, high, det))))
    (tmp_path / "raw").mkdir()
    raw = Recognizer.from_config(ModelsConfig(directory=str(_folder(tmp_path / "raw", None, None))))
    seen = 0
    for img, _ in _scenes():
        every = raw.recognize(img, RecognizeOptions(threshold_o=0.0, mode="fast"))
        kept = cal.recognize(img, RecognizeOptions(threshold_o=0.9, mode="fast"))
        # every read is right at least 95 % of the time under this map, whatever its raw score
        assert [r.read.plate for r in kept] == [r.read.plate for r in every]
        for r in kept:
            assert r.read.score >= 0.95 and r.read.plate == r.read.candidates[0].plate
            scores = [c.score for c in r.read.candidates]
            assert scores == sorted(scores, reverse=True)
        assert [r.dscore for r in kept] == pytest.approx([0.2 + (min(max(r.dscore, 0.5), 0.9) - 0.5)
                                                          for r in every])
        # threshold_d 0.4 on the calibrated dscore is raw 0.7: the same boxes
        assert cal.dscore.inverse(0.4) == pytest.approx(0.7)
        a = cal.recognize(img, RecognizeOptions(threshold_d=0.4, mode="fast"))
        b = raw.recognize(img, RecognizeOptions(threshold_d=cal.dscore.inverse(0.4), mode="fast"))
        assert [r.box for r in a] == [r.box for r in b]
        seen += len(kept)
    assert seen


def test_the_bundled_sidecars_load_with_their_maps() -> None:
    rec = Recognizer.from_config(ModelsConfig())
    for model in (rec.detector.model, *rec.reader.models):
        cal = model.meta.get("calibration")
        if cal is not None:
            Calibration.from_meta(model.meta, model.name)  # well formed
            assert len(cal["table"]) >= 5 and cal["n"] > 0


def test_a_map_holds_only_with_the_row_reader_it_was_fitted_with(tmp_path: Path) -> None:
    """Rows read by another model change the raw scores of two-row plates, so a map fitted without
    a row reader is not applied with one, and one fitted with a row reader needs that one."""
    ctc = model_path(None, "reader_ctc")
    rows_sha = str(json.loads(ctc.with_suffix(".json").read_text())["sha256"])  # the row reader below

    def folder(name: str, cal: dict, row_reader: bool) -> str:
        out = tmp_path / name
        out.mkdir(exist_ok=True)
        _folder(out, cal, None)
        if row_reader:
            shutil.copy2(ctc, out / "reader_rows_v1.tflite")
            shutil.copy2(ctc.with_suffix(".json"), out / "reader_rows_v1.json")
        return str(out)

    states = {**LINEAR, "reads": "states", "partner_sha256": _slot_sha()}
    assert not Recognizer.from_config(ModelsConfig(directory=folder("a", states, False))).reader.calibration.identity
    assert Recognizer.from_config(ModelsConfig(directory=folder("b", states, True))).reader.calibration.identity
    fitted = {**states, "rows_sha256": rows_sha}
    with_rows = Recognizer.from_config(ModelsConfig(directory=folder("c", fitted, True)))
    assert with_rows.rows is not None and not with_rows.reader.calibration.identity
    assert Recognizer.from_config(ModelsConfig(directory=folder("d", fitted, False))).reader.calibration.identity
    assert Recognizer.from_config(ModelsConfig(directory=folder("c", fitted, True),
                                               row_reader="off")).reader.calibration.identity
