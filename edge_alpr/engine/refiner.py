"""Plate box refiner: a crop around a detected box -> the plate's four edges (int8 regressor).

Why: the detector's box is drawn from a coarse map (one cell is 8 canvas pixels, often several
image pixels), and a box a few pixels narrower than the plate cuts off an end character that
no reader can get back; the labelled box of the same plate reads it.  A second, small model
looks again at full resolution around the box and says where the plate's edges are; the reader
then reads from that box.  The training script (``scripts/train/train_refiner.py``) cuts its
crops with ``region`` and learns ``targets``, so serving and training share the geometry here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..types import Box
from .preprocess import crop_resize, expand
from .runtime import Model

# The crop grows the box by these shares of its width and height on each side: the detector's
# boxes of real plates are off by up to about a fifth of the width and half of the height.
GROW_X, GROW_Y = 0.3, 0.6
# A refined box that overlaps the detector's less than this is not trusted (the box is kept):
# the refiner only moves edges, it does not find another plate.
MIN_IOU = 0.3


def region(box: Box, width: int, height: int) -> Box:
    """The part of the image the refiner sees for ``box``: the box grown, clipped to the image."""
    return expand(box, GROW_X, GROW_Y, width, height)


def targets(plate: Box, crop: Box) -> np.ndarray:
    """``plate``'s edges (xmin, ymin, xmax, ymax) in units of ``crop``'s size, from its top left."""
    w, h = max(1, crop.width), max(1, crop.height)
    return np.array([(plate.xmin - crop.xmin) / w, (plate.ymin - crop.ymin) / h,
                     (plate.xmax - crop.xmin) / w, (plate.ymax - crop.ymin) / h], np.float32)


def from_targets(t: np.ndarray, crop: Box, width: int, height: int) -> Box | None:
    """The box that ``targets`` describe in ``crop``, clipped to the image; None if empty."""
    w, h = crop.width, crop.height
    x1 = max(0, int(round(crop.xmin + float(t[0]) * w)))
    y1 = max(0, int(round(crop.ymin + float(t[1]) * h)))
    x2 = min(width, int(round(crop.xmin + float(t[2]) * w)))
    y2 = min(height, int(round(crop.ymin + float(t[3]) * h)))
    return Box(x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


class Refiner:
    """Moves a detected box's edges onto the plate's (``refine``)."""

    def __init__(self, path: Path, threads: int = 1, runtime: str = "auto", xnnpack: bool = True) -> None:
        self.model = Model(path, threads, runtime, xnnpack)
        grow = self.model.meta.get("crop_grow")
        if grow != [GROW_X, GROW_Y]:
            raise ModelError(f"{self.model.name}: trained on crops grown by {grow}, this version cuts "
                             f"{[GROW_X, GROW_Y]}; use the refiner that came with this edge-alpr or retrain it")
        _, self.in_h, self.in_w, _ = self.model.inputs[0].shape

    def refine(self, image: np.ndarray, box: Box) -> Box:
        """The plate's box near ``box`` (``box`` itself where the model's answer is not credible)."""
        h, w = image.shape[:2]
        crop = region(box, w, h)
        if crop.width < 2 or crop.height < 2:
            return box
        out = self.model.run(crop_resize(image, crop, self.in_w, self.in_h))[0].reshape(-1)
        new = from_targets(out, crop, w, h)
        return new if new is not None and new.iou(box) >= MIN_IOU else box
