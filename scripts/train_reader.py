"""Train the plate reader: text + region, int8 TFLite export with a sidecar.

Synthetic plates from ``synth.py`` give the reader the regions and fonts the real crops lack.

Three text heads:

* ``ctc`` (v4 candidate): the trunk keeps stride 4 across the plate; one learned (height x 1)
  convolution per plate row turns the feature map into a sequence of columns, top row first,
  and every column is classified (characters + blank).  Decoding (``edge_alpr.engine.ctc``)
  merges repeats and drops blanks, so the characters' order comes from the image: a slot head
  can attend to one glyph twice (``444MWK`` read as ``444WWW``), a CTC head cannot.  Two-line
  plates read top row first because the top row's columns come first.

* ``attention`` (v2, default): each of the 10 slots attends over the 5x16 feature map (learned
  position embedding) and one classifier, shared by all slots, names the character there.  A
  character learned in one slot is known in every slot, and the head has a few thousand
  weights instead of a million, so it cannot memorise the real crops (v1 read 99 % of the
  train crops and 9 % of the US dev crops).
* ``dense`` (v1): flatten the feature map into one dense layer per slot.

    python scripts/train_reader.py --epochs 30 --synthetic 40000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datasets  # noqa: E402
import reader_data as rd  # noqa: E402
import tfcommon  # noqa: E402

from edge_alpr.engine import ctc  # noqa: E402

IN_H, IN_W, MAX_LEN = rd.IN_H, rd.IN_W, rd.MAX_LEN
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ?"
PAD = len(ALPHABET)  # the slot heads' "no character" class, and the CTC head's blank
CTC_ROWS = 2  # text rows a CTC reader decodes (top row's columns first)


def encode(text: str) -> np.ndarray:
    ids = [ALPHABET.index(c) for c in text[:MAX_LEN]]
    return np.array(ids + [PAD] * (MAX_LEN - len(ids)), np.int32)


class LearnedEmbedding:
    """Factory for a Keras layer adding a trainable tensor of ``shape`` (a position embedding)."""

    @staticmethod
    def layer(shape: tuple[int, ...], name: str) -> object:
        import keras

        class _Add(keras.layers.Layer):
            def build(self, input_shape: object) -> None:
                self.table = self.add_weight(shape=shape, initializer="zeros", name="table")

            def call(self, x: object) -> object:
                return x + self.table

        return _Add(name=name)


def build(tf: object, n_regions: int, head: str = "attention") -> object:
    import keras
    from keras import layers as L

    def block(x: object, ch: int) -> object:
        x = L.Conv2D(ch, 3, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        return L.ReLU()(x)

    inp = keras.Input((IN_H, IN_W, 3), name="crop")
    x = L.Rescaling(1 / 255.0)(inp)
    x = L.MaxPooling2D()(block(x, 32))
    x = L.MaxPooling2D()(block(x, 64))
    # the CTC head keeps stride 4 across the plate: 32 columns per row for up to 10 characters
    x = L.MaxPooling2D((2, 1) if head == "ctc" else 2)(block(block(x, 96), 96))
    x = block(block(x, 128), 128)
    if head == "ctc":
        gh, gw = IN_H // 8, IN_W // 4
        rows = [L.Reshape((gw, 128))(L.Conv2D(128, (gh, 1), activation="relu", name=f"row{i}")(x))
                for i in range(CTC_ROWS)]
        seq = L.Conv1D(128, 3, padding="same", activation="relu")(L.Concatenate(axis=1)(rows))
        chars = L.Softmax(name="chars")(L.Dense(PAD + 1)(L.Dropout(0.2)(seq)))
    elif head == "dense":
        c = L.Conv2D(32, 1, activation="relu")(x)
        c = L.Dropout(0.2)(L.Flatten()(c))
        c = L.Dense(MAX_LEN * (PAD + 1))(c)
        chars = L.Softmax(name="chars")(L.Reshape((MAX_LEN, PAD + 1))(c))
    else:
        gh, gw, ch = IN_H // 8, IN_W // 8, 128
        f = LearnedEmbedding.layer((1, gh, gw, ch), "position")(x)
        a = L.Conv2D(64, 1, activation="relu")(f)
        a = L.Conv2D(MAX_LEN, 1)(a)  # one attention map per slot
        a = L.Softmax(axis=-1)(L.Permute((2, 1))(L.Reshape((gh * gw, MAX_LEN))(a)))
        v = L.Reshape((gh * gw, ch))(L.Conv2D(ch, 1, activation="relu")(f))
        slots = L.Dot(axes=(2, 1))([a, v])  # (MAX_LEN, ch): what each slot looks at
        slots = LearnedEmbedding.layer((1, MAX_LEN, ch), "slot")(slots)
        h = L.Dropout(0.2)(L.Dense(128, activation="relu")(slots))
        chars = L.Softmax(name="chars")(L.Dense(PAD + 1)(h))
    r = L.GlobalAveragePooling2D()(x)
    region = L.Dense(n_regions, activation="softmax", name="region")(r)
    return keras.Model(inp, [chars, region])


def copy_trunk(src: object, dst: object) -> int:
    """Copy the convolution trunk (3x3 conv + batch-norm layers, in order) between heads.

    Heads have no batch norm and no 3x3 convolution, so this is the trunk of every head."""
    from keras import layers as L

    def trunk(m: object) -> list:
        layers = [lyr for lyr in m.layers if isinstance(lyr, (L.Conv2D, L.BatchNormalization))]
        return [lyr for lyr in layers if not (isinstance(lyr, L.Conv2D) and lyr.kernel_size != (3, 3))]

    pairs = list(zip(trunk(src), trunk(dst), strict=True))
    for a, b in pairs:
        b.set_weights(a.get_weights())
    return len(pairs)


def ctc_loss(y, p):
    """CTC loss of the softmax output (its log is a valid logit input) against padded labels."""
    from keras import ops

    y = ops.cast(y, "int32")
    target_len = ops.sum(ops.cast(ops.not_equal(y, PAD), "int32"), axis=-1)
    frames = ops.ones_like(target_len) * ops.shape(p)[1]
    return ops.ctc_loss(y, ops.log(ops.maximum(p, 1e-7)), target_len, frames, mask_index=PAD)


def decode(probs: np.ndarray, head: str) -> str:
    """Best-path text of one crop's character output (the float monitor, not the service)."""
    if head == "ctc":
        return "".join(ALPHABET[i] for i in ctc.greedy(probs, PAD))
    return "".join(ALPHABET[i] for i in probs.argmax(-1) if i != PAD)


