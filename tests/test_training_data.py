"""The reader's training-data helpers (``scripts/reader_data.py``, ``scripts/datasets.py``).

They need no TensorFlow.  The hold-out split is what makes candidate selection honest: a
candidate is scored on train items it never saw, so a split that leaks would go unnoticed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import datasets  # noqa: E402
import reader_data  # noqa: E402


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


def test_reader_holdout_keeps_no_held_out_plate_in_training() -> None:
    """uc3m crops and scenes show the same plates: a position split alone would leak them."""
    split = datasets.reader_holdout(10)
    held = {c.text for c in split.ocr_held} | {t for s in split.det_held for t in s.texts if t}
    assert split.ocr_held and split.det_held
    assert not {c.text for c in split.ocr_train} & held
    assert not {t for s in split.det_train for t in s.texts if t} & held
    plain_crops, _ = datasets.holdout(datasets.ocr_items("train"), 10)
    assert len(split.ocr_train) < len(plain_crops), "the data has shared plates, so some crops must go"
