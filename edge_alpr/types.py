"""Frozen values passed between pipeline stages.

They are deliberately small and immutable so that a stage can hand them to another thread
(delivery, tracking) without copies or locks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only Frame's annotation: the config (VehicleBoxFactors' Box) loads without numpy
    from collections.abc import Callable

    import numpy as np


@dataclass(frozen=True)
class Box:
    """Pixel box; ``xmin, ymin`` inclusive, ``xmax, ymax`` exclusive (as in the datasets)."""

    xmin: int
    ymin: int
    xmax: int
    ymax: int

    @property
    def width(self) -> int:
        return self.xmax - self.xmin

    @property
    def height(self) -> int:
        return self.ymax - self.ymin

    def iou(self, other: Box) -> float:
        """Intersection over union, used by evaluation, tracking and NMS."""
        ix = max(0, min(self.xmax, other.xmax) - max(self.xmin, other.xmin))
        iy = max(0, min(self.ymax, other.ymax) - max(self.ymin, other.ymin))
        inter = ix * iy
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union > 0 else 0.0

    def to_dict(self) -> dict[str, int]:
        """The API's box layout."""
        return {"xmin": self.xmin, "ymin": self.ymin, "xmax": self.xmax, "ymax": self.ymax}


@dataclass(frozen=True)
class Detection:
    """A plate found by the detector; ``score`` is the API's ``dscore``.

    ``clipped``: found in a tile of the finer pass with the box touching an inner tile border, so
    the plate may go on beyond it; the merge across passes prefers any box that is not clipped.
    """

    box: Box
    score: float
    clipped: bool = False


@dataclass(frozen=True)
class Candidate:
    """One possible reading of a plate."""

    plate: str
    score: float


@dataclass(frozen=True)
class PlateRead:
    """What the reader says about one plate crop."""

    plate: str
    score: float
    candidates: tuple[Candidate, ...]
    region: str
    region_score: float


@dataclass(frozen=True)
class VehicleRead:
    """Vehicle type around a plate; ``box`` is where the vehicle was looked for."""

    type: str
    score: float
    box: Box


@dataclass(frozen=True)
class PlateResult:
    """One entry of the API's ``results`` list."""

    box: Box
    dscore: float
    read: PlateRead
    vehicle: VehicleRead

    def to_dict(self) -> dict[str, object]:
        """Serialise in the Plate Recognizer field layout (plates in lower case)."""
        return {
            "box": self.box.to_dict(),
            "plate": self.read.plate.lower(),
            "region": {"code": self.read.region, "score": round(self.read.region_score, 3)},
            "vehicle": {
                "type": self.vehicle.type,
                "score": round(self.vehicle.score, 3),
                "box": self.vehicle.box.to_dict(),
            },
            "score": round(self.read.score, 3),
            "candidates": [
                {"plate": c.plate.lower(), "score": round(c.score, 3)} for c in self.read.candidates
            ],
            "dscore": round(self.dscore, 3),
        }


@dataclass(frozen=True)
class Frame:
    """One image from a source: RGB uint8 pixels (``image``) plus where and when it was taken.

    ``captured`` is the monotonic time the camera made the frame, as closely as the source tells
    (a device's own timestamp, an RTSP stream's time: ``stream/sources/stamps.py``), else when
    the source got it; the camera loop's lag is measured from it (the wall-clock ``timestamp``,
    shifted alike, may step, and a file's is its mtime).

    ``pixels`` are the RGB pixels, or the source's own (OpenCV's BGR, ``order``) that ``convert``
    turns into them when ``image`` is first asked for.  Why deferred: a live camera delivers
    frames faster than the loop recognises them, and the ones it drops unseen (or skips for
    ``max_fps`` and ``sample``) were converted for nothing: 0.6 ms a 1920x1080 frame here, 25
    times a second; and the view check and the motion gate read ``bgr`` as well as RGB, so a
    still frame is never converted either.
    """

    pixels: np.ndarray = field(repr=False, compare=False)
    camera_id: str
    timestamp: datetime
    index: int = 0
    captured: float = field(default_factory=time.monotonic, compare=False)
    convert: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)
    order: str = field(default="RGB", compare=False)  # the channels of ``pixels`` until converted
    # (raw pixels, convert) until converted: one attribute, so that a thread that finds it set
    # converts the raw pixels, and one that finds it cleared finds ``pixels`` converted
    _pending: tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pending", None if self.convert is None else (self.pixels, self.convert))

    @property
    def converted(self) -> bool:
        """``image`` is ready (the source converted it, or it was asked for already)."""
        return self._pending is None

    @property
    def bgr(self) -> np.ndarray | None:
        """The source's own B, G, R pixels (3 channels) while their conversion is pending, else None."""
        pending = self._pending
        return pending[0] if pending is not None and self.order == "BGR" and pending[0].ndim == 3 \
            and pending[0].shape[2] == 3 else None

    @property
    def image(self) -> np.ndarray:
        """The RGB pixels, converted now if the source deferred it (then kept; two threads asking
        at once may both convert, to the same pixels)."""
        pending = self._pending
        if pending is None:
            return self.pixels
        rgb = pending[1](pending[0])
        object.__setattr__(self, "pixels", rgb)
        object.__setattr__(self, "_pending", None)
        return rgb