def region_loss(y, p):
    """Cross-entropy over crops that have a region label (label -1 = unknown)."""
    import tensorflow as tf

    y = tf.reshape(tf.cast(y, tf.int32), [-1])
    mask = tf.cast(y >= 0, tf.float32)
    ce = tf.keras.losses.sparse_categorical_crossentropy(tf.maximum(y, 0), p)
    return tf.reduce_sum(ce * mask) / tf.maximum(1.0, tf.reduce_sum(mask))


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
    ap.add_argument("--synthetic", type=int, default=40000, help="synthetic plates to render")
    ap.add_argument("--real-repeat", type=int, default=3, help="copies of the real crops per epoch")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--synthetic-use", type=int, default=0, help="use a random subset of the synthetic plates")
    ap.add_argument("--det-crops", type=int, default=0, help="copies of plate crops cut from detection scenes")
    ap.add_argument("--init", type=Path, help="start from these weights (fine-tuning stage)")
    ap.add_argument("--trunk-from", type=Path, help="copy the conv trunk from these weights (of --trunk-head)")
    ap.add_argument("--trunk-head", choices=("attention", "dense", "ctc"), default="dense",
                    help="the head of the --trunk-from weights (reader_v1: dense, v2/v3: attention)")
    ap.add_argument("--head", choices=("attention", "dense", "ctc"), default="attention")
    ap.add_argument("--monitor", choices=("dev", "heldout", "none"), default="dev",
                    help="crops whose float exact-read is printed each epoch (heldout needs --holdout; "
                         "none keeps dev unseen until evaluate.py)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--lowres", type=int, default=0,
                    help="low-resolution scene-like copies of each real crop (reader_data.scene_copy)")
    ap.add_argument("--repeat-set", action="append", default=[], metavar="SET=K",
                    help="K extra copies of one OCR set's crops, e.g. us_states=2 (repeatable)")
    ap.add_argument("--holdout", type=int, default=0,
                    help="keep every N-th train crop and detection scene out (select_reader.py compares on them)")
    ap.add_argument("--out", type=Path, default=tfcommon.MODELS / "reader_v3.tflite")
    ap.add_argument("--ckpt", type=Path, default=tfcommon.CACHE / "reader.weights.h5",
                    help="float weights saved after every epoch (give runs side by side their own)")
    args = ap.parse_args()
    extra = {}
    for spec in args.repeat_set:
        name, _, k = spec.partition("=")
        if name not in datasets.OCR_SETS or not k.isdigit():
            ap.error(f"--repeat-set {spec!r}: expected SET=K with SET one of {', '.join(datasets.OCR_SETS)}")
        extra[name] = int(k)
    t0 = time.time()
    tf = tfcommon.setup_tf(args.threads)
    import keras

    sx, st, sr = rd.synthetic(args.synthetic, workers=2)
    all_synth_regions = set(sr)
    if args.synthetic_use:
        keep = np.random.default_rng(3).choice(len(sx), args.synthetic_use, replace=False)
        sx, st, sr = sx[keep], [st[i] for i in keep], [sr[i] for i in keep]
    split = datasets.reader_holdout(args.holdout)
    ocr_train, ocr_held, det_train, det_held = split.ocr_train, split.ocr_held, split.det_train, split.det_held
    rx, rt, rr, rsets = rd.real(ocr_train)
    regions = sorted(all_synth_regions | set(rr))
    base_x, base_t, base_r = rx, rt, rr
    for name, k in extra.items():
        keep = [i for i, d in enumerate(rsets) if d == name]
        rx = np.concatenate([rx] + [base_x[keep]] * k)
        rt, rr = rt + [base_t[i] for i in keep] * k, rr + [base_r[i] for i in keep] * k
        print(f"{name}: {len(keep)} crops x{k} extra", flush=True)
    if args.lowres:
        lx = rd.lowres(ocr_train, args.lowres, workers=2)
        rx, rt, rr = np.concatenate([rx, lx]), rt + base_t * args.lowres, rr + base_r * args.lowres
        print(f"low-resolution copies: {len(lx)}", flush=True)
    if args.det_crops:
        cx, ct, cr = rd.det_crops(det_train)
        rx, rt = np.concatenate([rx] + [cx] * args.det_crops), rt + ct * args.det_crops
        rr = rr + [r if r in regions else "" for r in cr] * args.det_crops
        print(f"detection-scene crops: {len(cx)} x{args.det_crops}", flush=True)
    if args.holdout:
        print(f"held out: {len(ocr_held)} OCR crops, {len(det_held)} detection scenes; training keeps "
              f"{len(ocr_train)} crops and {len(det_train)} scenes with no held-out plate", flush=True)
    x = np.concatenate([sx] + [rx] * args.real_repeat)
    texts = st + rt * args.real_repeat
    regs = sr + rr * args.real_repeat
    y = np.stack([encode(t) for t in texts])
    # Crops without a region label get -1 and are masked out of the region loss.
    r = np.array([regions.index(v) if v in regions else -1 for v in regs], np.int32)
    print(f"train: {len(sx)} synthetic + {len(rx)} real x{args.real_repeat}; {len(regions)} regions", flush=True)
    ds = (
        tf.data.Dataset.from_tensor_slices((x, y, r))
        .shuffle(len(x), seed=0)
        .batch(args.batch)
        .map(lambda a, b, c: augment(tf, a, b, c))
        .prefetch(2)
    )
    model = build(tf, len(regions), args.head)
    if args.init:
        model.load_weights(args.init)
        print(f"initialised from {args.init}", flush=True)
    elif args.trunk_from:
        v1 = build(tf, len(regions), args.trunk_head)
        v1.load_weights(args.trunk_from)
        print(f"trunk ({copy_trunk(v1, model)} layers) from {args.trunk_from}", flush=True)
    steps = args.epochs * (len(x) // args.batch + 1)
    sched = keras.optimizers.schedules.CosineDecay(args.lr, steps)
    model.compile(
        keras.optimizers.AdamW(sched, weight_decay=args.weight_decay),
        loss={"chars": ctc_loss if args.head == "ctc" else "sparse_categorical_crossentropy",
              "region": region_loss},
        loss_weights={"chars": 1.0, "region": 0.2},
    )
    model.summary(print_fn=lambda s: print(s, flush=True) if "Total" in s else None)
    ckpt = args.ckpt
    if args.monitor == "heldout" and not args.holdout:
        ap.error("--monitor heldout needs --holdout N")
    watch = {"dev": datasets.ocr_items("dev"), "heldout": ocr_held, "none": []}[args.monitor]
    dx, dt_, _, dd = rd.real(watch) if watch else (None, [], [], [])
    for ep in range(args.epochs):
        model.fit(ds, epochs=1, verbose=0)
        model.save_weights(ckpt)
        if dx is None:
            print(f"epoch {ep + 1}/{args.epochs} {time.time() - t0:.0f}s", flush=True)
            continue
        pred = model.predict(dx, verbose=0, batch_size=256)[0]
        ok = [decode(p, args.head) == t for p, t in zip(pred, dt_)]
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
    counts = {d: sum(1 for v in ocr_train if v.dataset == d) for d in datasets.OCR_SETS}
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
                "real_repeat": args.real_repeat,
                "extra_repeats": extra,
                "lowres_copies": args.lowres,
                "detection_scene_crop_copies": args.det_crops,
                "held_out_every": args.holdout,
                "epochs": args.epochs,
                "wall_time_s": round(time.time() - t0),
            },
        },
    )
    print(f"wrote {args.out} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
