"""Vehicle type on real scenes: the vehicle box the service cuts around each plate, labelled by eye.

The vehicles set (``../shared/data/vehicles``) holds tiny crops from elevated roadside cameras;
through the API the classifier instead sees the region around a detected plate (close front or
rear views). Only measuring on that region shows what the API returns, so
``scripts/data/vehicle_scene_labels.jsonl`` labels the plate regions of the detection sets:

    {"set": "andrewmvd", "image": "images/Cars187.jpg", "box": [x1, y1, x2, y2],
     "class": "car", "split": "train"}

``class`` is one of the classifier's six classes or ``skip`` (no vehicle in the region, or not
recognisable); ``split`` is the split of the image in its detection set. The labels were made
by eye for this project; the images stay in ``../shared/data`` under their own licences. Every fifth
train label (``held_out``) is kept out of training to choose between models; the dev labels
are only reported.

    python -m scripts.eval.vehicle_scenes                 # shipped classifier, dev labels
    python -m scripts.eval.vehicle_scenes --split held_out --model models/quantized/vehicle_v2.tflite
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_alpr.engine.preprocess import crop_shrink
from edge_alpr.engine.vehicle import VehicleBoxFactors, VehicleClassifier
from edge_alpr.types import Box
from scripts import REPO
from scripts.data import datasets

LABELS = REPO / "scripts" / "data" / "vehicle_scene_labels.jsonl"
# The splits a label can be drawn from: "train" minus the held-out fifth, "held_out", "dev".
SPLITS = ("train", "held_out", "dev")
HOLD_EVERY = 5


@dataclass(frozen=True)
class SceneItem:
    """One labelled plate: the scene image, the plate box and the vehicle class around it."""

    dataset: str
    path: Path
    box: Box
    label: str


def scene_items(split: str, labels: Path = LABELS) -> list[SceneItem]:
    """Labelled plates of ``split`` (``skip`` rows left out).

    ``held_out`` is every ``HOLD_EVERY``-th labelled train row (counting non-skip train rows in
    file order), so the rule does not depend on which model is being scored.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    out, n_train = [], 0
    for line in labels.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if r["class"] == "skip":
            continue
        if r["split"] == "train":
            part = "held_out" if n_train % HOLD_EVERY == HOLD_EVERY - 1 else "train"
            n_train += 1
        else:
            part = r["split"]
        if part == split:
            path = datasets.DATA / "detection" / r["set"] / r["image"]
            out.append(SceneItem(r["set"], path, Box(*r["box"]), r["class"]))
    return out


def scene_crop(
    image: np.ndarray, plate: Box, width: int, height: int, factors: VehicleBoxFactors | None = None
) -> np.ndarray:
    """The classifier input the service makes for ``plate``: its vehicle box, shrunk to the input.

    The same two calls as ``Recognizer.recognize`` + ``VehicleClassifier.classify``, so training
    and scoring see exactly the pixels the API classifies.
    """
    h, w = image.shape[:2]
    box = (factors or VehicleBoxFactors()).around(plate, w, h)
    return crop_shrink(image, box, width, height)


def measure(clf: VehicleClassifier, items: list[SceneItem]) -> dict:
    """Per-class and API-type accuracy of ``clf`` on the scene crops, with the confusion counts."""
    per: dict[str, list[bool]] = defaultdict(list)
    api_ok, confusion = [], Counter()
    for it in items:
        image = datasets.load_rgb(it.path)
        read = clf.classify(image, VehicleBoxFactors().around(it.box, image.shape[1], image.shape[0]))
        p = clf.model.run(scene_crop(image, it.box, clf.in_w, clf.in_h))[0][0]
        label = clf.labels[int(np.argmax(p))]
        per[it.label].append(label == it.label)
        api_ok.append(read.type == clf.api_types[it.label])
        confusion[f"{it.label}->{label}"] += 1
    out = {"n": len(items), **{f"accuracy_{k}": round(float(np.mean(v)), 4) for k, v in sorted(per.items())}}
    out["accuracy_all"] = round(float(np.mean([x for v in per.values() for x in v])), 4) if items else 0.0
    out["api_type_accuracy"] = round(float(np.mean(api_ok)), 4) if items else 0.0
    out["confusion"] = dict(sorted(confusion.items()))
    return out


def measure_crops(clf: VehicleClassifier, split: str) -> dict:
    """Per-class and API-type accuracy on the vehicles set's whole crops (as ``evaluate.py`` scores them)."""
    per: dict[str, list[bool]] = defaultdict(list)
    mapped = []
    for path, cls in datasets.vehicle_items(split):
        p = clf.model.run(clf.crop_input(datasets.load_rgb(path)))[0][0]
        label = clf.labels[int(np.argmax(p))]
        per[cls].append(label == cls)
        mapped.append(clf.api_types[label] == clf.api_types[cls])
    out = {f"accuracy_{k}": round(float(np.mean(v)), 4) for k, v in sorted(per.items())}
    out["accuracy_all"] = round(float(np.mean([x for v in per.values() for x in v])), 4)
    out["api_type_accuracy"] = round(float(np.mean(mapped)), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=SPLITS, default="dev")
    ap.add_argument("--model", type=Path, default=None, help="vehicle .tflite (default: the one the service loads)")
    args = ap.parse_args()
    from edge_alpr.engine.runtime import model_path

    clf = VehicleClassifier(args.model or model_path(None, "vehicle"))
    items = scene_items(args.split)
    print(json.dumps({"model": clf.model.name, "split": args.split, **measure(clf, items)}, indent=1))


if __name__ == "__main__":
    main()
