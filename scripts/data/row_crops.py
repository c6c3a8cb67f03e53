"""Rows of rendered two-row plates, cut as the service cuts them to read a row at a time.

Why: a box about as tall as wide is also read as a top and a bottom row (``edge_alpr.engine.rows``:
each ``ROW_SHARE`` of the box's height plus the reader's margins, stretched to the reader's input),
but the readers only ever learned whole plates.  A row crop shows one row's characters at a
one-row plate's height with a slice of the other row at its edge, which no training crop looked
like; rendered two-row plates of every layout that has them, cut exactly so, teach it.  The crops
come from ``synth.plate_crop_rows`` (the generator of the training's whole plates, 70 % over a
real train scene) with the plate's crop as the box, as ``bench_layouts.py`` hands plates over.

    x, texts, regions = row_crops(4000, seed=5, workers=2)    # 8,000 crops, top and bottom rows
"""

from __future__ import annotations

import numpy as np

from edge_alpr.engine.preprocess import crop_resize, expand
from edge_alpr.engine.rows import row_boxes
from edge_alpr.types import Box
from scripts.data.reader_data import IN_H, IN_W, MARGIN_X, MARGIN_Y, SCENE_SHARE, chunk_scenes, in_chunks
from scripts.data.synth_layout_base import Layout
from scripts.data.synth_layouts import variants

CHUNK = 250  # plates per worker task


def two_row_layouts() -> list[Layout]:
    """Every layout that has a two-row variant (``synth_layouts.variants``)."""
    return [lay for _, lay, two in variants() if two]


def cut_rows(rng: np.random.Generator, n: int, scenes: list[np.ndarray]) -> tuple[np.ndarray, list[str], list[str]]:
    """``n`` rendered two-row plates as 2 ``n`` row crops (top, bottom) with their rows' texts."""
    from scripts.data import synth

    layouts = two_row_layouts()
    xs, ts, rs = [], [], []
    for _ in range(n):
        lay = layouts[rng.integers(len(layouts))]
        bg = scenes[rng.integers(len(scenes))] if scenes and rng.random() < SCENE_SHARE else None
        img, rows, region = synth.plate_crop_rows(rng, bg, layout=lay, two=True)
        if len(rows) != 2 or not all(rows):
            continue
        h, w = img.shape[:2]
        for box, text in zip(row_boxes(Box(0, 0, w, h)), rows, strict=True):
            xs.append(crop_resize(img, expand(box, MARGIN_X, MARGIN_Y, w, h), IN_W, IN_H))
            ts.append(text)
            rs.append(region)
    if not xs:
        return np.zeros((0, IN_H, IN_W, 3), np.uint8), [], []
    return np.stack(xs), ts, rs


def _chunk(args: tuple[int, int]) -> tuple[np.ndarray, list[str], list[str]]:
    seed, n = args
    return cut_rows(np.random.default_rng(seed), n, chunk_scenes(seed))


def row_crops(n: int, seed: int, workers: int = 2) -> tuple[np.ndarray, list[str], list[str]]:
    """Row crops of ``n`` two-row plates (about 2 ``n`` crops), drawn from ``seed`` in chunks as
    ``reader_data.synthetic`` draws its plates (``reader_data.in_chunks``)."""
    return in_chunks(_chunk, n, seed, CHUNK, workers, "two-row plates cut into rows")
