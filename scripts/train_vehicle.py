"""Train the vehicle-type classifier on ``../shared/data/vehicles`` (train split).

The six source classes map onto the API's vehicle types in the sidecar (``api_types``); the
service reports ``Unknown`` below a score threshold.

    python scripts/train_vehicle.py --epochs 25
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
import tfcommon  # noqa: E402

from edge_alpr.engine.preprocess import resize  # noqa: E402

SIZE = 64
API_TYPES = {
    "bike": "Motorcycle",
    "car": "Car",
    "juggernaut": "Truck",
    "minibus": "Van",
    "pickup": "Truck",
    "truck": "Truck",
}


def load(split: str, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    items = datasets.vehicle_items(split)
    x = np.stack([resize(datasets.load_rgb(p), SIZE, SIZE) for p, _ in items])
    return x, np.array([labels.index(c) for _, c in items], np.int32)


def build(n: int) -> object:
    import keras
    from keras import layers as L

    inp = keras.Input((SIZE, SIZE, 3), name="vehicle")
    x = L.Rescaling(1 / 255.0)(inp)
    for ch in (24, 48, 64, 96):
        x = L.Conv2D(ch, 3, padding="same", use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization(momentum=0.9)(x))
        x = L.MaxPooling2D()(x)
    x = L.Dropout(0.3)(L.GlobalAveragePooling2D()(x))
    return keras.Model(inp, L.Dense(n, activation="softmax", name="type")(x))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=tfcommon.MODELS / "vehicle_v1.tflite")
    args = ap.parse_args()
    t0 = time.time()
    tf = tfcommon.setup_tf(args.threads)
    import keras

    labels = sorted(API_TYPES)
    x, y = load("train", labels)
    dx, dy = load("dev", labels)

    def aug(a, b):
        a = tf.image.random_flip_left_right(tf.cast(a, tf.float32))
        a = tf.image.resize(
            tf.image.random_crop(tf.image.resize(a, (72, 72)), (tf.shape(a)[0], SIZE, SIZE, 3)), (SIZE, SIZE)
        )
        a = a * tf.random.uniform([tf.shape(a)[0], 1, 1, 1], 0.7, 1.3) + tf.random.uniform(
            [tf.shape(a)[0], 1, 1, 1], -25, 25
        )
        return tf.clip_by_value(a, 0, 255), b

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(64).map(aug).prefetch(2)
    model = build(len(labels))
    steps = args.epochs * (len(x) // 64 + 1)
    model.compile(
        keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    for ep in range(args.epochs):
        model.fit(ds, epochs=1, verbose=0)
        acc = float(np.mean(model.predict(dx, verbose=0).argmax(-1) == dy))
        print(f"epoch {ep + 1}/{args.epochs} {time.time() - t0:.0f}s float dev accuracy {acc:.3f}", flush=True)

    def calib():
        for i in np.random.default_rng(0).choice(len(x), 300, replace=False):
            yield [x[i : i + 1].astype(np.float32)]

    tfcommon.export_int8(model, calib, args.out)
    tfcommon.write_sidecar(
        args.out,
        {
            "kind": "vehicle",
            "labels": labels,
            "api_types": API_TYPES,
            "unknown_below": 0.4,
            "preprocess": {"input": "RGB uint8 vehicle crop stretched to input size (bilinear)"},
            "training_data": {
                "vehicles_train_crops": int(len(x)),
                "epochs": args.epochs,
                "wall_time_s": round(time.time() - t0),
            },
        },
    )
    print(f"wrote {args.out} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
