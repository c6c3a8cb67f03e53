"""One training sample of the plate detector: a zoomed and cropped train scene, plates pasted in,
and the target maps the losses read.

Why a module of its own: both trainers (``train_detector.py``'s cached pool and
``train_detector_stream.py``'s fresh stream) learn from these samples, and int8 calibration
(``select_detector.py``), weight recovery (``detector_weights.py``) and the canvas probe draw
them too, none of which need a trainer.  ``sample`` replays exactly for a seed: a recipe's
samples must not change when the code around it does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_alpr.engine.preprocess import resize
from edge_alpr.types import Box
from scripts.data import augment, datasets
from scripts.train import detector_model as dm

SIZE, STRIDE, UNIT = dm.SIZE, 4, 32.0
ZOOM = (0.6, 3.0)  # sample zoom range of every shipped detector's training
GRID = SIZE // STRIDE


def targets(
    boxes: list[tuple[float, float, float, float]], ignore: list[tuple[float, ...]], size: int = SIZE
) -> np.ndarray:
    """Pack (prob, weight, pos, l, t, r, b) maps for one sample."""
    grid = size // STRIDE
    t = np.zeros((grid, grid, 7), np.float32)
    t[..., 1] = 1.0
    centers = (np.arange(grid) + 0.5) * STRIDE
    for x1, y1, x2, y2 in ignore:
        xs = (centers >= x1) & (centers < x2)
        ys = (centers >= y1) & (centers < y2)
        t[np.ix_(ys, xs, [1])] = 0
    for x1, y1, x2, y2 in boxes:
        bw, bh = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        xs_full = (centers >= x1) & (centers < x2)
        ys_full = (centers >= y1) & (centers < y2)
        t[np.ix_(ys_full, xs_full, [1])] = 0
        xs = np.abs(centers - cx) <= max(bw * 0.3, STRIDE * 0.5)
        ys = np.abs(centers - cy) <= max(bh * 0.3, STRIDE * 0.5)
        xs[min(grid - 1, int(cx // STRIDE))] = True
        ys[min(grid - 1, int(cy // STRIDE))] = True
        for gy in np.flatnonzero(ys):
            for gx in np.flatnonzero(xs):
                px, py = centers[gx], centers[gy]
                t[gy, gx] = (1, 1, 1, (px - x1) / UNIT, (py - y1) / UNIT, (x2 - px) / UNIT, (y2 - py) / UNIT)
    return t


def sample(
    img: np.ndarray, boxes: tuple, rng: np.random.Generator, scenes_synth: float, size: int = SIZE,
    crops: tuple[str, ...] = (), crop_p: float = 0.0, robust_p: float = 0.0,
    zoom: tuple[float, float] = ZOOM,
) -> tuple[np.ndarray, np.ndarray]:
    """One zoomed/cropped ``size``-square training sample with its target maps.

    ``size`` other than the trained 320 serves int8 calibration of a larger-canvas export of the
    same (fully convolutional) weights: see ``select_detector.py --size``.  ``crops``: tight crops
    of real plates (image paths) of which, in a share ``crop_p`` of samples, 1-2 are warped in
    like the synthetic plates: real textures of plate shapes the scene sets hardly hold.
    ``robust_p``: the share of samples whose scene goes through ``augment.robust`` first (0 draws
    nothing, so earlier recipes replay exactly).  ``zoom``: the range (log-uniform) of the scene's
    longer side over ``size``; 1 is a frame letterboxed whole, as the service's one pass sees it.
    """
    from scripts.data import synth

    if robust_p > 0 and rng.random() < robust_p:
        img, boxes = augment.robust(img, boxes, rng)
    h, w = img.shape[:2]
    z = float(np.exp(rng.uniform(np.log(zoom[0]), np.log(zoom[1]))))
    s = size / max(h, w) * z
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    big = resize(img, nw, nh)
    if boxes and rng.random() < 0.8:  # centre the crop near a plate
        b = boxes[rng.integers(len(boxes))]
        cx, cy = (b[0] + b[2]) / 2 * s, (b[1] + b[3]) / 2 * s
        ox = int(np.clip(cx - rng.uniform(0.15, 0.85) * size, min(0, nw - size), max(0, nw - size)))
        oy = int(np.clip(cy - rng.uniform(0.15, 0.85) * size, min(0, nh - size), max(0, nh - size)))
    else:
        ox = int(rng.integers(min(0, nw - size), max(0, nw - size) + 1))
        oy = int(rng.integers(min(0, nh - size), max(0, nh - size) + 1))
    canvas = np.full((size, size, 3), 114, np.uint8)
    sx1, sy1 = max(0, ox), max(0, oy)
    sx2, sy2 = min(nw, ox + size), min(nh, oy + size)
    canvas[sy1 - oy : sy2 - oy, sx1 - ox : sx2 - ox] = big[sy1:sy2, sx1:sx2]
    keep, ignore = [], []
    for x1, y1, x2, y2 in boxes:
        bx = (x1 * s - ox, y1 * s - oy, x2 * s - ox, y2 * s - oy)
        cl = (max(0, bx[0]), max(0, bx[1]), min(size, bx[2]), min(size, bx[3]))
        area = (bx[2] - bx[0]) * (bx[3] - bx[1])
        vis = max(0, cl[2] - cl[0]) * max(0, cl[3] - cl[1])
        if vis <= 0:
            continue
        (keep if vis / max(area, 1e-6) > 0.7 and (cl[3] - cl[1]) >= 3 else ignore).append(cl)
    if rng.random() < scenes_synth:
        for _ in range(rng.integers(1, 4)):
            plate, _text = synth.render(synth.random_layout(rng), rng)
            canvas = _paste(canvas, synth._stain(plate, rng), keep, ignore, rng, size)
    if crops and crop_p > 0 and rng.random() < crop_p:
        for _ in range(rng.integers(1, 3)):
            canvas = _paste(canvas, datasets.load_rgb(Path(crops[rng.integers(len(crops))])), keep, ignore, rng, size)
    canvas = synth.camera(canvas, rng) if rng.random() < 0.5 else canvas
    return canvas, targets(keep, ignore, size)


def _paste(canvas: np.ndarray, plate: np.ndarray, keep: list, ignore: list, rng: np.random.Generator,
           size: int) -> np.ndarray:
    """Warp ``plate`` into ``canvas`` at a random size and place, unless it would touch a plate
    already there; its box joins ``keep``."""
    from scripts.data import synth

    pw = rng.uniform(14, 150)
    ph = pw * plate.shape[0] / plate.shape[1]
    cx, cy = rng.uniform(pw / 2, size - pw / 2), rng.uniform(ph / 2, size - ph / 2)
    quad = synth.random_quad(pw, ph, cx, cy, rng, skew=0.08)
    bb = (quad[:, 0].min(), quad[:, 1].min(), quad[:, 0].max(), quad[:, 1].max())
    if any(Box(*map(int, bb)).iou(Box(*map(int, k))) > 0 or _overlap(bb, k) for k in keep + ignore):
        return canvas
    keep.append(tuple(float(np.clip(v, 0, size)) for v in bb))
    return synth.warp_into(plate, canvas, quad)


def _overlap(a: tuple, b: tuple) -> bool:
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])
