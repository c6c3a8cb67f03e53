"""Train the plate detector: a DB-style probability map plus edge distances at stride 4.

Why this head: a probability map with boxes from connected components converges in a few CPU
epochs and quantises cleanly (CenterNet-style heads did not).  Random zoom
and crop make tiny plates big; synthetic plates pasted into the real scenes add layouts the
three real sets lack (``detector_samples.py`` makes those samples for both trainers).

    python -m scripts.train.train_detector --epochs 12 --variants 6
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from edge_alpr.engine.boxes import decode
from edge_alpr.engine.preprocess import letterbox
from edge_alpr.types import Box
from scripts.data import datasets
from scripts.train import detector_model as dm
from scripts.train import tfcommon
from scripts.train.detector_samples import SIZE, STRIDE, UNIT, sample

THRESHOLD = 0.4
MIN_EVAL_H = 12


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
    ap.add_argument("--out", type=tfcommon.model_out, default=tfcommon.CACHE / "detector_v2.tflite")
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
