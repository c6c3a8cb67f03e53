"""Export a band detector: float weights trained at a 320-wide band canvas, as int8, beside the square one.

Why: a 16:9 frame letterboxed into the square 320 x 320 canvas fills 320 x 180 of it; the rest is
padding the detector runs its whole network over, for the whole-image pass and for every 16:9
tile.  A model with a 320 x 192 input does the same work on a third less canvas.  The square
model's own weights reshaped to the band see the canvas edge where they saw fill and score
plates differently, so the band model is trained there: ``train_detector_stream.py --canvas
192x320`` cuts the middle band of the square samples at the square's scale.  The runtime runs it
for every input that fits the band at the square's scale and the square model for the rest, so
the band model must share the square one's stride, box unit, fill and threshold, and its sidecar
names the square model it was trained beside (``band_for``, file and sha256), which the runtime
checks.

    python -m scripts.train.export_band_detector --weights /work/band/detector_band.weights.h5 \\
        --square models/quantized/detector_v4.tflite --out-dir /tmp/band_models

writes ``detector_band_v<N>.tflite`` (N: the square model's version) and its sidecar in
``--out-dir`` beside copies of the other bundled models (a model folder the service and the
evaluation scripts can load with ``models.directory``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from scripts.data import datasets
from scripts.train import tfcommon
from scripts.train import train_detector as td
from scripts.train import train_detector_stream as ts

KEEP = ("kind", "labels", "stride", "distance_unit_px", "threshold", "nms_iou", "preprocess")


def export(weights: Path, height: int, width: float, out: Path, samples: int = 200) -> None:
    """``weights`` as an int8 model with a ``height`` x 320 input, calibrated on the middle band of
    square train samples (as the trainer cuts them)."""
    tfcommon.setup_tf(2)
    model = td.build(width, (height, td.SIZE))
    model.load_weights(weights)
    items = datasets.det_items("train", datasets.DET_SETS)
    rng = np.random.default_rng(7)
    top = (td.SIZE - height) // 2
    xs = [td.sample(datasets.load_rgb(items[i].path), items[i].boxes, rng, 0.35, td.SIZE)[0][top : top + height]
          for i in rng.choice(len(items), samples, replace=False)]
    tfcommon.export_int8(model, lambda: ([x[None].astype(np.float32)] for x in xs), out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, required=True, help="float weights from train_detector_stream.py")
    ap.add_argument("--square", type=Path, required=True, help="the square detector it runs beside")
    ap.add_argument("--height", type=int, default=192, help="band height the weights were trained at")
    ap.add_argument("--width", type=float, default=3.0, help="the network's width multiplier")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args()
    folder = tfcommon.copy_bundled(args.out_dir, tfcommon.bundled_kinds())
    version = int(args.square.stem.rsplit("_v", 1)[1])
    out = folder / f"detector_band_v{version}.tflite"
    export(args.weights, args.height, args.width, out)
    square = json.loads(args.square.with_suffix(".json").read_text())
    record = ts.record_path(args.weights)
    stages = json.loads(record.read_text())["stages"] if record.exists() else []
    tfcommon.write_sidecar(out, {
        **{k: square[k] for k in KEEP},
        "width_multiplier": args.width,
        "band_for": {"file": args.square.name, "sha256": hashlib.sha256(args.square.read_bytes()).hexdigest()},
        "training_data": {"weights": args.weights.name, "samples_seen": sum(st["samples"] for st in stages),
                          "stages": stages},
    })
    print(f"wrote {out} ({out.stat().st_size} bytes) in {folder}")


if __name__ == "__main__":
    main()
