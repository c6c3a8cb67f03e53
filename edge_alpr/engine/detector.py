"""Plate detector: letterbox -> int8 model -> probability map -> boxes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..types import Box, Detection
from .boxes import decode, nms
from .preprocess import Letterbox, letterbox
from .runtime import Model

Window = tuple[int, int, int, int]  # x0, y0, width, height in image pixels


@dataclass(frozen=True)
class WholePass:
    """The whole-image pass: detections per threshold, and the map they came from."""

    levels: list[list[Detection]]
    prob: np.ndarray
    placement: Letterbox


class Detector:
    """Finds plates in an RGB image; thresholds default to the model's sidecar."""

    def __init__(self, path: Path, threads: int = 1, runtime: str = "auto", xnnpack: bool = True) -> None:
        self.model = Model(path, threads, runtime, xnnpack)
        meta = self.model.meta
        self.size = int(self.model.inputs[0].shape[1])
        self.stride = int(meta["stride"])
        self.unit = float(meta["distance_unit_px"])
        self.threshold = float(meta["threshold"])
        self.nms_iou = float(meta["nms_iou"])
        self.fill = int(meta["preprocess"]["fill"])

    def maps(self, canvas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw probability (HxW) and distance (HxWx4) maps for a letterboxed canvas."""
        outs = self.model.run(canvas[None])
        prob = self.model.output_by_shape(outs, 1)[0, ..., 0]
        dist = self.model.output_by_shape(outs, 4)[0]
        return prob, dist

    def detect(self, image: np.ndarray, threshold: float | None = None) -> list[Detection]:
        """Plates in the whole image, in image pixels."""
        return self.detect_levels(image, (self.threshold if threshold is None else threshold,))[0]

    def detect_levels(self, image: np.ndarray, thresholds: tuple[float, ...]) -> list[list[Detection]]:
        """``detect`` at each of several thresholds, from one run of the model (a lower level
        proposes candidates for a check the map alone cannot make)."""
        return self.detect_pass(image, thresholds).levels

    def detect_pass(self, image: np.ndarray, thresholds: tuple[float, ...]) -> WholePass:
        """``detect_levels`` with the probability map and its placement, for ``interest``."""
        h, w = image.shape[:2]
        canvas, lb = letterbox(image, self.size, self.fill)
        prob, dist = self.maps(canvas)
        levels = [decode(prob, dist, self.stride, self.unit, t, lb, w, h, self.nms_iou) for t in thresholds]
        return WholePass(levels, prob, lb)

    def interest(self, whole: WholePass, window: Window) -> float:
        """The whole-image map's highest plate probability inside ``window`` (image pixels).

        Why: a plate too small for the whole-image pass to find still lights its map up a
        little, so a tile whose window stays dark everywhere can be skipped (models.tile_gate).
        """
        x0, y0, tw, th = window
        lb, s = whole.placement, self.stride
        (ax, ay), (bx, by) = lb.to_canvas(x0, y0), lb.to_canvas(x0 + tw, y0 + th)
        rows, cols = whole.prob.shape
        r0, c0 = max(0, int(ay // s)), max(0, int(ax // s))
        r1, c1 = min(rows, int(np.ceil(by / s))), min(cols, int(np.ceil(bx / s)))
        return float(whole.prob[r0:r1, c0:c1].max()) if r1 > r0 and c1 > c0 else 0.0

    def windows(self, width: int, height: int, tiles: int, overlap: float) -> list[Window]:
        """The ``tiles`` x ``tiles`` overlapping windows of the finer pass ((x0, y0, w, h); none for a sliver)."""
        tw, th = tile_size(width, height, tiles, overlap)
        if min(tw, th) < self.stride * 4:  # a sliver of an image: tiles would hold no plate
            return []
        out = []
        for ty in range(tiles):
            for tx in range(tiles):
                # the last column and row end at the image's edge (rounding would leave a strip)
                x0 = width - tw if tx == tiles - 1 else min(width - tw, int(tx * tw * (1 - overlap)))
                y0 = height - th if ty == tiles - 1 else min(height - th, int(ty * th * (1 - overlap)))
                out.append((x0, y0, tw, th))
        return out

    def detect_tiled(
        self, image: np.ndarray, tiles: int, overlap: float, threshold: float | None = None,
        windows: list[Window] | None = None,
    ) -> list[Detection]:
        """A finer pass: detect in ``tiles`` x ``tiles`` overlapping tiles (or only ``windows``
        of them) and map boxes back."""
        h, w = image.shape[:2]
        out: list[Detection] = []
        for win in self.windows(w, h, tiles, overlap) if windows is None else windows:
            x0, y0, tw, th = win
            edge = self.stride * max(tw, th) / self.size  # one map cell of the letterboxed tile, in tile pixels
            out += [in_image(d, win, w, h, edge) for d in self.detect(image[y0 : y0 + th, x0 : x0 + tw], threshold)]
        return out

    def merge(self, dets: list[Detection]) -> list[Detection]:
        """NMS across passes, every whole box ahead of every clipped one.

        Why: a plate crossing an inner tile border is also found cut short by that tile, often
        with the higher score; keeping the cut box loses the characters beyond the border.  A
        clipped box survives only where no whole box overlaps it.
        """
        whole = nms([d for d in dets if not d.clipped], self.nms_iou)
        clipped = sorted((d for d in dets if d.clipped), key=lambda d: -d.score)
        return sorted(nms(whole + clipped, self.nms_iou, ordered=True), key=lambda d: -d.score)


def tile_size(width: int, height: int, tiles: int, overlap: float) -> tuple[int, int]:
    """Width and height of each of the finer pass's ``tiles`` x ``tiles`` windows (sharing ``overlap``)."""
    return int(width / (tiles - (tiles - 1) * overlap)), int(height / (tiles - (tiles - 1) * overlap))


def in_image(d: Detection, window: Window, width: int, height: int, edge: float) -> Detection:
    """A detection made in ``window`` (window pixels) in image pixels, ``clipped`` where the box comes
    within ``edge`` of a window border that lies inside the image (the plate may go on beyond it)."""
    x0, y0, tw, th = window
    b = d.box
    inner = (x0 > 0, y0 > 0, x0 + tw < width, y0 + th < height)
    near = (b.xmin <= edge, b.ymin <= edge, b.xmax >= tw - edge, b.ymax >= th - edge)
    clipped = any(i and n for i, n in zip(inner, near, strict=True))
    return Detection(Box(b.xmin + x0, b.ymin + y0, b.xmax + x0, b.ymax + y0), d.score, clipped)
