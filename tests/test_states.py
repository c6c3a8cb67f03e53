"""The stated reader (edge_alpr.engine.states): a CTC reader alone, US states from a slot reader.

Real int8 models: the bundled CTC reader as the text reader and the bundled slot reader as the
state reader; only the region probabilities handed to ``compose`` are made by hand.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_alpr.engine.reader import Reader
from edge_alpr.engine.runtime import BUNDLED, model_path
from edge_alpr.engine.states import StatedReader, is_us
from edge_alpr.errors import ModelError
from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, Recognizer
from edge_alpr.types import Box

SAMPLES = Path(__file__).resolve().parents[1] / "edge_alpr" / "samples"


@pytest.fixture(scope="module")
def stated(tmp_path_factory: pytest.TempPathFactory) -> StatedReader:
    """The bundled readers, the CTC head reading alone (no joint fallback)."""
    folder = copy_models(tmp_path_factory.mktemp("alone"), joint_below=None)
    return StatedReader(Reader(model_path(folder, "reader_ctc")), Reader(model_path(folder, "reader")))


def one_hot(regions: list[str], **p: float) -> np.ndarray:
    out = np.zeros(len(regions))
    for code, v in p.items():
        out[regions.index(code.replace("_", "-"))] = v
    return out


def test_the_us_share_is_split_as_the_slot_head_splits_the_states(stated: StatedReader) -> None:
    text_regions, state_regions = stated.text.regions, stated.states.regions
    # the CTC head: mostly American, and wrong about the state; a little Brazilian
    region_p = one_hot(text_regions, us_ca=0.5, us_tx=0.3, br=0.2)
    # the slot head: New York, with some Ohio, and some mass on non-US regions that must not count
    state_p = one_hot(state_regions, us_ny=0.6, us_oh=0.2, br=0.2)
    out = stated.compose(region_p, state_p)
    assert out[text_regions.index("br")] == pytest.approx(0.2)  # non-US regions untouched
    assert out.sum() == pytest.approx(1.0)
    assert out[text_regions.index("us-ny")] == pytest.approx(0.8 * 0.6 / 0.8)
    assert out[text_regions.index("us-oh")] == pytest.approx(0.8 * 0.2 / 0.8)
    assert out[text_regions.index("us-ca")] == 0.0
    assert stated.text.region(out) == ("us-ny", pytest.approx(0.6))


def test_a_slot_head_with_no_state_mass_leaves_the_ctc_split(stated: StatedReader) -> None:
    region_p = one_hot(stated.text.regions, us_ca=0.9, br=0.1)
    state_p = one_hot(stated.states.regions, br=1.0)
    assert np.array_equal(stated.compose(region_p, state_p), region_p)


def crops(stated: StatedReader) -> list[np.ndarray]:
    """The bundled sample scenes' plates (European and Brazilian) and rendered US plates."""
    from scripts.data import synth
    from scripts.data.synth_layouts import US

    out = []
    for name, label in json.loads((SAMPLES / "labels.json").read_text()).items():
        img = decode((SAMPLES / name).read_bytes(), 10**8)
        out += [stated.crop(img, Box(*p["box"])) for p in label["plates"]]
    rng = np.random.default_rng(0)
    for lay in US[:8]:
        plate, _ = synth.render(lay, rng, two=False)
        out.append(stated.crop(plate, Box(0, 0, plate.shape[1], plate.shape[0]), (0.0, 0.0)))
    return out


def test_the_slot_model_runs_only_for_plates_read_as_american(stated: StatedReader) -> None:
    """A plate the CTC head does not call American keeps the CTC head's own region probabilities."""
    seen_us = seen_other = 0
    for crop in crops(stated):
        chars, own = stated.text.infer(crop)
        view = stated.infer(crop)
        assert np.array_equal(view.chars, chars)
        american = is_us(stated.text.regions[int(np.argmax(own))])
        if american:
            seen_us += 1
            assert view.slot is not None
            assert np.allclose(view.region_p, stated.compose(own, stated.states.infer(crop)[1]))
        else:
            seen_other += 1
            assert view.slot is None  # the slot model did not run
            assert np.array_equal(view.region_p, own)
        # the text is the CTC reader's own decoding of those outputs
        assert stated.read(crop).plate == stated.text.decode([(chars, view.region_p)]).plate
    assert seen_us and seen_other, "the samples should hold American and other plates"


