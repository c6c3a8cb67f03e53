"""Row crops of rendered two-row plates (``scripts/data/row_crops.py``): the labels are the rows'.

Why: the service reads a box about as tall as wide also as a top and a bottom row
(``edge_alpr.engine.rows``), and a reader trained on such crops learns from their labels; a
label that were the whole plate's text, or rows swapped, would teach it to read what is not there.
The plates are rendered with the fixture fonts (tests/data/fonts), on plain backgrounds.
"""

from __future__ import annotations

import re

import numpy as np

from edge_alpr.engine.rows import row_boxes
from edge_alpr.types import Box
from scripts.data import row_crops, synth


def test_two_row_variants_draw_two_rows_and_one_row_variants_one() -> None:
    for i, lay in enumerate(row_crops.two_row_layouts()):
        _, rows = synth.render_rows(lay, np.random.default_rng(i), two=True)
        assert len(rows) == 2 and all(re.fullmatch("[A-Z0-9]+", r) for r in rows), (lay.region, rows)
        _, one = synth.render_rows(lay, np.random.default_rng(i), two=False)
        assert len(one) == 1 and re.fullmatch("[A-Z0-9]+", one[0]), (lay.region, one)


def test_each_plate_gives_its_top_then_its_bottom_row_cut_as_the_service_cuts() -> None:
    x, texts, regions = row_crops.cut_rows(np.random.default_rng(5), 12, [])
    assert x.shape == (24, 40, 128, 3) and x.dtype == np.uint8
    rng = np.random.default_rng(5)
    layouts = row_crops.two_row_layouts()
    for k in range(12):  # the same draws, plate by plate
        lay = layouts[rng.integers(len(layouts))]
        img, rows, region = synth.plate_crop_rows(rng, None, layout=lay, two=True)
        assert (texts[2 * k], texts[2 * k + 1]) == rows and regions[2 * k] == region == lay.region
        top, bottom = row_boxes(Box(0, 0, img.shape[1], img.shape[0]))
        assert top.ymin == 0 and bottom.ymax == img.shape[0] and top.ymax > bottom.ymin  # overlapping halves
    assert not np.array_equal(x[0], x[1])
