"""Vehicle-type classifier run on the area around a plate.

The detector finds plates, not vehicles (the training data has no vehicle boxes), so the
vehicle box is estimated from the plate: a region a few plate-widths wide, mostly above it.
The factors live in config; the box is reported as ``vehicle.box`` and documented as estimated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# the factors are a config section (models.vehicle_box), defined beside it without numpy
from ..models_config import VehicleBoxFactors as VehicleBoxFactors
from ..types import Box, VehicleRead
from .preprocess import crop_resize, crop_shrink
from .runtime import Model


class VehicleClassifier:
    """Maps a crop to one of the API's vehicle types (``Unknown`` below the sidecar threshold)."""

    def __init__(self, path: Path, threads: int = 1, runtime: str = "auto", xnnpack: bool = True) -> None:
        self.model = Model(path, threads, runtime, xnnpack)
        meta = self.model.meta
        self.labels: list[str] = meta["labels"]
        self.api_types: dict[str, str] = meta["api_types"]
        self.unknown_below = float(meta["unknown_below"])
        _, self.in_h, self.in_w, _ = self.model.inputs[0].shape

    def crop_input(self, crop: np.ndarray) -> np.ndarray:
        """A ready-made vehicle crop resized to the model input."""
        h, w = crop.shape[:2]
        return crop_resize(crop, Box(0, 0, w, h), self.in_w, self.in_h)

    def classify(self, image: np.ndarray, box: Box) -> VehicleRead:
        """Type of the vehicle inside ``box``; scores of classes mapping to one type are summed."""
        p = self.model.run(crop_shrink(image, box, self.in_w, self.in_h))[0][0]
        per_type: dict[str, float] = {}
        for label, score in zip(self.labels, p):
            t = self.api_types[label]
            per_type[t] = per_type.get(t, 0.0) + float(score)
        best = max(per_type, key=lambda t: per_type[t])
        score = min(1.0, per_type[best])
        return VehicleRead(best if score >= self.unknown_below else "Unknown", score, box)
