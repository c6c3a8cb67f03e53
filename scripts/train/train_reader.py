"""Train the plate reader: text + region, int8 TFLite export with a sidecar.

Synthetic plates from ``synth.py`` give the reader the regions and fonts the real crops lack.
The network and its heads (``ctc``, ``attention``, ``dense``) are in ``reader_model.py``.

    python -m scripts.train.train_reader --epochs 30 --synthetic 40000
    python -m scripts.train.train_reader --head ctc --trunk-from reader_v3.weights.h5 --trunk-head attention \
        --epochs 5 --lr 1e-3 --holdout 10 --monitor heldout --out /tmp/c/reader_v4.tflite
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from scripts.data import augment as scene_aug
from scripts.data import datasets
from scripts.data import reader_data as rd
from scripts.train import distill, swa, tfcommon
from scripts.train import reader_model as rm
from scripts.train import reader_train_set as train_set

IN_H, IN_W, MAX_LEN = rd.IN_H, rd.IN_W, rd.MAX_LEN
ROW_SEED = 31  # --row-crops' plates: seeds 3,100,000 up, apart from the synthetic sets' and bench_layouts'
ALPHABET, PAD, CTC_ROWS = rm.ALPHABET, rm.PAD, rm.CTC_ROWS


def _count(text: str) -> int:
    """A number of copies (an argparse type): 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of copies, 0 or more")
    return int(text)