def test_uncertain_reads_are_read_again_by_both_heads(tmp_path: Path) -> None:
    """Under ``joint_below`` a plate reads as the joint pair, with the CTC head's (composed) region;
    at or above it, as the CTC head alone."""
    from edge_alpr.engine.pair import PairedReader, PairView

    folder = copy_models(tmp_path / "gated", pairing="states", joint_below=1.0)
    gated = StatedReader(Reader(model_path(folder, "reader_ctc")), Reader(model_path(folder, "reader")))
    folder = copy_models(tmp_path / "alone", pairing="states", joint_below=None)
    alone = StatedReader(Reader(model_path(folder, "reader_ctc")), Reader(model_path(folder, "reader")))
    assert alone.joint_below is None
    pair = PairedReader(alone.states, alone.text)
    fell_back = 0
    for crop in crops(alone):
        own = alone.read(crop)
        got = gated.read(crop)
        if own.score >= 1.0:  # only an exactly certain reading stays alone at 1.0
            assert (got.plate, got.score) == (own.plate, own.score)
            continue
        fell_back += 1
        view = alone.infer(crop)
        slot_chars, slot_region = alone.states.infer(crop)
        want = pair.decode_as([PairView(slot_chars, slot_region, view.chars)], own.region, own.region_score)
        assert (got.plate, got.score, got.region) == (want.plate, want.score, own.region)
    assert fell_back


@pytest.mark.parametrize("below", [0, 1.5, "0.5", True])
def test_a_bad_joint_below_is_refused(tmp_path: Path, below: object) -> None:
    with pytest.raises(ModelError, match="joint_below"):
        Recognizer.from_config(ModelsConfig(directory=str(copy_models(tmp_path, pairing="states",
                                                                      joint_below=below))))


def copy_models(tmp_path: Path, **ctc_meta: object) -> Path:
    """The bundled models in ``tmp_path``, the CTC sidecar's keys set as given (None: removed)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for stem in sorted({p.stem.rsplit("_v", 1)[0] for p in BUNDLED.glob("*_v*.tflite")}):  # the row reader too
        src = model_path(None, stem)
        shutil.copy2(src, tmp_path / src.name)
        meta = json.loads(src.with_suffix(".json").read_text())
        if stem == "reader_ctc":
            meta.update(ctc_meta)
            for key in [k for k, v in ctc_meta.items() if v is None]:
                del meta[key]
        (tmp_path / src.name).with_suffix(".json").write_text(json.dumps(meta))
    return tmp_path


def test_the_ctc_sidecar_chooses_the_way_of_reading(tmp_path: Path) -> None:
    rec = Recognizer.from_config(ModelsConfig(directory=str(copy_models(tmp_path, pairing="states"))))
    assert isinstance(rec.reader, StatedReader)
    assert [m.name for m in rec.reader.models] == [model_path(None, "reader_ctc").stem, model_path(None, "reader").stem]
    assert set(rec.info()) >= {m.name for m in rec.reader.models}
    # the map in the CTC sidecar was fitted on this way of reading, with this slot reader
    assert not rec.reader.calibration.identity
    folder = copy_models(tmp_path / "other", pairing="joint")
    assert not isinstance(Recognizer.from_config(ModelsConfig(directory=str(folder))).reader, StatedReader)


@pytest.mark.parametrize("pairing", ["both", 1, ""])
def test_an_unknown_pairing_is_refused(tmp_path: Path, pairing: object) -> None:
    with pytest.raises(ModelError, match="pairing"):
        Recognizer.from_config(ModelsConfig(directory=str(copy_models(tmp_path, pairing=pairing))))


def test_a_stated_reader_needs_a_ctc_text_head_and_a_slot_state_head() -> None:
    slot, ctc_reader = Reader(model_path(None, "reader")), Reader(model_path(None, "reader_ctc"))
    with pytest.raises(ModelError, match="CTC head for the text"):
        StatedReader(slot, ctc_reader)


def test_both_readers_must_share_their_crop(tmp_path: Path) -> None:
    src = model_path(None, "reader")
    shutil.copy2(src, tmp_path / src.name)
    meta = json.loads(src.with_suffix(".json").read_text())
    meta["preprocess"]["crop_margin_y"] += 0.05
    (tmp_path / src.name).with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="crop plates differently"):
        StatedReader(Reader(model_path(None, "reader_ctc")), Reader(tmp_path / src.name))
