"""Turning the detector's dense maps into plate boxes.

The detector predicts, at stride ``s``, a plate probability and the distances from each cell
centre to the four box edges.  Connected components of the thresholded map are plates; each
plate's box is the probability-weighted mean of its cells' boxes, which is sub-stride precise.
Training (for its dev metrics) and serving share this code.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..types import Box, Detection
from .preprocess import Letterbox


def components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a small boolean map, as arrays of flat indices."""
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    out: list[np.ndarray] = []
    for start in np.flatnonzero(mask):
        if seen.flat[start]:
            continue
        seen.flat[start] = True
        queue, members = deque([start]), []
        while queue:
            i = queue.popleft()
            members.append(i)
            y, x = divmod(int(i), w)
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w:
                    j = ny * w + nx
                    if mask.flat[j] and not seen.flat[j]:
                        seen.flat[j] = True
                        queue.append(j)
        out.append(np.array(members))
    return out


def nms(dets: list[Detection], iou: float, ordered: bool = False) -> list[Detection]:
    """Greedy non-maximum suppression, best score first (``ordered``: in the given order)."""
    keep: list[Detection] = []
    for d in dets if ordered else sorted(dets, key=lambda d: -d.score):
        if all(d.box.iou(k.box) < iou for k in keep):
            keep.append(d)
    return keep


def decode(
    prob: np.ndarray,
    dist: np.ndarray,
    stride: int,
    dist_unit: float,
    threshold: float,
    lb: Letterbox,
    width: int,
    height: int,
    nms_iou: float = 0.5,
    min_size: int = 2,
) -> list[Detection]:
    """Maps for one image (``prob`` HxW in 0..1, ``dist`` HxWx4) -> boxes in image pixels."""
    mask = prob >= threshold
    h, w = prob.shape
    ys, xs = np.mgrid[0:h, 0:w]
    cx = (xs + 0.5) * stride
    cy = (ys + 0.5) * stride
    dets: list[Detection] = []
    for comp in components(mask):
        p = prob.flat[comp]
        wgt = p / p.sum()
        d = dist.reshape(-1, 4)[comp] * dist_unit
        x1 = float(np.sum((cx.flat[comp] - d[:, 0]) * wgt))
        y1 = float(np.sum((cy.flat[comp] - d[:, 1]) * wgt))
        x2 = float(np.sum((cx.flat[comp] + d[:, 2]) * wgt))
        y2 = float(np.sum((cy.flat[comp] + d[:, 3]) * wgt))
        ax1, ay1 = lb.to_image(x1, y1)
        ax2, ay2 = lb.to_image(x2, y2)
        box = Box(max(0, round(ax1)), max(0, round(ay1)), min(width, round(ax2)), min(height, round(ay2)))
        if box.width >= min_size and box.height >= min_size:
            dets.append(Detection(box=box, score=float(p.max())))
    return nms(dets, nms_iou)
