"""Train the vehicle-type classifier on ``../shared/data/vehicles`` plus real-scene crops (train splits).

The six source classes map onto the API's vehicle types in the sidecar (``api_types``); the
service reports ``Unknown`` below a score threshold.

The vehicles set alone is not enough: its crops are whole vehicles seen from elevated roadside
cameras, while the API classifies the box around a plate (close front or rear views), where a
model trained on those crops called almost every car a truck or a van. So the labelled plates
of ``scripts/eval/vehicle_scenes.py`` (train split minus its held-out fifth) are added, cut exactly
as the service cuts them and repeated ``--scenes`` times. After the int8 export the sidecar
gets the model's own numbers on the vehicles dev crops and on the held-out and dev scenes.

    python -m scripts.train.train_vehicle --epochs 25
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edge_alpr.engine.preprocess import resize
from scripts.data import datasets
from scripts.eval import vehicle_scenes
from scripts.train import tfcommon

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


def load_scenes(split: str, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The classifier inputs the service makes for the labelled plates of ``split``."""
    items = vehicle_scenes.scene_items(split)
    x = [vehicle_scenes.scene_crop(datasets.load_rgb(it.path), it.box, SIZE, SIZE) for it in items]
    return np.stack(x), np.array([labels.index(it.label) for it in items], np.int32)


def score(path: Path) -> dict:
    """The exported int8 model's numbers: vehicles dev crops, held-out and dev scenes."""
    from edge_alpr.engine.vehicle import VehicleClassifier

    clf = VehicleClassifier(path)
    return {
        "dev_metrics": {
            "split": "dev",
            "sets": {
                "vehicles": vehicle_scenes.measure_crops(clf, "dev"),
                "vehicle_scenes": vehicle_scenes.measure(clf, vehicle_scenes.scene_items("dev")),
            },
        },
        "held_out_metrics": {
            "rule": f"every {vehicle_scenes.HOLD_EVERY}th labelled train scene, never trained on; chooses models",
            "vehicle_scenes": vehicle_scenes.measure(clf, vehicle_scenes.scene_items("held_out")),
        },
    }


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
    ap.add_argument("--scenes", type=int, default=4, help="repeats of each real-scene train crop (0: none)")
    ap.add_argument("--out", type=tfcommon.model_out, default=tfcommon.MODELS / "vehicle_v2.tflite")
    args = ap.parse_args()
    t0 = time.time()
    tf = tfcommon.setup_tf(args.threads)
    import keras

    labels = sorted(API_TYPES)
    x, y = load("train", labels)
    n_crops = len(x)
    dx, dy = load("dev", labels)
    hx, hy = load_scenes("held_out", labels)
    if args.scenes:
        sx, sy = load_scenes("train", labels)
        x, y = np.concatenate([x, *[sx] * args.scenes]), np.concatenate([y, *[sy] * args.scenes])

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
        held = float(np.mean(model.predict(hx, verbose=0).argmax(-1) == hy))
        print(
            f"epoch {ep + 1}/{args.epochs} {time.time() - t0:.0f}s float accuracy: vehicles dev {acc:.3f}, "
            f"held-out scenes {held:.3f}",
            flush=True,
        )

    def calib():
        for i in np.random.default_rng(0).choice(len(x), 300, replace=False):
            yield [x[i : i + 1].astype(np.float32)]

    tfcommon.export_int8(model, calib, args.out)
    side = {
        "kind": "vehicle",
        "labels": labels,
        "api_types": API_TYPES,
        "unknown_below": 0.4,
        "preprocess": {"input": "RGB uint8: the vehicle box around a plate shrunk to input size (box-averaged "
                                "by whole factors, then bilinear: preprocess.crop_shrink); ready-made "
                                "vehicle crops stretched (bilinear)"},
        "training_data": {
            "vehicles_train_crops": n_crops,
            "scene_train_crops": (len(x) - n_crops) // max(1, args.scenes),
            "scene_repeats": args.scenes,
            "scene_labels": str(vehicle_scenes.LABELS.relative_to(tfcommon.ROOT)),
            "epochs": args.epochs,
            "wall_time_s": round(time.time() - t0),
        },
    }
    tfcommon.write_sidecar(args.out, side)  # the classifier loads only with a matching sidecar
    tfcommon.write_sidecar(args.out, {**side, **score(args.out)})
    print(f"wrote {args.out} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
