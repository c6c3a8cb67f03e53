"""The reader's training-data helpers (``scripts/data/reader_data.py``, ``reader_cuts.py``, ``datasets.py``).

They need no TensorFlow.  The hold-out split is what makes candidate selection honest: a
candidate is scored on train items it never saw, so a split that leaks would go unnoticed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scripts.data import datasets, reader_data


def test_holdout_is_a_disjoint_every_nth_split() -> None:
    items = [f"item{i}" for i in range(95)]
    kept, held = datasets.holdout(items, 10)
    assert held == [f"item{i}" for i in range(0, 95, 10)]
    assert not set(kept) & set(held)
    assert sorted(kept + held) == sorted(items)
    assert datasets.holdout(items, 0) == (items, [])


def test_holdout_offsets_draw_disjoint_held_out_sets() -> None:
    items = [f"item{i}" for i in range(95)]
    first, second = datasets.holdout(items, 10, 0)[1], datasets.holdout(items, 10, 5)[1]
    assert second == [f"item{i}" for i in range(5, 95, 10)]
    assert not set(first) & set(second)
    with pytest.raises(ValueError, match="offset 10"):
        datasets.holdout(items, 10, 10)


def _sharpness(img: np.ndarray) -> float:
    g = img.astype(np.float32).mean(-1)
    return float(np.abs(np.diff(g, axis=1)).mean())


def test_scene_copy_is_model_sized_and_loses_detail_like_a_distant_plate() -> None:
    rng = np.random.default_rng(0)
    # a 320x160 "plate" of 4-px black and white stripes: the model-sized copy of the crop shows
    # them (3.2 px period), a plate 45-110 px wide can barely (1.1-2.8 px)
    crop = np.full((160, 320, 3), 255, np.uint8)
    for k in range(4):
        crop[:, k::8] = 0
    sharp = reader_data.resize(crop, reader_data.IN_W, reader_data.IN_H)
    out = [reader_data.scene_copy(crop, rng) for _ in range(5)]
    for o in out:
        assert o.shape == (reader_data.IN_H, reader_data.IN_W, 3) and o.dtype == np.uint8
        assert _sharpness(o) < 0.6 * _sharpness(sharp)
    assert len({o.tobytes() for o in out}) == 5, "each copy draws its own size and JPEG quality"


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_reader_holdout_drops_exactly_the_training_items_that_show_a_held_out_plate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small data tree where crops and scenes share plates (as uc3m's do): a training crop or
    scene goes exactly when one of its texts is held out, and held-out items are never dropped."""
    monkeypatch.setattr(datasets, "DATA", tmp_path)
    texts = [f"AB{i:03d}" for i in range(17)]  # 17 plates over 40 crops per set: many repeats
    for k, name in enumerate(datasets.OCR_SETS + datasets.OCR_EXTRA):
        _write_jsonl(tmp_path / "ocr" / name / "labels.jsonl", [
            {"image": f"images/{i}.jpg", "text": texts[(i * 7 + k) % 17], "region": None,
             "split": "dev" if i % 9 == 8 else "train"} for i in range(40)])
    for k, name in enumerate(datasets.DET_SETS):
        _write_jsonl(tmp_path / "detection" / name / "labels.jsonl", [
            {"image": f"images/{i}.jpg", "split": "train", "plates": [
                {"box": [0, 0, 40, 10], "text": texts[(i * 5 + k) % 17] if i % 3 else None},
                {"box": [50, 0, 90, 10], "text": f"ZZ{i:03d}{k}"}]} for i in range(30)])
    crops = datasets.ocr_items("train", datasets.OCR_SETS + datasets.OCR_EXTRA)
    scenes = datasets.det_items("train")
    kept_crops, held_crops = datasets.holdout(crops, 10)
    kept_scenes, held_scenes = datasets.holdout(scenes, 10)
    held = {c.text for c in held_crops} | {t for s in held_scenes for t in s.texts if t}
    split = datasets.reader_holdout(10)
    assert split.ocr_held == held_crops and split.det_held == held_scenes
    assert split.ocr_train == [c for c in kept_crops if c.text not in held]
    assert split.det_train == [s for s in kept_scenes if not {t for t in s.texts if t} & held]
    assert 0 < len(split.ocr_train) < len(kept_crops) and 0 < len(split.det_train) < len(kept_scenes)
    assert all(c.path.parent == tmp_path / "ocr" / c.dataset / "images" for c in crops)


