"""Train the plate box refiner (``edge_alpr/engine/refiner.py``) on the detection sets' train scenes.

The refiner sees the crop ``refiner.region`` cuts around a box and learns the labelled plate's
edges in it (``refiner.targets``).  Its inputs are the boxes it will meet in the service: the
detector's own boxes on the train scenes (each matched to its labelled plate) and jittered
copies of every labelled box (the detector's errors, wider: off by a few percent of the width,
a tenth of the height, a box too narrow or too tall).  Every ``--holdout``-th train scene of the
six sets (the detector's hold-out, as ``tile_gate.items('heldout')``) is left out and measured:
mean IoU with the labelled plate of the detector's box before and after refining.  Dev is
never used here.

    python -m scripts.train.train_refiner --epochs 12 --out models/quantized/refiner_v1.tflite
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edge_alpr.engine import refiner
from edge_alpr.engine.preprocess import crop_resize
from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts.data import datasets
from scripts.progress import track
from scripts.train import tfcommon

IN_H, IN_W = 48, 128
MIN_PLATE_H = 8  # labelled plates smaller than this (px) teach nothing about edges
MATCH_IOU = 0.3  # a detector box stands for the labelled plate it overlaps at least this much
SETS = datasets.DET_SETS + datasets.TEACHER_SETS


def jitter(g: Box, rng: np.random.Generator, w: int, h: int, spread: float) -> Box | None:
    """``g`` moved and resized as a detector might box it (``spread`` scales every error)."""
    cx = (g.xmin + g.xmax) / 2 + rng.normal(0, 0.07 * spread) * g.width
    cy = (g.ymin + g.ymax) / 2 + rng.normal(0, 0.12 * spread) * g.height
    bw = g.width * float(np.exp(np.clip(rng.normal(0, 0.12 * spread), -0.5, 0.5)))
    bh = g.height * float(np.exp(np.clip(rng.normal(0, 0.2 * spread), -0.7, 0.7)))
    box = Box(max(0, int(round(cx - bw / 2))), max(0, int(round(cy - bh / 2))),
              min(w, int(round(cx + bw / 2))), min(h, int(round(cy + bh / 2))))
    return box if box.width >= 2 and box.height >= 2 else None


def sample(img: np.ndarray, box: Box, plate: Box) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape[:2]
    crop = refiner.region(box, w, h)
    return crop_resize(img, crop, IN_W, IN_H), refiner.targets(plate, crop)


def build(items: list[datasets.DetItem], rec: Recognizer, copies: int, seed: int, label: str,
          det_copies: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crops, targets, input-box targets) for ``items``: per labelled plate ``copies`` jittered boxes,
    and per detector box matched to it the box itself plus ``det_copies`` lightly jittered copies."""
    rng = np.random.default_rng(seed)
    xs, ys, base = [], [], []
    for it in track(items, label):
        img = decode(it.path.read_bytes(), 10**8)
        h, w = img.shape[:2]
        plates = [Box(*b) for b in it.boxes if b[3] - b[1] >= MIN_PLATE_H]
        dets = [d.box for d in rec.detect(img, RecognizeOptions())]
        inputs: list[tuple[Box, Box]] = []
        for g in plates:
            inputs += [(b, g) for b in (jitter(g, rng, w, h, 1.0) for _ in range(copies)) if b is not None]
            for d in dets:
                if d.iou(g) >= MATCH_IOU:
                    inputs.append((d, g))
                    inputs += [(b, g) for b in (jitter(d, rng, w, h, 0.4) for _ in range(det_copies)) if b]
        for b, g in inputs:
            x, y = sample(img, b, g)
            xs.append(x)
            ys.append(y)
            base.append(refiner.targets(b, refiner.region(b, w, h)))
    return np.stack(xs), np.stack(ys), np.stack(base)


def iou_of(t: np.ndarray, g: np.ndarray) -> np.ndarray:
    """IoU of boxes given as edges in crop units (rows of x1, y1, x2, y2)."""
    ix = np.clip(np.minimum(t[:, 2], g[:, 2]) - np.maximum(t[:, 0], g[:, 0]), 0, None)
    iy = np.clip(np.minimum(t[:, 3], g[:, 3]) - np.maximum(t[:, 1], g[:, 1]), 0, None)
    inter = ix * iy
    area = lambda b: np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)  # noqa: E731
    return inter / np.maximum(area(t) + area(g) - inter, 1e-9)