def augment(tf, x, y, r):
    """What real crops vary in and the data does not show enough of.

    Box jitter (the detector's crops are never exact), a small rotation and shear, lower
    resolution (plates far from the camera), sensor noise, grey frames and brightness and
    contrast.
    """
    b = tf.shape(x)[0]
    y1 = tf.random.uniform([b], -0.08, 0.1)
    x1 = tf.random.uniform([b], -0.04, 0.05)
    y2 = 1 - tf.random.uniform([b], -0.08, 0.1)
    x2 = 1 - tf.random.uniform([b], -0.04, 0.05)
    boxes = tf.stack([y1, x1, y2, x2], axis=1)
    xf = tf.image.crop_and_resize(tf.cast(x, tf.float32), boxes, tf.range(b), (IN_H, IN_W))
    # rotation (+-3 degrees) and horizontal shear (italic-like slant) about the centre; the
    # transform maps output pixels to input pixels
    theta = tf.random.uniform([b], -0.05, 0.05)
    shear = tf.random.uniform([b], -0.2, 0.2)
    cos, sin = tf.cos(theta), tf.sin(theta)
    cx, cy = IN_W / 2.0, IN_H / 2.0
    a0, a1 = cos, -sin + shear
    b0, b1 = sin, cos
    tr = tf.stack([a0, a1, cx - a0 * cx - a1 * cy, b0, b1, cy - b0 * cx - b1 * cy,
                   tf.zeros([b]), tf.zeros([b])], axis=1)
    xf = tf.raw_ops.ImageProjectiveTransformV3(images=xf, transforms=tr, output_shape=[IN_H, IN_W],
                                               fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST")
    # lower resolution for about half of the batches
    scale = tf.random.uniform([], 0.3, 1.0)
    small = tf.cast(tf.round(tf.constant([IN_H, IN_W], tf.float32) * scale), tf.int32)
    xf = tf.cond(tf.random.uniform([]) < 0.5,
                 lambda: tf.image.resize(tf.image.resize(xf, small), (IN_H, IN_W)), lambda: xf)
    gray = tf.reduce_mean(xf, axis=-1, keepdims=True) * tf.ones([1, 1, 1, 3])
    xf = tf.where(tf.random.uniform([b, 1, 1, 1]) < 0.2, gray, xf)
    xf = xf * tf.random.uniform([b, 1, 1, 1], 0.6, 1.3) + tf.random.uniform([b, 1, 1, 1], -30, 30)
    xf = xf + tf.random.normal(tf.shape(xf)) * tf.random.uniform([b, 1, 1, 1], 0.0, 10.0)
    return tf.clip_by_value(xf, 0, 255), {"chars": y, "region": r}


def parse_args() -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The options, and the parser (whose ``error`` reports what the data cannot satisfy)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=30,
                    help="0: export --init as it is (e.g. a mean of checkpoints), calibrated on this data")
    ap.add_argument("--synthetic", type=int, default=40000, help="synthetic plates to render (per seed)")
    ap.add_argument("--synthetic-seeds", default="1", metavar="S[,S...]",
                    help="render --synthetic plates from each of these seeds (each set cached on its own; "
                         "a continuation adds a seed to see plates it never saw)")
    ap.add_argument("--real-repeat", type=int, default=3, help="copies of the real crops per epoch")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--synthetic-use", type=int, default=0, help="use a random subset of the synthetic plates")
    ap.add_argument("--det-crops", type=int, default=0, help="copies of plate crops cut from detection scenes")
    ap.add_argument("--init", type=Path, help="start from these weights (fine-tuning stage)")
    ap.add_argument("--init-tflite", type=Path,
                    help="start from a shipped int8 reader of the same head (scripts/train/tflite_weights.py); "
                         "a region layer of another size starts afresh")
    ap.add_argument("--teacher-conf", type=float, default=None,
                    help="also learn the plates of every detection scene that have no human text from the teacher's "
                         "reads at least this confident (datasets.det_items; run scripts/data/teacher_reads.py first)")
    ap.add_argument("--teacher-regions", action="store_true",
                    help="--det-crops' plates learn the country the teacher named where it read them confidently and "
                         "the text fits that country's formats (reader_cuts.det_regions; 'United States': any state); "
                         "run scripts/data/teacher_reads.py first")
    ap.add_argument("--regions-from", type=Path,
                    help="the region list of this JSON file (a sidecar or a train_reader_gpu.py run.json) instead "
                         "of the rendered and real regions: --init weights of such a run then load")
    ap.add_argument("--trunk-from", type=Path, help="copy the conv trunk from these weights (of --trunk-head)")
    ap.add_argument("--trunk-head", choices=("attention", "dense", "ctc"), default="dense",
                    help="the head of the --trunk-from weights (reader_v1: dense, v2/v3: attention)")
    ap.add_argument("--head", choices=("attention", "dense", "ctc"), default="attention")
    ap.add_argument("--context", type=int, default=0, metavar="BLOCKS",
                    help="residual context blocks on a CTC head (reader_model.with_context); grown from "
                         "a reader without them (--init-tflite), it starts reading exactly as that reader")
    ap.add_argument("--region-weight", type=float, default=0.2, help="weight of the region loss")
    ap.add_argument("--region-only", action="store_true",
                    help="train only the region layer on --init's frozen network: the text outputs stay "
                         "exactly as they were (a CTC head's loss is a sum over frames, so its region "
                         "head learns little beside it)")
    ap.add_argument("--context-only", action="store_true",
                    help="with --context: train only the new context blocks on --init-tflite's frozen network "
                         "(it keeps reading real plates as it did; context adds what the columns' formats tell)")
    ap.add_argument("--monitor", choices=("dev", "heldout", "none"), default="dev",
                    help="crops whose float exact-read is printed each epoch (heldout needs --holdout; "
                         "none keeps dev unseen until evaluate.py)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--average-from", type=float, default=0.0, metavar="FRACTION",
                    help="average the weights from this fraction of the run on, at a constant --lr (stochastic "
                         "weight averaging, scripts/train/swa.py); 0: the last weights, after a cosine decay")
    ap.add_argument("--average-every", type=int, default=50, help="--average-from: batches between averaged points")
    ap.add_argument("--lowres", type=int, default=0,
                    help="low-resolution scene-like copies of each real crop (reader_data.scene_copy)")
    ap.add_argument("--scene-crops", type=int, default=0,
                    help="copies of each tight real crop (us_states, br_crops, ar_crops) pasted into a real "
                         "train scene, camera-degraded and cut by a jittered box (reader_data.scene_crops)")
    ap.add_argument("--tilted", type=int, default=0,
                    help="copies of every detection-scene plate and every tight real crop (pasted into a scene, "
                         "as --scene-crops) turned in the image plane and cut by the turned plate's box, as a "
                         "detector reports a tilted plate (reader_cuts.turned_cut)")
    ap.add_argument("--det-jitter", type=_count, default=0,
                    help="copies of every detection-scene plate cut by a box off the labelled one as the "
                         "detector's boxes are, with real image in the margins (reader_cuts.jittered_det_crops)")
    ap.add_argument("--row-crops", type=_count, default=0,
                    help="rendered two-row plates of every layout that has them, each cut into its top and "
                         "bottom row as the service cuts a two-row plate to read it a row at a time "
                         "(scripts/data/row_crops.py)")
    ap.add_argument("--row-seed", type=int, default=ROW_SEED, help="the seed the --row-crops plates are drawn from")
    ap.add_argument("--tilt-deg", type=float, default=scene_aug.ROBUST_TILT_DEG,
                    help="--tilted turns each copy by up to this many degrees either way")
    ap.add_argument("--repeat-set", action="append", default=[], metavar="SET=K",
                    help="K extra copies of one OCR set's crops, e.g. us_states=2 (repeatable)")
    ap.add_argument("--distill-from", type=Path, metavar="MODEL",
                    help="hold real crops' readings to this int8 CTC reader (KL per column, distill.py)")
    ap.add_argument("--distill-weight", type=float, default=1.0, help="--distill-from: weight of that term")
    ap.add_argument("--hard-from", type=Path, metavar="MODEL",
                    help="an int8 reader whose misreads among the real training crops (OCR crops and "
                         "--det-crops' scene plates) get --hard-repeat extra copies (hard_examples.py)")
    ap.add_argument("--hard-repeat", type=_count, default=2, help="--hard-from: extra copies of each misread crop")
    ap.add_argument("--holdout", type=int, default=0,
                    help="keep every N-th train crop and detection scene out (select_reader.py compares on them)")
    ap.add_argument("--holdout-offset", type=int, default=0,
                    help="hold out items i with i %% N == OFFSET (another offset: a disjoint hold-out)")
    ap.add_argument("--out", type=tfcommon.model_out, default=tfcommon.MODELS / "reader_v3.tflite")
    ap.add_argument("--ckpt", type=Path, default=tfcommon.CACHE / "reader.weights.h5",
                    help="float weights saved after every epoch (give runs side by side their own)")
    return ap, ap.parse_args()


