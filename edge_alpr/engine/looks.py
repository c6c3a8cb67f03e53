"""Looks: default mode's finer pass only where the whole-image map points, two to a detector run.

Why: the finer 3 x 3 tiles find the small plates a whole-image pass misses, but each tile is a
whole detector run, and a 16:9 camera frame runs three or four of them.  A small plate still
lights the whole-image map up a little (``models.tile_gate``), so the finer pass can look only
there: a 2:1 window around each such spot, seen at 1.5 times the tiles' scale, and the windows
packed two to a detector canvas (``models.fine_pass: looks``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..types import Detection
from .boxes import decode
from .detector import Detector, WholePass, in_image, tile_size
from .preprocess import letterbox_to

# Looks per canvas (rows, columns) and their scale over the tiles'.  Chosen on train scenes the
# detector trained on (every 8th, native and resized to 1280x720), before any held-out scoring:
# 2 x 2 square looks lost plates at 1280x720 (340 of 435 at zoom 1.5, against 360 for 2 x 1), and
# zoom 1.5 found the most (1: 351, 1.25: 358, 1.5: 360, 1.75: 347, 2: 341; tiles 355).
GRID = (2, 1)
ZOOM = 1.5
PER_CANVAS = GRID[0] * GRID[1]  # looks that share one detector run


@dataclass(frozen=True)
class Look:
    """A window of the image (``x0``, ``y0``, width ``w``, height ``h`` in image pixels, inside it)."""

    x0: int
    y0: int
    w: int
    h: int


def look_size(det: Detector, width: int, height: int, tiles: int, overlap: float) -> tuple[int, int]:
    """A look's width and height in image pixels: a canvas cell seen at ``ZOOM`` times the scale of
    the grid's tiles."""
    k = max(tile_size(width, height, tiles, overlap)) / det.size / ZOOM
    return max(1, round(det.size // GRID[1] * k)), max(1, round(det.size // GRID[0] * k))


def place(det: Detector, whole: WholePass, gate: float, size: tuple[int, int], width: int, height: int,
          found: list[Detection], limit: int) -> list[Look]:
    """Looks around the map's cells at ``gate`` or above, brightest first, each centred on its cell
    (pushed inside the image at its edges); a cell inside a box found already, or well inside an
    earlier look (``_inside``), gets none.  Stops after ``limit`` + 1 looks: more than the caller
    will run (a map lit up all over), so that placing them never costs more than the tiles."""
    prob, lb, s = whole.prob, whole.placement, det.stride
    lw, lh = size
    ys, xs = np.nonzero(prob >= gate)
    order = np.argsort(-prob[ys, xs], kind="stable")
    looks: list[Look] = []
    for i in order:
        x, y = lb.to_image((xs[i] + 0.5) * s, (ys[i] + 0.5) * s)
        if not (0 <= x < width and 0 <= y < height):  # the letterbox's padding
            continue
        if any(d.box.xmin <= x <= d.box.xmax and d.box.ymin <= y <= d.box.ymax for d in found):
            continue
        if any(_inside(lk, x, y, width, height) for lk in looks):
            continue
        x0 = int(min(max(0, x - lw / 2), max(0, width - lw)))
        y0 = int(min(max(0, y - lh / 2), max(0, height - lh)))
        looks.append(Look(x0, y0, min(lw, width), min(lh, height)))
        if len(looks) > limit:
            break
    return looks


def _inside(lk: Look, x: float, y: float, width: int, height: int) -> bool:
    """Whether (x, y) lies in ``lk`` at least a quarter of its size from each border inside the image:
    a plate centred there fits in the look."""
    mx, my = lk.w / 4, lk.h / 4
    left, top = lk.x0 + (mx if lk.x0 > 0 else 0), lk.y0 + (my if lk.y0 > 0 else 0)
    right = lk.x0 + lk.w - (mx if lk.x0 + lk.w < width else 0)
    bottom = lk.y0 + lk.h - (my if lk.y0 + lk.h < height else 0)
    return left <= x <= right and top <= y <= bottom


def canvases(looks: list[Look]) -> int:
    """Detector runs that ``detect_looks`` makes for ``looks``."""
    return -(-len(looks) // PER_CANVAS)


def detect_looks(det: Detector, image: np.ndarray, looks: list[Look], threshold: float) -> list[Detection]:
    """Plates in ``looks``, in image pixels; a box at a look's edge inside the image is ``clipped``.

    The looks of one canvas touch (no fill between them): a plate at a look's edge may be seen
    in part by its neighbour, whose boxes are kept inside that neighbour's own look."""
    h, w = image.shape[:2]
    cw, ch = det.size // GRID[1], det.size // GRID[0]
    mw, mh = cw // det.stride, ch // det.stride  # map cells per look
    out: list[Detection] = []
    per = PER_CANVAS
    for first in range(0, len(looks), per):
        canvas = np.full((det.size, det.size, 3), det.fill, np.uint8)
        placed = []
        for k, lk in enumerate(looks[first : first + per]):
            r, c = divmod(k, GRID[1])
            crop = image[lk.y0 : lk.y0 + lk.h, lk.x0 : lk.x0 + lk.w]
            sub, lb = letterbox_to(crop, cw, ch, det.fill)
            canvas[r * ch : (r + 1) * ch, c * cw : (c + 1) * cw] = sub
            placed.append((r, c, lk, lb))
        prob, dist = det.maps(canvas)
        for r, c, lk, lb in placed:
            sl = (slice(r * mh, (r + 1) * mh), slice(c * mw, (c + 1) * mw))
            window = (lk.x0, lk.y0, lk.w, lk.h)
            edge = det.stride / lb.scale  # one map cell, in image pixels
            out += [in_image(d, window, w, h, edge)
                    for d in decode(prob[sl], dist[sl], det.stride, det.unit, threshold, lb, lk.w, lk.h, det.nms_iou)]
    return out
