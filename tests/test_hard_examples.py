"""Hard-example mining (scripts/train/hard_examples.py) with the shipped int8 CTC reader.

Why: a continued training run repeats the crops this marks; marking a crop the reader reads
right (or missing one it misreads) would point the run at the wrong crops.
"""

from __future__ import annotations

import json

import numpy as np
from data_paths import FIXTURE

from edge_alpr.engine.preprocess import resize
from scripts.data.datasets import load_rgb
from scripts.data.reader_data import IN_H, IN_W
from scripts.train import hard_examples

READER = FIXTURE.parents[1] / "models" / "quantized" / "reader_ctc_v3.tflite"


def test_a_crop_is_hard_exactly_when_the_reader_misreads_it() -> None:
    folder = FIXTURE / "ocr" / "se_crops"
    rows = [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines()][:6]
    crops = np.stack([resize(load_rgb(folder / r["image"]), IN_W, IN_H) for r in rows])
    truth = [r["text"] for r in rows]
    right = hard_examples.misread(READER, crops, truth, "fixture crops")
    # the same crops with one character of each label changed: every one is a misread now
    wrong = [("0" if t[0] != "0" else "1") + t[1:] for t in truth]
    assert hard_examples.misread(READER, crops, wrong, "fixture crops").all()
    assert right.sum() <= 1, f"the reader should read these clear Swedish crops: {truth} misread {right}"


def test_a_masked_label_character_matches_any_reading() -> None:
    assert hard_examples.same("5970LKQ", "5970L?Q")
    assert not hard_examples.same("5970LK", "5970L?Q")
    assert not hard_examples.same("5970LKQ", "5970LXQ")