def start_from(ap: argparse.ArgumentParser, args: argparse.Namespace, model: Any, regions: list[str],
               x: np.ndarray) -> None:
    """Load what the run starts from (--init, --init-tflite or --trunk-from) into ``model``, and
    freeze all but the region layer for --region-only, all but the context blocks for --context-only."""
    if args.init:
        model.load_weights(args.init)
        print(f"initialised from {args.init}", flush=True)
    elif args.init_tflite:
        from scripts.train import tflite_weights

        fresh = tflite_weights.to_keras(model, tflite_weights.int8_constants(args.init_tflite))
        if {f for f in fresh if not f.startswith(rm.CONTEXT_PREFIX)} - {"region"}:
            ap.error(f"--init-tflite {args.init_tflite}: no weights for layers {fresh} (another head?)")
        sample = x[np.random.default_rng(4).choice(len(x), min(len(x), 4000), replace=False)]
        n_bn = tflite_weights.reestimate_bn(model, sample)
        print(f"initialised from {args.init_tflite}" + (f" (new: {', '.join(fresh)})" if fresh else "")
              + f"; {n_bn} batch norms given their input statistics", flush=True)
    elif args.trunk_from:
        v1 = rm.build(len(regions), args.trunk_head)
        v1.load_weights(args.trunk_from)
        print(f"trunk ({rm.copy_trunk(v1, model)} layers) from {args.trunk_from}", flush=True)
    if args.region_only or args.context_only:
        flag = "--region-only" if args.region_only else "--context-only"
        if args.average_from or args.region_only and args.context_only or args.context_only and not args.context:
            ap.error(f"{flag}: not with --average-from (it refreshes every batch norm) nor with the other *-only; "
                     "--context-only needs --context BLOCKS")
        if not (args.init or args.init_tflite):
            ap.error(f"{flag} needs --init WEIGHTS or --init-tflite MODEL")
        for layer in model.layers:
            layer.trainable = layer.name == "region" if args.region_only else layer.name.startswith(rm.CONTEXT_PREFIX)


def fit(ap: argparse.ArgumentParser, args: argparse.Namespace, model: Any, ds: Any, steps: int,
        averager: Any, watch: list[datasets.OcrItem], t0: float, fitted: Any) -> None:
    """--epochs epochs of ``fitted`` (``model``, or it with distill.py's extra output), ``model``'s
    weights saved after each, the float exact reads of ``watch`` printed; with --average-from the
    averaged weights replace the last ones at the end."""
    ckpt = args.ckpt
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    dx, dt_, _, dd = rd.real(watch) if watch else (None, [], [], [])
    for ep in range(args.epochs):
        fitted.fit(ds, epochs=1, verbose=0, callbacks=[averager] if averager else [])
        if averager and ep == args.epochs - 1:
            points = averager.finish()
            if not points:
                ap.error(f"--average-from {args.average_from}: no point of the run was averaged (too late a start "
                         f"or --average-every {args.average_every} above the run's {steps} batches)")
            norms = swa.refresh_bn(model, np.concatenate([np.asarray(a) for a, _ in ds.take(64)]))
            print(f"averaged {points} points of the run; {norms} batch norms refreshed", flush=True)
        model.save_weights(ckpt)
        if dx is None:
            print(f"epoch {ep + 1}/{args.epochs} {time.time() - t0:.0f}s", flush=True)
            continue
        pred = model.predict(dx, verbose=0, batch_size=256)[0]
        ok = [rm.matches(rm.decode(p, args.head), t) for p, t in zip(pred, dt_)]
        per = {s: float(np.mean([o for o, d in zip(ok, dd) if d == s])) for s in sorted(set(dd))}
        print(
            f"epoch {ep + 1}/{args.epochs} {time.time() - t0:.0f}s float exact({args.monitor}) "
            + " ".join(f"{k}={v:.3f}" for k, v in per.items()),
            flush=True,
        )


