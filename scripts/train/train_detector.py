"""Train the plate detector: a DB-style probability map plus edge distances at stride 4.

Why this head: a probability map with boxes from connected components converges in a few CPU
epochs and quantises cleanly (CenterNet-style heads did not).  Random zoom
and crop make tiny plates big; synthetic plates pasted into the real scenes add layouts the
three real sets lack.

    python -m scripts.train.train_detector --epochs 12 --variants 6
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from edge_alpr.engine.boxes import decode
from edge_alpr.engine.preprocess import letterbox, resize
from edge_alpr.types import Box
from scripts.data import augment, datasets
from scripts.train import detector_model as dm
from scripts.train import tfcommon

SIZE, STRIDE, UNIT = dm.SIZE, 4, 32.0
ZOOM = (0.6, 3.0)  # sample zoom range of every shipped detector's training
GRID = SIZE // STRIDE
THRESHOLD = 0.4
MIN_EVAL_H = 12


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


def _gen(args: tuple[int, list[tuple[str, tuple]], float]) -> tuple[np.ndarray, np.ndarray]:
    seed, items, synth_p = args
    rng = np.random.default_rng(seed)
    xs, ts = [], []
    for path, boxes in items:
        x, t = sample(datasets.load_rgb(Path(path)), boxes, rng, synth_p)
        xs.append(x)
        ts.append(t.astype(np.float16))
    return np.stack(xs), np.stack(ts)


def pool(variants: int, synth_p: float, workers: int) -> tuple[np.ndarray, np.ndarray]:
    cache = tfcommon.CACHE / f"det_pool_{variants}_{synth_p}.npz"
    if cache.exists():
        z = np.load(cache)
        return z["x"], z["t"]
    items = [(str(it.path), it.boxes) for it in datasets.det_items("train")]
    jobs = []
    for v in range(variants):
        for i in range(0, len(items), 100):
            jobs.append((v * 1000 + i, items[i : i + 100], synth_p))
    xs, ts = [], []
    with mp.Pool(workers) as p:
        for x, t in p.imap(_gen, jobs):
            xs.append(x), ts.append(t)
            print(f"detector samples {sum(len(a) for a in xs)}/{len(items) * variants}", flush=True)
    x, t = np.concatenate(xs), np.concatenate(ts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x, t=t)
    return x, t


def zoom_arg(text: str) -> tuple[float, float]:
    """``LO,HI`` -> (lo, hi), 0 < lo <= hi (an argparse type for the sample zoom)."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LO,HI, e.g. 0.6,3") from e
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 < LO <= HI")
    return lo, hi


def hw_arg(text: str) -> tuple[int, int]:
    """``HxW`` -> (h, w), both positive (an argparse type)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HxW, e.g. 352x576") from e
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be positive")
    return h, w


def canvas_arg(text: str) -> tuple[int, int]:
    """A detector input ``HxW``: each side a multiple of 32, the network's coarsest stride."""
    h, w = hw_arg(text)
    if h % 32 or w % 32:
        raise argparse.ArgumentTypeError(f"{text!r}: each side must be a multiple of 32")
    return h, w


def evaluate(predict, items: list) -> dict[str, float]:
    """Recall/precision at IoU 0.5 over plates >= 12 px high (smaller ones neither hit nor FP)."""
    tp = fn = fp = 0
    for it in items:
        img = datasets.load_rgb(it.path)
        canvas, lb = letterbox(img, SIZE)
        prob, dist = predict(canvas)
        dets = decode(prob, dist, STRIDE, UNIT, THRESHOLD, lb, img.shape[1], img.shape[0])
        gts = [Box(*b) for b in it.boxes]
        used: set[int] = set()
        for d in dets:
            best = max(range(len(gts)), key=lambda j: d.box.iou(gts[j]), default=None)
            if best is not None and d.box.iou(gts[best]) >= 0.5:
                if gts[best].height >= MIN_EVAL_H and best not in used:
                    tp += 1
                used.add(best)
            elif best is None or not any(d.box.iou(g) > 0.1 and g.height < MIN_EVAL_H for g in gts):
                fp += 1
        fn += sum(1 for j, g in enumerate(gts) if g.height >= MIN_EVAL_H and j not in used)
    return {"recall": tp / max(1, tp + fn), "precision": tp / max(1, tp + fp), "tp": tp, "fn": fn, "fp": fp}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--variants", type=int, default=6, help="augmented copies of each training image")
    ap.add_argument("--synthetic-share", type=float, default=0.35, help="share of samples with pasted synthetic plates")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=3)
    ap.add_argument("--init", type=Path, help="start from these weights (fine-tuning stage)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--out", type=Path, default=tfcommon.CACHE / "detector_v2.tflite")
    args = ap.parse_args()
    t0 = time.time()
    tfcommon.setup_tf(args.threads)
    import keras

    x, t = pool(args.variants, args.synthetic_share, workers=2)
    print(f"pool: {len(x)} samples, {time.time() - t0:.0f}s", flush=True)

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.order = np.random.default_rng(0).permutation(len(x))

        def __len__(self) -> int:
            return len(x) // args.batch

        def __getitem__(self, i: int):
            idx = np.sort(self.order[i * args.batch : (i + 1) * args.batch])
            tt = t[idx].astype(np.float32)
            return x[idx].astype(np.float32), {"prob": tt[..., 0:2], "dist": tt[..., 2:7]}

        def on_epoch_end(self) -> None:
            self.order = np.random.default_rng().permutation(len(x))

    model = dm.build()
    if args.init:
        model.load_weights(args.init)
        print(f"initialised from {args.init}", flush=True)
    steps = args.epochs * (len(x) // args.batch)
    model.compile(
        keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(args.lr, steps), clipnorm=5.0),
        loss={"prob": dm.prob_loss, "dist": dm.dist_loss},
    )
    model.summary(print_fn=lambda s: print(s, flush=True) if "Total" in s else None)
    dev = datasets.det_items("dev")

    def predict_float(canvas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, d = model(canvas[None].astype(np.float32), training=False)
        return np.asarray(p)[0, ..., 0], np.asarray(d)[0]

    data = Batches()
    for ep in range(args.epochs):
        hist = model.fit(data, epochs=1, verbose=0)
        model.save_weights(tfcommon.CACHE / "detector.weights.h5")
        msg = f"epoch {ep + 1}/{args.epochs} {time.time() - t0:.0f}s loss={hist.history['loss'][-1]:.3f}"
        if (ep + 1) % args.eval_every == 0 or ep + 1 == args.epochs:
            m = evaluate(predict_float, dev[::4])
            msg += f" dev(1/4) recall={m['recall']:.3f} precision={m['precision']:.3f}"
        print(msg, flush=True)

    def calib():
        for i in np.random.default_rng(0).choice(len(x), 300, replace=False):
            yield [x[i : i + 1].astype(np.float32)]

    tfcommon.export_int8(model, calib, args.out)
    counts = {d: sum(1 for v in datasets.det_items("train") if v.dataset == d) for d in datasets.DET_SETS}
    tfcommon.write_sidecar(
        args.out,
        {
            "kind": "detector",
            "labels": ["plate"],
            "stride": STRIDE,
            "distance_unit_px": UNIT,
            "threshold": THRESHOLD,
            "nms_iou": 0.5,
            "preprocess": {"input": "RGB uint8 letterboxed to a square canvas", "fill": 114},
            "training_data": {
                "real_train_images": counts,
                "augmented_variants": args.variants,
                "synthetic_share": args.synthetic_share,
                "epochs": args.epochs,
                "wall_time_s": round(time.time() - t0),
            },
        },
    )
    print(f"wrote {args.out} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