def model() -> object:
    import keras
    from keras import layers as L

    inp = keras.Input((IN_H, IN_W, 3), name="crop")
    x = L.Rescaling(1 / 255.0)(inp)
    for ch, stride in ((24, 2), (32, 1), (48, 2), (48, 1), (64, 2), (64, 1), (96, 2)):
        x = L.Conv2D(ch, 3, strides=stride, padding="same", use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization(momentum=0.9)(x))
    x = L.Dense(96, activation="relu")(L.Flatten()(x))
    return keras.Model(inp, L.Dense(4, name="edges")(x))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--copies", type=int, default=12, help="jittered boxes per labelled plate")
    ap.add_argument("--det-copies", type=int, default=2, help="jittered copies of each matched detector box")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--holdout", type=int, default=datasets.HOLDOUT_EVERY)
    ap.add_argument("--limit", type=int, default=0, help="use only every N-th scene (a quick trial run; 0: all)")
    ap.add_argument("--out", type=Path, default=tfcommon.MODELS / "refiner_v1.tflite")
    args = ap.parse_args()
    t0 = time.time()
    tf = tfcommon.setup_tf(args.threads)
    import keras

    rec = Recognizer.from_config(ModelsConfig(threads=1))
    kept, held = datasets.holdout(datasets.det_items("train", SETS), args.holdout)
    if args.limit:
        kept, held = kept[:: args.limit], held[:: args.limit]
    x, y, _ = build(kept, rec, args.copies, 1, "train scenes", args.det_copies)
    hx, hy, hb = build(held, rec, 0, 2, "held-out scenes", 0)  # the detector's boxes only
    print(f"{len(x)} train crops from {len(kept)} scenes, {len(hx)} held-out detector boxes; "
          f"held-out IoU of the detector's box {iou_of(hb, hy).mean():.3f}", flush=True)

    def aug(a, b):
        a = tf.cast(a, tf.float32)
        n = tf.shape(a)[0]
        a = a * tf.random.uniform([n, 1, 1, 1], 0.6, 1.4) + tf.random.uniform([n, 1, 1, 1], -30, 30)
        grey = tf.reduce_mean(a, axis=-1, keepdims=True) * tf.ones([1, 1, 1, 3])
        a = tf.where(tf.random.uniform([n, 1, 1, 1]) < 0.2, grey, a)
        flip = tf.random.uniform([n, 1]) < 0.5  # mirrored: the left edge becomes the right one
        b = tf.where(flip, tf.stack([1 - b[:, 2], b[:, 1], 1 - b[:, 0], b[:, 3]], axis=1), b)
        a = tf.where(flip[:, :, None, None], a[:, :, ::-1, :], a)
        return tf.clip_by_value(a, 0, 255), b

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(64).map(aug).prefetch(2)
    net = model()
    steps = args.epochs * (len(x) // 64 + 1)
    net.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(args.lr, steps)),
                loss=keras.losses.Huber(delta=0.03))
    for ep in range(args.epochs):
        hist = net.fit(ds, epochs=1, verbose=0)
        iou = iou_of(net.predict(hx, verbose=0, batch_size=256), hy).mean()
        print(f"epoch {ep + 1}/{args.epochs} {time.time() - t0:.0f}s loss {hist.history['loss'][-1]:.4f} "
              f"held-out IoU {iou:.3f}", flush=True)

    def calib():
        for i in np.random.default_rng(0).choice(len(x), 300, replace=False):
            yield [x[i : i + 1].astype(np.float32)]

    tfcommon.export_int8(net, calib, args.out)
    side = {
        "kind": "refiner",
        "crop_grow": [refiner.GROW_X, refiner.GROW_Y],
        "preprocess": {"input": "RGB uint8 crop of refiner.region(box) stretched to input size (bilinear)",
                       "output": "plate edges x1, y1, x2, y2 in units of the crop's width and height"},
        "training_data": {"sets": list(SETS), "train_scenes": len(kept), "train_crops": len(x),
                          "jittered_per_plate": args.copies, "held_out_every": args.holdout,
                          "epochs": args.epochs, "wall_time_s": round(time.time() - t0)},
    }
    tfcommon.write_sidecar(args.out, side)  # the refiner loads only with a matching sidecar
    r = refiner.Refiner(args.out)
    pred = np.stack([r.model.run(c)[0].reshape(-1) for c in hx])
    side["held_out"] = {"detector_boxes": len(hx), "iou_before": round(float(iou_of(hb, hy).mean()), 4),
                        "iou_after_int8": round(float(iou_of(pred, hy).mean()), 4)}
    tfcommon.write_sidecar(args.out, side)
    print(f"wrote {args.out}: held-out IoU {side['held_out']} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