def main() -> None:
    ap, args = parse_args()
    extra = train_set.repeat_sets(ap, args.repeat_set)
    t0 = time.time()
    tf = tfcommon.setup_tf(args.threads)
    import keras

    try:
        seeds = [int(v) for v in args.synthetic_seeds.split(",")]
    except ValueError:
        ap.error(f"--synthetic-seeds {args.synthetic_seeds!r}: expected integers separated by commas, e.g. 1,2")
    data = train_set.assemble(args, seeds, extra, ap.error)
    x, regions = data.x, data.regions
    real = np.arange(len(x)) >= data.synthetic  # rendered plates first (reader_train_set.assemble)
    ref = distill.reference(args.distill_from, x) if args.distill_from else None
    ds = (
        tf.data.Dataset.from_tensor_slices((x, data.y, data.r, real))
        .shuffle(len(x), seed=0)
        .batch(args.batch)
        .map(lambda a, b, c, d: distill.add_targets(tf, ref, *augment(tf, a, b, c), d) if ref is not None
             else augment(tf, a, b, c))
        .prefetch(2)
    )
    if args.context and args.head != "ctc":
        ap.error(f"--context {args.context}: context blocks are for --head ctc, not {args.head}")
    model = rm.build(len(regions), args.head, args.context)
    start_from(ap, args, model, regions, x)
    steps = args.epochs * (len(x) // args.batch + 1)  # 0 with --epochs 0: nothing to decay
    sched = args.lr if args.average_from or not steps else keras.optimizers.schedules.CosineDecay(args.lr, steps)
    averager = swa.callback(steps, args.average_from, args.average_every) if args.average_from else None
    fitted = distill.trainer(model) if ref is not None else model
    fitted.compile(
        keras.optimizers.AdamW(sched, weight_decay=args.weight_decay),
        loss={"chars": rm.ctc_loss if args.head == "ctc" else rm.slot_loss,
              "region": rm.region_group_loss([i for i, v in enumerate(regions) if v.startswith("us-")])
              if args.teacher_regions else rm.region_loss,
              **({"distill": distill.kl_loss} if ref is not None else {})},
        loss_weights={"chars": 0.0 if args.region_only else 1.0, "region": args.region_weight,
                      **({"distill": args.distill_weight} if ref is not None else {})},
    )
    model.summary(print_fn=lambda s: print(s, flush=True) if "Total" in s else None)
    if args.monitor == "heldout" and not args.holdout:
        ap.error("--monitor heldout needs --holdout N")
    watch = datasets.ocr_items("dev") if args.monitor == "dev" else data.ocr_held if args.monitor == "heldout" else []
    fit(ap, args, model, ds, steps, averager, watch, t0, fitted)

    def calib():
        rng = np.random.default_rng(0)
        for i in rng.choice(len(x), 300, replace=False):
            yield [x[i : i + 1].astype(np.float32)]

    tfcommon.export_int8(model, calib, args.out)
    tfcommon.write_sidecar(
        args.out,
        {
            "kind": "reader",
            "head": args.head,
            "alphabet": ALPHABET,
            **({"blank_index": PAD, "text_rows": CTC_ROWS} if args.head == "ctc" else {"pad_index": PAD}),
            **({"context_blocks": args.context} if args.context else {}),
            "max_len": MAX_LEN,
            "regions": regions,
            "preprocess": {
                "input": "RGB uint8, plate crop stretched to input size (bilinear)",
                "crop_margin_x": rd.MARGIN_X,
                "crop_margin_y": rd.MARGIN_Y,
            },
            "training_data": train_set.training_data(args, data, seeds, extra, round(time.time() - t0)),
        },
    )
    print(f"wrote {args.out} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
