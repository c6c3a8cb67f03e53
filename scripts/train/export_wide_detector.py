"""Export the detector's float weights a second time, at a wide canvas: ``detector_wide_v<N>``.

Why: the detector is fully convolutional, so its weights run at any canvas whose sides are
multiples of 32.  A 16:9 camera frame (or a tile of one) letterboxed into the 320 px square
wastes 44 % of the canvas on padding; at 224x416 the same frame is seen at 0.31 of its size
instead of 0.25, for 9 % less work, and the service runs whichever canvas shows a region larger
(``edge_alpr.engine.detector.Detector.canvas_for``).  The export keeps the square model's
threshold, decoding and score map, and its sidecar names the square model it belongs to
(``weights_of``, checked at load: a wide export of other weights is refused).

    python -m scripts.train.export_wide_detector --weights $CACHE/detector_v4.weights.h5
    python -m scripts.train.export_wide_detector --weights W.h5 --like DIR/detector_v5.tflite --out-dir DIR

``--weights`` are the square model's float weights: ``make models`` keeps them; for a shipped
int8 model ``scripts/train/detector_weights.py`` recovers them.  Needs the ``train`` extra.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edge_alpr.engine.runtime import model_path
from scripts.data import datasets
from scripts.train import tfcommon
from scripts.train import train_detector as td

CANVAS = (224, 416)  # HxW: 16:9 frames fill its height; compute 0.91 of the 320 square's
CALIB_SAMPLES = 300


def calibration_samples(h: int, w: int, n: int = CALIB_SAMPLES, seed: int = 7) -> list[np.ndarray]:
    """``n`` training samples cut to an ``h`` x ``w`` canvas (the middle band of a square sample,
    as ``train_detector_stream.py --canvas`` trains), for the int8 ranges."""
    items = datasets.det_items("train", datasets.DET_SETS)
    rng = np.random.default_rng(seed)
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    out = []
    for i in rng.choice(len(items), n, replace=False):
        x, _ = td.sample(datasets.load_rgb(items[i].path), items[i].boxes, rng, 0.35, side)
        out.append(x[top:top + h, left:left + w])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, required=True, help="the square model's float weights (.weights.h5)")
    ap.add_argument("--like", type=Path, default=None,
                    help="the square int8 model these weights are (default: the bundled detector)")
    ap.add_argument("--canvas", type=td.canvas_arg, default=CANVAS, help="HxW (default %(default)s)")
    ap.add_argument("--out-dir", type=Path, default=None, help="default: the --like model's folder")
    args = ap.parse_args()
    like = args.like or model_path(None, "detector")
    if not args.weights.is_file():
        ap.error(f"--weights {args.weights}: no such file (scripts/train/detector_weights.py recovers a shipped "
                 "model's float weights)")
    if not like.with_suffix(".json").is_file():
        ap.error(f"--like {like}: no sidecar {like.with_suffix('.json').name} beside it")
    base = json.loads(like.with_suffix(".json").read_text())
    (h, w), out_dir = args.canvas, args.out_dir or like.parent
    tfcommon.setup_tf(2)
    model = td.build(float(base["width_multiplier"]), (h, w))
    model.load_weights(args.weights)
    xs = calibration_samples(h, w)
    out = out_dir / f"detector_wide_v{base['version']}.tflite"
    out_dir.mkdir(parents=True, exist_ok=True)
    tfcommon.export_int8(model, lambda: ([x[None].astype(np.float32)] for x in xs), out)
    keep = {k: base[k] for k in ("kind", "labels", "stride", "distance_unit_px", "threshold", "nms_iou",
                                 "width_multiplier", "params")}
    tfcommon.write_sidecar(out, {
        **keep,
        "preprocess": {"input": f"RGB uint8 letterboxed to a {w}x{h} canvas", "fill": base["preprocess"]["fill"]},
        "weights_of": {"name": base["name"], "version": base["version"], "file": base["file"],
                       "sha256": base["sha256"]},
        "score_map": f"the dscore map of {base['file']} applies (same weights, same threshold)",
        "training_data": {"weights": str(args.weights), "calibration_samples": len(xs),
                          "as": f"{base['file']}'s training (its sidecar)"},
    })
    print(f"wrote {out} ({out.stat().st_size} bytes, {w}x{h}) beside {like.name}", flush=True)


if __name__ == "__main__":
    main()