@pytest.mark.data
def test_reader_holdout_keeps_no_held_out_plate_in_training(full_data: Path) -> None:
    """uc3m crops and scenes show the same plates: a position split alone would leak them."""
    split = datasets.reader_holdout(10)
    held = {c.text for c in split.ocr_held} | {t for s in split.det_held for t in s.texts if t}
    assert split.ocr_held and split.det_held
    assert not {c.text for c in split.ocr_train} & held
    assert not {t for s in split.det_train for t in s.texts if t} & held
    plain_crops, _ = datasets.holdout(datasets.ocr_items("train", datasets.OCR_SETS + datasets.OCR_EXTRA), 10)
    assert len(split.ocr_train) < len(plain_crops), "the data has shared plates, so some crops must go"


def test_paste_puts_the_plate_at_its_box_and_scene_crops_cut_it_out() -> None:
    """``synth.paste`` (bench_regions.py, reader_data.scene_crops): the plate lands in its box."""
    from scripts.data import synth

    rng = np.random.default_rng(3)
    plate = np.full((80, 320, 3), 255, np.uint8)
    for k in range(0, 320, 64):  # wide dark bars: still bars after shrinking, blur and JPEG
        plate[:, k : k + 32] = 0
    scene = np.full((480, 640, 3), 100, np.uint8)
    frame, (x1, y1, x2, y2) = synth.paste(plate, scene, 1280, 60.0, rng)
    assert frame.shape == (960, 1280, 3)
    assert 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 960 and 50 <= y2 - y1 <= 75
    inside = frame[y1:y2, x1:x2].astype(np.float32)
    outside = np.concatenate([frame[:, :x1], frame[:, x2:]], axis=1).astype(np.float32)
    assert inside.std() > 3 * outside.std(), "the bars are inside the box, the flat scene outside"
    crops = [reader_data.scene_crop(plate, scene, rng) for _ in range(4)]
    for c in crops:
        assert c.shape == (reader_data.IN_H, reader_data.IN_W, 3) and c.dtype == np.uint8
        row = c[reader_data.IN_H // 2].astype(np.float32).mean(-1)
        assert row.std() > 20, "the crop shows the plate's bars, not the flat scene"
    assert len({c.tobytes() for c in crops}) == 4, "each copy draws its own frame, size and box"


def test_robust_tilt_moves_each_box_with_its_plate(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bright bar on grey, turned with its scene: its box must hold all of it, and only grow."""
    from scripts.data import augment

    monkeypatch.setattr(augment, "ROBUST_TILT_P", 1.0)
    monkeypatch.setattr(augment, "ROBUST_FLAT_P", 0.0)
    monkeypatch.setattr(augment, "ROBUST_BRIGHT_P", 0.0)
    img = np.full((200, 300, 3), 100, np.uint8)
    img[20:50, 180:280] = 250  # off the centre: a turn the wrong way would move it elsewhere
    for seed in range(8):
        out, boxes = augment.robust(img, ((180.0, 20.0, 280.0, 50.0),), np.random.default_rng(seed))
        assert out.shape == img.shape and len(boxes) == 1
        x1, y1, x2, y2 = boxes[0]
        bar = np.argwhere(out[..., 0] >= 200)
        assert len(bar) > 0.8 * 100 * 30
        assert bar[:, 1].min() >= x1 - 1 and bar[:, 1].max() <= x2 + 1
        assert bar[:, 0].min() >= y1 - 1 and bar[:, 0].max() <= y2 + 1
        assert (x2 - x1) * (y2 - y1) >= 100 * 30 - 1


def test_robust_exposure_keeps_the_boxes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a tilt, an exposure change moves no box (and happens in about 60 % of calls)."""
    from scripts.data import augment

    monkeypatch.setattr(augment, "ROBUST_TILT_P", 0.0)
    img = np.random.default_rng(0).integers(60, 200, (50, 80, 3), dtype=np.uint8)
    changed = 0
    for seed in range(10):
        out, boxes = augment.robust(img, ((1, 2, 30, 20),), np.random.default_rng(seed))
        assert boxes == ((1, 2, 30, 20),)
        changed += not np.array_equal(out, img)
    assert 3 <= changed <= 9  # flat or washed out in about 60 % of calls


def _bar_scene() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A dark 400x300 frame with a bright 160x40 'plate' whose right half carries a grey band."""
    img = np.full((300, 400, 3), 20, np.uint8)
    img[130:170, 120:280] = 230
    img[130:170, 200:280, 1] = 120  # tells left from right after turning
    return img, (120.0, 130.0, 280.0, 170.0)


def test_turned_cut_at_zero_degrees_is_the_services_level_cut() -> None:
    from edge_alpr.engine.preprocess import crop_resize, expand
    from edge_alpr.types import Box

    img, box = _bar_scene()
    level = crop_resize(img, expand(Box(120, 130, 280, 170), reader_data.MARGIN_X, reader_data.MARGIN_Y, 400, 300),
                        reader_data.IN_W, reader_data.IN_H)
    assert np.array_equal(reader_data.turned_cut(img, box, 0.0), level)
    # margins of half a pixel (widths 150 and 170, heights 25 and 35) at odd and even positions,
    # one plate at the frame's edge: ``expand`` rounds halves to even, in frame coordinates
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    boxes = ((122, 131, 150, 25), (121, 131, 150, 25), (120, 130, 170, 35), (123, 91, 170, 25), (0, 3, 150, 35))
    for x1, y1, bw, bh in boxes:
        want = crop_resize(img, expand(Box(x1, y1, x1 + bw, y1 + bh), reader_data.MARGIN_X, reader_data.MARGIN_Y,
                                       400, 300), reader_data.IN_W, reader_data.IN_H)
        got = reader_data.turned_cut(img, (float(x1), float(y1), float(x1 + bw), float(y1 + bh)), 0.0)
        assert np.array_equal(got, want), (x1, y1, bw, bh)


def test_turned_cut_holds_the_whole_turned_plate_tilted_the_right_way() -> None:
    """Turned counter-clockwise, the plate's right end rises: its bright rows sit higher there."""
    img, box = _bar_scene()
    out = reader_data.turned_cut(img, box, 10.0).astype(np.float32)
    assert out.shape == (reader_data.IN_H, reader_data.IN_W, 3)
    bright = out.mean(-1) > 100
    cols = np.flatnonzero(bright.any(axis=0))
    # the whole plate is inside the cut: bright columns reach both ends, inside the margins
    assert cols[0] <= 0.1 * reader_data.IN_W and cols[-1] >= 0.9 * reader_data.IN_W
    rows = np.arange(reader_data.IN_H)[:, None]
    third = reader_data.IN_W // 3
    left = (rows * bright[:, :third]).sum() / bright[:, :third].sum()
    right = (rows * bright[:, -third:]).sum() / bright[:, -third:].sum()
    assert right < left - 3, (left, right)
    # the box of a 4:1 plate turned 10 degrees is about 1.7x its height, so the plate fills less of it
    level = reader_data.turned_cut(img, box, 0.0).astype(np.float32).mean(-1) > 100
    assert bright.mean() < 0.85 * level.mean()


def test_turned_cut_of_a_plate_at_the_frame_edge_turns_about_the_plate() -> None:
    """A window cut off by the frame would turn about the wrong point and lose part of the plate."""
    img = np.full((300, 400, 3), (20, 20, 200), np.uint8)  # no blend of it with the plate is grey
    img[2:42, 2:162] = 230  # a plate in the top-left corner
    out = reader_data.turned_cut(img, (2.0, 2.0, 162.0, 42.0), 12.0)
    assert not (out == 114).all(-1).any(), "the turn's grey fill reached the cut"
    bright = out.astype(np.float32).mean(-1) > 100
    cols = np.flatnonzero(bright.any(axis=0))
    assert cols[0] <= 0.1 * reader_data.IN_W and cols[-1] >= 0.9 * reader_data.IN_W
    assert bright.mean() > 0.3


def test_teacher_reads_label_only_unlabelled_plates_read_confidently(tmp_path: Path, monkeypatch) -> None:
    """A human text is never replaced; a teacher read becomes a label only at the confidence asked for."""
    monkeypatch.setattr(datasets, "DATA", tmp_path)
    monkeypatch.setattr(datasets, "TEACHER_READS", tmp_path / "reads.jsonl")
    _write_jsonl(tmp_path / "detection" / "uc3m" / "labels.jsonl", [
        {"image": "images/a.jpg", "split": "train", "country": "es",
         "plates": [{"box": [0, 0, 40, 10], "text": "1234ABC"}, {"box": [50, 0, 90, 10], "text": None}]}])
    _write_jsonl(tmp_path / "detection" / "rxg4e" / "labels.jsonl", [
        {"image": "images/b.jpg", "split": "train", "country": None, "plates": [
            {"box": [0, 0, 40, 10], "text": None, "teacher_text": "AB123", "teacher_conf": 0.95},
            {"box": [0, 20, 40, 30], "text": None, "teacher_text": "CD456", "teacher_conf": 0.5},
            {"box": [0, 40, 40, 50], "text": None, "teacher_text": "", "teacher_conf": 0.99}]}])
    # the cached reads of the human-labelled set: one for the labelled plate (ignored), one for the other
    _write_jsonl(tmp_path / "reads.jsonl", [
        {"set": "uc3m", "image": "a.jpg", "box": [0, 0, 40, 10], "teacher_text": "9999ZZZ", "teacher_conf": 1.0},
        {"set": "uc3m", "image": "a.jpg", "box": [50, 0, 90, 10], "teacher_text": "5678DEF", "teacher_conf": 0.91}])
    plain = datasets.det_items("train", ("uc3m", "rxg4e"))
    assert [it.texts for it in plain] == [("1234ABC", None), (None, None, None)]
    read = datasets.det_items("train", ("uc3m", "rxg4e"), teacher_conf=0.9)
    assert [it.texts for it in read] == [("1234ABC", "5678DEF"), ("AB123", None, None)]
    strict = datasets.det_items("train", ("uc3m", "rxg4e"), teacher_conf=0.92)
    assert [it.texts for it in strict] == [("1234ABC", None), ("AB123", None, None)]


def test_plates_learn_the_teachers_country_only_where_it_read_them_surely_and_the_format_fits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``reader_data.det_regions``: one region per plate ``det_crops`` cuts, in its order.  The
    teacher has no India, so a 10-character Indian reading it calls American must not teach "us"."""
    monkeypatch.setattr(datasets, "DATA", tmp_path)
    monkeypatch.setattr(datasets, "TEACHER_READS", tmp_path / "reads.jsonl")
    _write_jsonl(tmp_path / "detection" / "romanian" / "labels.jsonl", [
        {"image": "images/r.jpg", "split": "train", "country": "ro", "plates": [
            {"box": [0, 0, 40, 10], "text": None}, {"box": [0, 20, 40, 30], "text": None},
            {"box": [0, 40, 40, 50], "text": None}]}])
    _write_jsonl(tmp_path / "reads.jsonl", [
        {"set": "romanian", "image": "r.jpg", "box": [0, 0, 40, 10], "teacher_text": "CA1234AB",
         "teacher_conf": 0.97, "teacher_region": "Bulgaria"},  # a Bulgarian car on a Romanian road
        {"set": "romanian", "image": "r.jpg", "box": [0, 20, 40, 30], "teacher_text": "B123ABC",
         "teacher_conf": 0.95, "teacher_region": "Unknown"},  # no country named: the scene's
        {"set": "romanian", "image": "r.jpg", "box": [0, 40, 40, 50], "teacher_text": "B12ABC",
         "teacher_conf": 0.95}])  # an older cache without regions: the scene's
    plates = [
        ("AB12CDE", 0.95, "United Kingdom"),  # a British plate, British format: gb
        ("MH12AB1234", 0.96, "United States"),  # an Indian plate called American: no region
        ("ABC1234", 0.93, "United States"),  # an American plate: any state
        ("7XYZ123", 0.97, "Israel"),  # a country we have no templates or region for
        ("AB12CDF", 0.6, "United Kingdom"),  # an unsure read teaches nothing, region included
    ]
    _write_jsonl(tmp_path / "detection" / "openimages_lp" / "labels.jsonl", [
        {"image": "images/o.jpg", "split": "train", "country": None, "plates": [
            {"box": [0, 20 * i, 40, 20 * i + 12], "text": None, "teacher_text": t, "teacher_conf": c,
             "teacher_region": r} for i, (t, c, r) in enumerate(plates)]}])
    items = datasets.det_items("train", ("romanian", "openimages_lp"), teacher_conf=0.9)
    known = ["bg", "gb", "ro", "us-ca", "us-ny"]
    assert reader_data.det_regions(items, known) == ["bg", "ro", "ro", "gb", "", "us", ""]
    assert len(reader_data.det_regions(items, known)) == sum(len(reader_data.plates_of(it)) for it in items)


def test_teacher_reads_missing_for_a_set_that_needs_them_is_an_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datasets, "DATA", tmp_path)
    monkeypatch.setattr(datasets, "TEACHER_READS", tmp_path / "none.jsonl")
    _write_jsonl(tmp_path / "detection" / "andrewmvd" / "labels.jsonl", [
        {"image": "images/c.jpg", "split": "train", "plates": [{"box": [0, 0, 40, 10], "text": None}]}])
    with pytest.raises(FileNotFoundError, match="teacher_reads.py"):
        datasets.det_items("train", ("andrewmvd",), teacher_conf=0.9)


def test_jittered_boxes_miss_the_plate_as_a_detector_does_and_stay_in_the_image() -> None:
    """``reader_data.jittered_box``: off the labelled box by a few pixels, never gone, never outside."""
    from edge_alpr.types import Box

    rng = np.random.default_rng(0)
    plate = Box(200, 100, 300, 130)
    boxes = [reader_data.jittered_box(plate, rng, 640, 480) for _ in range(500)]
    ious = np.array([b.iou(plate) for b in boxes])
    assert 0.72 < ious.mean() < 0.86, ious.mean()  # the detector's held-out boxes: 0.77 on average
    assert ious.min() > 0.3 and (ious < 0.999).mean() > 0.99, "every box is moved, none lost"
    edge = [reader_data.jittered_box(corner, rng, 640, 480) for corner in (Box(0, 460, 60, 480), Box(600, 0, 640, 20))
            for _ in range(200)]
    assert all(0 <= b.xmin < b.xmax <= 640 and 0 <= b.ymin < b.ymax <= 480 for b in edge)
