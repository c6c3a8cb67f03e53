"""Two-row plates read a row at a time, where that reads more surely than the whole plate.

Why: the readers see every plate at 128 x 40 pixels, so each row of a two-row plate (motorcycle,
square rear and older plates of most European countries) gets about 15 rows of pixels, and its
characters are squeezed flat.  A crop of one row, stretched to the same input, gives each
character the height of a one-row plate's.  A box about as tall as wide may hold two rows, so it
is also read as a top and a bottom row, each crop ``ROW_SHARE`` of the box's height (the two
overlap in the middle, as rows are rarely split evenly), and the joined reading replaces the
whole-plate one when its probability (the product of the rows') is higher.

Chosen on rendered plates of seeds that neither training nor ``bench_layouts`` uses (30 per
layout variant): two-row variants read exactly 0.512 whole and 0.746 this way (row shares 0.46 /
0.48 / 0.50 / 0.53 / 0.56 gave 0.670 / 0.712 / 0.742 / 0.746 / 0.681; each row crop also gets the
reader's trained margin); one-row variants unchanged (0.871).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..types import Box, Candidate, PlateRead
from .reader import ReadSettings

# A box at most this wide for its height may hold two rows (two-row European plates are 1.3-1.7
# wide for their height, one-row US plates 2.0, European ones 4.7).
TWO_ROW_ASPECT = 1.75
ROW_SHARE = 0.53  # each row's crop: this share of the box's height


def may_have_two_rows(box: Box) -> bool:
    """Whether ``box`` is tall enough for its width to hold two rows of characters."""
    return box.height > 0 and box.width <= TWO_ROW_ASPECT * box.height


def row_boxes(box: Box) -> tuple[Box, Box]:
    """The top and bottom row crops of ``box``: ``ROW_SHARE`` of its height each."""
    rows = max(1, round(box.height * ROW_SHARE))
    return (Box(box.xmin, box.ymin, box.xmax, box.ymin + rows),
            Box(box.xmin, box.ymax - rows, box.xmax, box.ymax))


def row_settings(settings: ReadSettings) -> ReadSettings:
    """How a row is read: no region templates, which describe whole plates, not rows."""
    return replace(settings, hint=(), self_hint_score=1.1)


def joined(top: PlateRead, bottom: PlateRead, whole: PlateRead, top_n: int) -> PlateRead:
    """The rows' readings joined: every pair of candidates, scored by the product of the rows'
    scores, with the whole plate's region (the region head sees the whole plate)."""
    pairs = sorted((Candidate(t.plate + b.plate, t.score * b.score)
                    for t in top.candidates for b in bottom.candidates if t.plate and b.plate),
                   key=lambda c: -c.score)
    cands: list[Candidate] = []
    for c in pairs:  # two row splits can spell one plate: keep its best
        if all(c.plate != k.plate for k in cands):
            cands.append(c)
        if len(cands) == top_n:
            break
    if not cands:
        return whole
    return PlateRead(cands[0].plate, cands[0].score, tuple(cands), whole.region, whole.region_score)


def read_by_rows(read_box: Callable[[Box], PlateRead], box: Box, whole: PlateRead,
                 top_n: int) -> PlateRead:
    """``whole``, or the two rows' joined reading where ``box`` may hold two rows and the joined
    reading is more probable.  ``read_box`` reads one crop of the image (raw scores)."""
    if not may_have_two_rows(box):
        return whole
    top, bottom = (read_box(b) for b in row_boxes(box))
    rows = joined(top, bottom, whole, top_n)
    return rows if rows.score > whole.score else whole
