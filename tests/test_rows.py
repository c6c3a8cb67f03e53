"""Two-row plates read row by row (``edge_alpr.engine.rows``), and the pipeline that uses it.

The units use hand-made readings; the last test renders two-row plates (the renderer with the
fixture fonts) and reads them with the real int8 models through ``Recognizer.read``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from data_paths import FIXTURE

from edge_alpr.engine import rows
from edge_alpr.engine.runtime import model_path
from edge_alpr.errors import ModelError
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box, Candidate, PlateRead
from scripts.data import synth
from scripts.data.synth_layouts import variants


def reading(*cands: tuple[str, float], region: str = "", region_score: float = 0.0) -> PlateRead:
    cs = tuple(Candidate(p, s) for p, s in cands)
    return PlateRead(cs[0].plate if cs else "", cs[0].score if cs else 0.0, cs, region, region_score)


def test_only_boxes_about_as_tall_as_wide_may_hold_two_rows() -> None:
    assert rows.may_have_two_rows(Box(0, 0, 100, 100))
    assert rows.may_have_two_rows(Box(10, 10, 10 + 175, 110))  # exactly TWO_ROW_ASPECT
    assert not rows.may_have_two_rows(Box(0, 0, 200, 100))  # a US plate
    assert not rows.may_have_two_rows(Box(0, 0, 470, 100))  # a European one-row plate
    assert not rows.may_have_two_rows(Box(5, 5, 50, 5))  # no height


def test_the_row_boxes_overlap_in_the_middle_and_span_the_box() -> None:
    top, bottom = rows.row_boxes(Box(10, 20, 110, 120))
    share = round(100 * rows.ROW_SHARE)
    assert top == Box(10, 20, 110, 20 + share) and bottom == Box(10, 120 - share, 110, 120)
    assert top.ymax > bottom.ymin  # each row crop reaches past the middle


def test_joined_pairs_every_row_candidate_by_the_product_of_scores_keeping_the_whole_region() -> None:
    top = reading(("AB", 0.9), ("A8", 0.1))
    bottom = reading(("123", 0.6), ("12", 0.4))
    whole = reading(("AB12", 0.2), region="de", region_score=0.8)
    out = rows.joined(top, bottom, whole, top_n=3)
    assert [c.plate for c in out.candidates] == ["AB123", "AB12", "A8123"]
    assert [c.score for c in out.candidates] == pytest.approx([0.54, 0.36, 0.06])
    assert (out.plate, out.region, out.region_score) == ("AB123", "de", 0.8)


def test_joined_keeps_one_candidate_per_plate_and_falls_back_to_the_whole_reading() -> None:
    top = reading(("AB1", 0.5), ("AB", 0.5))
    bottom = reading(("23", 0.6), ("123", 0.4))
    out = rows.joined(top, bottom, reading(("X", 0.1)), top_n=5)
    assert [c.plate for c in out.candidates] == ["AB123", "AB23", "AB1123"]
    assert out.score == pytest.approx(0.3)  # AB1+23 and AB+123 spell one plate: the better counts
    whole = reading(("AB12", 0.2))
    assert rows.joined(reading(), bottom, whole, top_n=3) is whole  # a row read nothing


def test_the_rows_replace_the_whole_reading_only_when_more_probable() -> None:
    asked: list[Box] = []

    def read_box(score: float):
        def read(b: Box) -> PlateRead:
            asked.append(b)
            return reading(("AB" if b.ymin == 0 else "12", score))
        return read

    whole = reading(("A812", 0.3))
    assert rows.read_by_rows(read_box(0.9), Box(0, 0, 300, 100), whole, 3) is whole  # a wide box
    assert asked == []  # ... is never read by rows
    assert rows.read_by_rows(read_box(0.9), Box(0, 0, 100, 100), whole, 3).plate == "AB12"  # 0.81 > 0.3
    assert rows.read_by_rows(read_box(0.5), Box(0, 0, 100, 100), whole, 3) is whole  # 0.25 < 0.3
    assert len(asked) == 4


@pytest.fixture
def fixture_fonts() -> Iterator[None]:
    before = synth.FONT_DIR
    synth.set_font_dir(FIXTURE / "fonts")
    yield
    synth.set_font_dir(before)


@pytest.mark.usefixtures("fixture_fonts")
def test_rendered_two_row_plates_read_better_by_rows_with_the_real_models(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recognizer.from_config(ModelsConfig(threads=1))
    two_row = [lay for _, lay, two in variants() if two]
    rng = np.random.default_rng(31)
    plates = []
    for i in range(48):
        img, text, _ = synth.plate_crop(rng, None, layout=two_row[i % len(two_row)], two=True)
        plates.append((img, text))

    def exact() -> int:
        return sum(rec.read(img, Box(0, 0, img.shape[1], img.shape[0]), RecognizeOptions()).plate == text
                   for img, text in plates)

    by_rows = exact()
    fast = sum(rec.read(img, Box(0, 0, img.shape[1], img.shape[0]), RecognizeOptions(mode="fast")).plate == text
               for img, text in plates)
    monkeypatch.setattr(rows, "TWO_ROW_ASPECT", 0.0)  # no box may hold two rows: whole reads only
    whole = exact()
    assert by_rows >= whole + 5, (by_rows, whole)
    assert fast <= by_rows  # fast mode reads whole plates only


def _with_row_reader(folder: Path) -> Path:
    """The bundled models plus a row reader (``reader_rows_v1``: here a copy of the bundled CTC
    reader, a real int8 reader; which weights it holds does not matter to where it is used)."""
    folder.mkdir(exist_ok=True)
    for kind in ("detector", "reader", "reader_ctc", "vehicle"):
        src = model_path(None, kind)
        for f in (src, src.with_suffix(".json")):
            shutil.copy2(f, folder / f.name)
    ctc = model_path(None, "reader_ctc")
    shutil.copy2(ctc, folder / "reader_rows_v1.tflite")
    shutil.copy2(ctc.with_suffix(".json"), folder / "reader_rows_v1.json")
    return folder


def test_the_row_reader_reads_the_rows_of_boxes_that_may_hold_two_and_nothing_else(tmp_path: Path) -> None:
    rec = Recognizer.from_config(ModelsConfig(directory=str(_with_row_reader(tmp_path)), threads=1))
    assert rec.rows is not None and "reader_rows_v1" in rec.info()
    seen: dict[str, list[tuple[int, ...]]] = {"plate": [], "rows": []}

    def spy(who: str, infer):  # the real model runs; only its inputs are noted
        def run(crop: np.ndarray):
            seen[who].append(crop.shape)
            return infer(crop)
        return run

    rec.reader.infer = spy("plate", rec.reader.infer)  # type: ignore[method-assign]
    rec.rows.infer = spy("rows", rec.rows.infer)  # type: ignore[method-assign]
    rng = np.random.default_rng(5)
    img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    rec.read(img, Box(10, 10, 310, 100), RecognizeOptions())  # a one-row box: the plate reader only
    assert seen["rows"] == [] and len(seen["plate"]) >= 1
    rec.read(img, Box(10, 10, 110, 90), RecognizeOptions(mode="fast"))  # fast mode never reads rows
    assert seen["rows"] == []
    before = len(seen["plate"])
    rec.read(img, Box(10, 10, 110, 90), RecognizeOptions())  # about square: both rows by the row reader
    assert len(seen["rows"]) >= 2  # two rows, each perhaps read again from a tighter crop
    assert 1 <= len(seen["plate"]) - before <= 1 + len(rec.cfg.reread_margins)  # the whole plate, as before


def test_the_row_reader_setting(tmp_path: Path) -> None:
    with_rows = _with_row_reader(tmp_path / "with")
    assert Recognizer.from_config(ModelsConfig(directory=str(with_rows), row_reader="off")).rows is None
    without = tmp_path / "without"
    shutil.copytree(with_rows, without)
    for f in without.glob("reader_rows_v1.*"):
        f.unlink()
    assert Recognizer.from_config(ModelsConfig(directory=str(without))).rows is None  # auto: the plate reader
    with pytest.raises(ModelError, match="reader_rows_v<N>"):
        Recognizer.from_config(ModelsConfig(directory=str(without), row_reader="on"))
