"""The plate detector's network and losses (used by train_detector.py, train_detector_stream.py
and the scripts that load its float weights).

Why a module of its own: the network is built by the trainers, by the weight recovery of
``detector_weights.py`` and by the probes that export it at other canvases, none of which need
the trainers' sampling; and the losses are backend-neutral ``keras.ops``, shared by the CPU
trainer (TensorFlow) and the accelerator trainer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Tensor = Any  # a Keras backend tensor (TensorFlow here, JAX or torch on an accelerator)

SIZE = 320  # the shipped detectors' square input canvas


def build(width: float = 1.0, size: int | tuple[int, int] = SIZE) -> object:
    """The detector network; ``width`` scales every channel count (1.0 is detector_v2's).

    ``size`` is the input canvas, square or ``(height, width)``: the network is fully
    convolutional, so weights trained at 320 load at any multiple of 32 on either side
    (``scripts/eval/canvas_probe.py`` runs them once on a wide canvas).
    """
    import keras
    from keras import layers as L

    def c(n: int) -> int:
        return max(8, int(round(n * width / 8)) * 8)

    def cbr(x: object, ch: int, k: int = 1, s: int = 1) -> object:
        x = L.Conv2D(ch, k, strides=s, padding="same", use_bias=False)(x)
        return L.ReLU()(L.BatchNormalization(momentum=0.9)(x))

    def dws(x: object, ch: int, s: int = 1) -> object:
        x = L.DepthwiseConv2D(3, strides=s, padding="same", use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization(momentum=0.9)(x))
        return cbr(x, ch)

    h, w = (size, size) if isinstance(size, int) else size
    inp = keras.Input((h, w, 3), name="image")
    x = cbr(L.Rescaling(1 / 255.0)(inp), c(16), 3, 2)
    c4 = dws(dws(x, c(24), 2), c(24))
    c8 = dws(dws(c4, c(48), 2), c(48))
    c16 = dws(dws(dws(c8, c(64), 2), c(64)), c(64))
    c32 = dws(dws(c16, c(96), 2), c(96))
    p = cbr(c32, c(48))
    p = dws(L.Add()([L.UpSampling2D()(p), cbr(c16, c(48))]), c(48))
    p = dws(L.Add()([L.UpSampling2D()(p), cbr(c8, c(48))]), c(48))
    p = dws(L.Add()([L.UpSampling2D()(p), cbr(c4, c(48))]), c(32))
    prob = L.Conv2D(1, 3, padding="same", activation="sigmoid", name="prob")(p)
    dist = L.Conv2D(4, 3, padding="same", activation="relu", name="dist")(p)
    return keras.Model(inp, [prob, dist])


def prob_loss(y: Tensor, p: Tensor) -> Tensor:
    """Focal loss on the plate-probability map, weighted (ignore regions) and per plate pixel.

    Backend-neutral ``keras.ops``, so the same loss trains under TensorFlow here and under the
    torch backend on a GPU (``train_detector_stream.py``).
    """
    from keras import ops

    t, w = y[..., 0:1], y[..., 1:2]
    p = ops.clip(p, 1e-5, 1 - 1e-5)
    pt = t * p + (1 - t) * (1 - p)
    alpha = t * 0.75 + (1 - t) * 0.25
    loss = -alpha * (1 - pt) ** 2 * ops.log(pt) * w
    return ops.sum(loss) / ops.maximum(1.0, ops.sum(t)) * 10.0


def prob_distill_loss(weight: float) -> Callable[[Tensor, Tensor], Tensor]:
    """``prob_loss`` plus ``weight`` x the KL divergence from a reference detector's map, on the
    cells the labels call background (the reference's map is the target's third channel).

    Why: fine-tuning on new photo sets taught earlier candidates to find more plates there and,
    with them, more plate-like things in the older scenes (more false boxes, lower scores on
    plates they found before).  Holding the background cells to the starting model's own map
    keeps its behaviour where the labels do not ask for a change; the term is zero at the start
    (the student is the reference) and grows only as the student drifts.
    """
    from keras import ops

    def loss(y: Tensor, p: Tensor) -> Tensor:
        t = y[..., 0:1]
        v = ops.clip(y[..., 2:3], 1e-5, 1 - 1e-5)
        q = ops.clip(p, 1e-5, 1 - 1e-5)
        kl = v * ops.log(v / q) + (1 - v) * ops.log((1 - v) / (1 - q))
        return prob_loss(y, p) + weight * ops.sum(kl * (1 - t)) / ops.maximum(1.0, ops.sum(t)) * 10.0

    return loss


def dist_loss(y: Tensor, d: Tensor) -> Tensor:
    """IoU (log) plus a little L1 on the four edge distances, at positive pixels only."""
    from keras import ops

    pos, t = y[..., 0], ops.maximum(y[..., 1:5], 0.0)
    iw = ops.maximum(0.0, ops.minimum(d[..., 0], t[..., 0]) + ops.minimum(d[..., 2], t[..., 2]))
    ih = ops.maximum(0.0, ops.minimum(d[..., 1], t[..., 1]) + ops.minimum(d[..., 3], t[..., 3]))
    inter = iw * ih
    area_d = (d[..., 0] + d[..., 2]) * (d[..., 1] + d[..., 3])
    area_t = (t[..., 0] + t[..., 2]) * (t[..., 1] + t[..., 3])
    iou = (inter + 1e-4) / (ops.maximum(area_d + area_t - inter, 0.0) + 1e-4)
    iou = ops.clip(iou, 1e-4, 1.0)
    l1 = ops.sum(ops.abs(d - t), axis=-1)
    return ops.sum((-ops.log(iou) + 0.2 * l1) * pos) / ops.maximum(1.0, ops.sum(pos))
