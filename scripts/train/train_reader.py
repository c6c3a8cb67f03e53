"""Train the plate reader: text + region, int8 TFLite export with a sidecar.

Synthetic plates from ``synth.py`` give the reader the regions and fonts the real crops lack.
The network and its heads (``ctc``, ``attention``, ``dense``) are in ``reader_model.py``.

    python -m scripts.train.train_reader --epochs 30 --synthetic 40000
    python -m scripts.train.train_reader --head ctc --trunk-from reader_v3.weights.h5 --trunk-head attention \
        --epochs 5 --lr 1e-3 --holdout 10 --monitor heldout --out /tmp/c/reader_v4.tflite
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from scripts.data import augment as scene_aug
from scripts.data import datasets
from scripts.data import reader_data as rd
from scripts.train import hard_examples, swa, tfcommon
from scripts.train import reader_model as rm

IN_H, IN_W, MAX_LEN = rd.IN_H, rd.IN_W, rd.MAX_LEN
TILTED_SEED = 13  # --tilted's pasted crops: other pastes than --scene-crops' (seed 9)
ROW_SEED = 31  # --row-crops' plates: seeds 3,100,000 up, apart from the synthetic sets' and bench_layouts'
ALPHABET, PAD, CTC_ROWS = rm.ALPHABET, rm.PAD, rm.CTC_ROWS
ANY_STATE = "us"  # a region label: an American plate, state unknown (rm.region_group_loss)


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=30)
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
                         "the text fits that country's formats (reader_data.det_regions; 'United States': any state); "
                         "run scripts/data/teacher_reads.py first")
    ap.add_argument("--regions-from", type=Path,
                    help="the region list of this JSON file (a sidecar or a train_reader_gpu.py run.json) instead "
                         "of the rendered and real regions: --init weights of such a run then load")
    ap.add_argument("--trunk-from", type=Path, help="copy the conv trunk from these weights (of --trunk-head)")
    ap.add_argument("--trunk-head", choices=("attention", "dense", "ctc"), default="dense",
                    help="the head of the --trunk-from weights (reader_v1: dense, v2/v3: attention)")
    ap.add_argument("--head", choices=("attention", "dense", "ctc"), default="attention")
    ap.add_argument("--region-weight", type=float, default=0.2, help="weight of the region loss")
    ap.add_argument("--region-only", action="store_true",
                    help="train only the region layer on --init's frozen network: the text outputs stay "
                         "exactly as they were (a CTC head's loss is a sum over frames, so its region "
                         "head learns little beside it)")
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
                         "detector reports a tilted plate (reader_data.turned_cut)")
    ap.add_argument("--det-jitter", type=_count, default=0,
                    help="copies of every detection-scene plate cut by a box off the labelled one as the "
                         "detector's boxes are, with real image in the margins (reader_data.jittered_det_crops)")
    ap.add_argument("--row-crops", type=_count, default=0,
                    help="rendered two-row plates of every layout that has them, each cut into its top and "
                         "bottom row as the service cuts a two-row plate to read it a row at a time "
                         "(scripts/data/row_crops.py)")
    ap.add_argument("--row-seed", type=int, default=ROW_SEED, help="the seed the --row-crops plates are drawn from")
    ap.add_argument("--tilt-deg", type=float, default=scene_aug.ROBUST_TILT_DEG,
                    help="--tilted turns each copy by up to this many degrees either way")
    ap.add_argument("--repeat-set", action="append", default=[], metavar="SET=K",
                    help="K extra copies of one OCR set's crops, e.g. us_states=2 (repeatable)")
    ap.add_argument("--hard-from", type=Path, metavar="MODEL",
                    help="an int8 reader whose misreads among the real training crops (OCR crops and "
                         "--det-crops' scene plates) get --hard-repeat extra copies (hard_examples.py)")
    ap.add_argument("--hard-repeat", type=_count, default=2, help="--hard-from: extra copies of each misread crop")
    ap.add_argument("--holdout", type=int, default=0,
                    help="keep every N-th train crop and detection scene out (select_reader.py compares on them)")
    ap.add_argument("--holdout-offset", type=int, default=0,
                    help="hold out items i with i %% N == OFFSET (another offset: a disjoint hold-out)")
    ap.add_argument("--out", type=Path, default=tfcommon.MODELS / "reader_v3.tflite")
    ap.add_argument("--ckpt", type=Path, default=tfcommon.CACHE / "reader.weights.h5",
                    help="float weights saved after every epoch (give runs side by side their own)")
    args = ap.parse_args()
    extra = {}
    for spec in args.repeat_set:
        name, _, k = spec.partition("=")
        if name not in datasets.OCR_SETS + datasets.OCR_EXTRA or not k.isdigit():
            ap.error(f"--repeat-set {spec!r}: expected SET=K with SET one of "
                     f"{', '.join(datasets.OCR_SETS + datasets.OCR_EXTRA)}")
        extra[name] = int(k)
    t0 = time.time()
    tf = tfcommon.setup_tf(args.threads)
    import keras

    try:
        seeds = [int(v) for v in args.synthetic_seeds.split(",")]
    except ValueError:
        ap.error(f"--synthetic-seeds {args.synthetic_seeds!r}: expected integers separated by commas, e.g. 1,2")
    parts = [rd.synthetic(args.synthetic, workers=2, seed=seed) for seed in seeds]
    sx = np.concatenate([p[0] for p in parts])
    st, sr = [t for p in parts for t in p[1]], [r for p in parts for r in p[2]]
    all_synth_regions = set(sr)
    if args.synthetic_use:
        keep = np.random.default_rng(3).choice(len(sx), args.synthetic_use, replace=False)
        sx, st, sr = sx[keep], [st[i] for i in keep], [sr[i] for i in keep]
    try:
        split = datasets.reader_holdout(args.holdout, args.holdout_offset, args.teacher_conf)
    except ValueError as e:
        ap.error(f"--holdout-offset: {e}")
    except FileNotFoundError as e:
        ap.error(f"--teacher-conf: {e}")
    ocr_train, ocr_held, det_train, det_held = split.ocr_train, split.ocr_held, split.det_train, split.det_held
    rx, rt, rr, rsets = rd.real(ocr_train)
    regions = (json.loads(args.regions_from.read_text())["regions"] if args.regions_from
               else sorted(all_synth_regions | set(rr)))
    base_x, base_t, base_r = rx, rt, rr
    hard: dict[str, int] = {}
    if args.hard_from:
        keep = np.flatnonzero(hard_examples.misread(args.hard_from, base_x, base_t, "OCR train crops"))
        rx = np.concatenate([rx] + [base_x[keep]] * args.hard_repeat)
        rt, rr = rt + [base_t[i] for i in keep] * args.hard_repeat, rr + [base_r[i] for i in keep] * args.hard_repeat
        hard["ocr_crops"] = len(keep)
        print(f"hard examples: {len(keep)} of {len(base_x)} OCR train crops misread, x{args.hard_repeat} extra",
              flush=True)
    for name, k in extra.items():
        keep = [i for i, d in enumerate(rsets) if d == name]
        rx = np.concatenate([rx] + [base_x[keep]] * k)
        rt, rr = rt + [base_t[i] for i in keep] * k, rr + [base_r[i] for i in keep] * k
        print(f"{name}: {len(keep)} crops x{k} extra", flush=True)
    if args.lowres:
        lx = rd.lowres(ocr_train, args.lowres, workers=2)
        rx, rt, rr = np.concatenate([rx, lx]), rt + base_t * args.lowres, rr + base_r * args.lowres
        print(f"low-resolution copies: {len(lx)}", flush=True)
    if args.scene_crops or args.tilted:
        # scenes behind the pasted plates: none that any hold-out keeps out (the reader's, and the
        # detector's offset-0 one that bench_regions.py pastes held-out plates into)
        det_kept = {it.path for it in datasets.holdout(datasets.det_items("train"), datasets.HOLDOUT_EVERY)[0]}
        scenes = [it.path for it in det_train if it.dataset != "uc3m" and it.path in det_kept]
        tight = [it for it in ocr_train if it.dataset in rd.TIGHT_SETS]
        if not tight or not scenes:
            ap.error(f"--scene-crops/--tilted: {len(tight)} tight crops ({', '.join(rd.TIGHT_SETS)}) and "
                     f"{len(scenes)} non-uc3m train scenes outside every hold-out; both must be > 0 "
                     "(is ../shared/data complete?)")
    # scene crops and turned copies are distinct copies, added once per epoch (not --real-repeat times)
    qx, qt, qr = np.zeros((0, IN_H, IN_W, 3), np.uint8), [], []
    if args.scene_crops:
        qx = rd.scene_crops(tight, scenes, args.scene_crops, workers=2)
        qt, qr = [it.text for it in tight] * args.scene_crops, [it.region for it in tight] * args.scene_crops
        print(f"scene crops: {len(qx)} ({len(tight)} tight crops x{args.scene_crops}, {len(scenes)} scenes)",
              flush=True)
    if args.tilted:
        ux, ut, ur = rd.tilted_det_crops(det_train, args.tilted, args.tilt_deg)
        vx = rd.scene_crops(tight, scenes, args.tilted, workers=2, seed=TILTED_SEED, tilt_deg=args.tilt_deg)
        qx = np.concatenate([qx, ux, vx])
        qt += ut + [it.text for it in tight] * args.tilted
        qr += [r if r in regions else "" for r in ur] + [it.region for it in tight] * args.tilted
        print(f"turned copies (up to {args.tilt_deg:g} degrees): {len(ux)} detection-scene plates, {len(vx)} pasted "
              "tight crops", flush=True)
    if args.det_jitter:
        jx, jt, jr = rd.jittered_det_crops(det_train, args.det_jitter)
        qx, qt, qr = np.concatenate([qx, jx]), qt + jt, qr + [r if r in regions else "" for r in jr]
        print(f"jittered detection-scene cuts: {len(jx)} ({args.det_jitter} per plate)", flush=True)
    if args.row_crops:
        from scripts.data.row_crops import row_crops

        wx, wt, wr = row_crops(args.row_crops, args.row_seed, workers=2)
        qx, qt, qr = np.concatenate([qx, wx]), qt + wt, qr + [r if r in regions else "" for r in wr]
        print(f"row crops: {len(wx)} (top and bottom rows of {args.row_crops} two-row plates)", flush=True)
    if args.det_crops:
        cx, ct, cr = rd.det_crops(det_train)
        if args.teacher_regions:
            cr = rd.det_regions(det_train, regions, args.teacher_conf or datasets.TEACHER_CONF)
            print(f"detection-scene plates with a teacher's region: {sum(1 for v in cr if v)} of {len(cr)}", flush=True)
        rx, rt = np.concatenate([rx] + [cx] * args.det_crops), rt + ct * args.det_crops
        rr = rr + [r if r in regions or r == ANY_STATE else "" for r in cr] * args.det_crops
        print(f"detection-scene crops: {len(cx)} x{args.det_crops}", flush=True)
        if args.hard_from:
            keep = np.flatnonzero(hard_examples.misread(args.hard_from, cx, ct, "detection-scene plates"))
            rx = np.concatenate([rx] + [cx[keep]] * args.hard_repeat)
            rt = rt + [ct[i] for i in keep] * args.hard_repeat
            rr = rr + [cr[i] if cr[i] in regions or cr[i] == ANY_STATE else "" for i in keep] * args.hard_repeat
            hard["detection_scene_plates"] = len(keep)
            print(f"hard examples: {len(keep)} of {len(cx)} detection-scene plates misread, x{args.hard_repeat} extra",
                  flush=True)
    if args.holdout:
        print(f"held out: {len(ocr_held)} OCR crops, {len(det_held)} detection scenes; training keeps "
              f"{len(ocr_train)} crops and {len(det_train)} scenes with no held-out plate", flush=True)
    x = np.concatenate([sx] + [rx] * args.real_repeat + [qx])
    texts = st + rt * args.real_repeat + qt
    regs = sr + rr * args.real_repeat + qr
    y = np.stack([rm.encode(t) for t in texts])
    # Crops without a region label get -1 and are masked out of the region loss.
    r = np.array([regions.index(v) if v in regions else rm.ANY_OF_GROUP if v == ANY_STATE else -1 for v in regs],
                 np.int32)
    n_scene = len(x) - len(sx) - len(rx) * args.real_repeat
    print(f"train: {len(sx)} synthetic + {len(rx)} real x{args.real_repeat} + {n_scene} scene crops; "
          f"{len(regions)} regions", flush=True)
    ds = (
        tf.data.Dataset.from_tensor_slices((x, y, r))
        .shuffle(len(x), seed=0)
        .batch(args.batch)
        .map(lambda a, b, c: augment(tf, a, b, c))
        .prefetch(2)
    )
    model = rm.build(len(regions), args.head)
    if args.init:
        model.load_weights(args.init)
        print(f"initialised from {args.init}", flush=True)
    elif args.init_tflite:
        from scripts.train import tflite_weights

        fresh = tflite_weights.to_keras(model, tflite_weights.int8_constants(args.init_tflite))
        if set(fresh) - {"region"}:
            ap.error(f"--init-tflite {args.init_tflite}: no weights for layers {fresh} (another head?)")
        sample = x[np.random.default_rng(4).choice(len(x), min(len(x), 4000), replace=False)]
        n_bn = tflite_weights.reestimate_bn(model, sample)
        print(f"initialised from {args.init_tflite}" + (" (new region layer)" if fresh else "")
              + f"; {n_bn} batch norms given their input statistics", flush=True)
    elif args.trunk_from:
        v1 = rm.build(len(regions), args.trunk_head)
        v1.load_weights(args.trunk_from)
        print(f"trunk ({rm.copy_trunk(v1, model)} layers) from {args.trunk_from}", flush=True)
    if args.region_only:
        if args.average_from:
            ap.error("--average-from refreshes every batch norm: not with --region-only, whose network stays as it is")
        if not (args.init or args.init_tflite):
            ap.error("--region-only needs --init WEIGHTS or --init-tflite MODEL")
        for layer in model.layers:
            layer.trainable = layer.name == "region"
    steps = args.epochs * (len(x) // args.batch + 1)
    sched = args.lr if args.average_from else keras.optimizers.schedules.CosineDecay(args.lr, steps)
    averager = swa.callback(steps, args.average_from, args.average_every) if args.average_from else None
    model.compile(
        keras.optimizers.AdamW(sched, weight_decay=args.weight_decay),
        loss={"chars": rm.ctc_loss if args.head == "ctc" else rm.slot_loss,
              "region": rm.region_group_loss([i for i, v in enumerate(regions) if v.startswith("us-")])
              if args.teacher_regions else rm.region_loss},
        loss_weights={"chars": 0.0 if args.region_only else 1.0, "region": args.region_weight},
    )
    model.summary(print_fn=lambda s: print(s, flush=True) if "Total" in s else None)
    ckpt = args.ckpt
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    if args.monitor == "heldout" and not args.holdout:
        ap.error("--monitor heldout needs --holdout N")
    watch = datasets.ocr_items("dev") if args.monitor == "dev" else ocr_held if args.monitor == "heldout" else []
    dx, dt_, _, dd = rd.real(watch) if watch else (None, [], [], [])
    for ep in range(args.epochs):
        model.fit(ds, epochs=1, verbose=0, callbacks=[averager] if averager else [])
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

    def calib():
        rng = np.random.default_rng(0)
        for i in rng.choice(len(x), 300, replace=False):
            yield [x[i : i + 1].astype(np.float32)]

    tfcommon.export_int8(model, calib, args.out)
    counts = {d: sum(1 for v in ocr_train if v.dataset == d) for d in datasets.OCR_SETS + datasets.OCR_EXTRA}
    teacher_plates = {d: sum(len(rd.plates_of(it)) for it in det_train if it.dataset == d)
                      for d in sorted({it.dataset for it in det_train})}
    tfcommon.write_sidecar(
        args.out,
        {
            "kind": "reader",
            "head": args.head,
            "alphabet": ALPHABET,
            **({"blank_index": PAD, "text_rows": CTC_ROWS} if args.head == "ctc" else {"pad_index": PAD}),
            "max_len": MAX_LEN,
            "regions": regions,
            "preprocess": {
                "input": "RGB uint8, plate crop stretched to input size (bilinear)",
                "crop_margin_x": rd.MARGIN_X,
                "crop_margin_y": rd.MARGIN_Y,
            },
            "training_data": {
                "real_train_crops": counts,
                "synthetic_plates": len(sx),
                "synthetic_seeds": seeds,
                "real_repeat": args.real_repeat,
                "extra_repeats": extra,
                "lowres_copies": args.lowres,
                "scene_crop_copies": args.scene_crops,
                "detection_scene_crop_copies": args.det_crops,
                "detection_scene_jittered_copies": args.det_jitter,
                "tilted_copies": args.tilted,
                **({"hard_examples": {"misread_by": args.hard_from.name, "extra_copies": args.hard_repeat, **hard}}
                   if args.hard_from else {}),
                "two_row_plates_cut_into_rows": args.row_crops,
                "scene_plates_read": teacher_plates,
                "teacher_min_conf": args.teacher_conf,
                "teacher_regions": args.teacher_regions,
                "init": str(args.init_tflite or args.init or args.trunk_from or ""),
                "held_out_every": args.holdout,
                "held_out_offset": args.holdout_offset,
                "epochs": args.epochs,
                "region_weight": args.region_weight,
                "region_only": args.region_only,
                "averaged_from": args.average_from,
                "wall_time_s": round(time.time() - t0),
            },
        },
    )
    print(f"wrote {args.out} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
