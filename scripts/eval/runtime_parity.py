"""Check that the shipped models give the same results under ai-edge-litert and tflite-runtime.

Run it with an interpreter that has both runtimes (tflite-runtime needs numpy<2 and
Python <= 3.11; `make test` builds one in .venv-parity):

    python -m scripts.eval.runtime_parity [--samples 20] [--models DIR]
    python -m scripts.eval.runtime_parity --data tests/data --scene-set romanian --plate-set se_crops

Inputs are real dev images and crops from ../shared/data (``EDGE_ALPR_DATA``, or ``--data``: any
folder in its layout, such as the tests' fixture set).  "Same" means identical decoded
results: the same plate boxes (IoU >= 0.9) and texts, the same region and vehicle type.  The raw
int8 outputs are reported too: they can differ by a few quantisation steps because the runtimes
use different int8 kernels (XNNPACK in ai-edge-litert, the built-in kernels in tflite-runtime
2.14) that round requantisation differently.  Exits non-zero on any decoded difference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from edge_alpr.engine.detector import Detector
from edge_alpr.engine.preprocess import letterbox
from edge_alpr.engine.reader import Reader
from edge_alpr.engine.runtime import BUNDLED, model_path
from edge_alpr.engine.vehicle import VehicleClassifier
from edge_alpr.imaging import decode
from edge_alpr.types import Box
from scripts import SHARED

# the same default as scripts/data/datasets.py
DATA = Path(os.environ.get("EDGE_ALPR_DATA", SHARED / "data"))


def images(labels: Path, n: int) -> list[np.ndarray]:
    """``n`` dev images, evenly spaced, of a set (detection scenes, OCR crops or vehicle crops)."""
    rows = [json.loads(x) for x in labels.read_text().splitlines() if x.strip()]
    dev = [r for r in rows if r["split"] == "dev"]
    if len(dev) < n:
        raise SystemExit(f"{labels}: {len(dev)} dev images, {n} asked for")
    rows = dev[:: max(1, len(dev) // n)][:n]
    return [decode((labels.parent / r["image"]).read_bytes(), 10**8) for r in rows]


def steps(a: np.ndarray, b: np.ndarray, scale: float) -> float:
    """Largest difference of two dequantised outputs, in quantisation steps."""
    return float(np.abs(a - b).max() / scale)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--xnnpack", action="store_true", help="use XNNPACK (ai-edge-litert's default) in both")
    ap.add_argument("--models", help="model folder (default: the bundled models), e.g. a candidate's")
    ap.add_argument("--data", type=Path, default=DATA, help="data folder (default: %(default)s)")
    ap.add_argument("--scene-set", default="uc3m", help="detection set of the scenes (default: %(default)s)")
    ap.add_argument("--plate-set", default="br_crops", help="OCR set of the plate crops (default: %(default)s)")
    args = ap.parse_args()
    print(f"kernels: {'XNNPACK' if args.xnnpack else 'built-in (no default delegates)'}")
    runtimes = ("ai_edge_litert", "tflite_runtime")
    det = [Detector(model_path(args.models, "detector"), 1, r, args.xnnpack) for r in runtimes]
    base = Path(args.models) if args.models else BUNDLED
    # the slot reader, and the CTC reader it is paired with and the row reader where the folder has them
    kinds = ["reader"] + [k for k in ("reader_ctc", "reader_rows") if any(base.glob(f"{k}_v*.tflite"))]
    readers = {k: [Reader(model_path(base, k), 1, r, args.xnnpack) for r in runtimes] for k in kinds}
    veh = [VehicleClassifier(model_path(args.models, "vehicle"), 1, r, args.xnnpack) for r in runtimes]
    failures = 0

    def report(name: str, same: int, total: int, raw: float) -> None:
        nonlocal failures
        failures += same != total
        print(
            f"{name:10s} {runtimes[0]} vs {runtimes[1]}: {same}/{total} identical results, "
            f"max raw difference {raw:.0f} quantisation steps: {'OK' if same == total else 'DIFFERENT'}"
        )

    same, raw = 0, 0.0
    batch = images(args.data / "detection" / args.scene_set / "labels.jsonl", args.samples)
    for img in batch:
        canvas, _ = letterbox(img, det[0].size, det[0].fill)
        raw = max(
            raw, float(np.abs(det[0].maps(canvas)[0] - det[1].maps(canvas)[0]).max() / det[0].model.outputs[0].scale)
        )
        a, b = det[0].detect(img), det[1].detect(img)
        same += len(a) == len(b) and all(x.box.iou(y.box) >= 0.9 for x, y in zip(a, b))
    report("detector", same, len(batch), raw)
    batch = images(args.data / "ocr" / args.plate_set / "labels.jsonl", args.samples)
    for kind, rea in readers.items():
        same, raw = 0, 0.0
        for img in batch:
            crop = rea[0].crop(img, Box(0, 0, img.shape[1], img.shape[0]))
            a, b = rea[0].read(crop), rea[1].read(crop)
            raw = max(
                raw,
                max(
                    float(np.abs(x - y).max() / s.scale)
                    for x, y, s in zip(rea[0].model.run(crop), rea[1].model.run(crop), rea[0].model.outputs)
                ),
            )
            same += (a.plate, a.region) == (b.plate, b.region)
        report(kind, same, len(batch), raw)
    same, raw = 0, 0.0
    batch = images(args.data / "vehicles" / "labels.jsonl", args.samples)
    for img in batch:
        box = Box(0, 0, img.shape[1], img.shape[0])
        a, b = veh[0].classify(img, box), veh[1].classify(img, box)
        same += a.type == b.type
        x = veh[0].crop_input(img)
        raw = max(
            raw, float(np.abs(veh[0].model.run(x)[0] - veh[1].model.run(x)[0]).max() / veh[0].model.outputs[0].scale)
        )
    report("vehicle", same, len(batch), raw)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
