"""One detector pass at a wide canvas against the default (tiled) and fast modes, on camera-size frames.

Why: default mode finds small plates in a 1280x720 frame by running the 320 px detector on the
whole frame and then on up to 9 tiles (~3.4 passes, most of its time); fast mode runs the whole
pass alone and misses them.  The detector is fully convolutional, so the same weights can run
once on a larger, non-square canvas (16:9 frames waste nothing on padding) that shows plates at
about twice the whole pass's scale.  This probe measures what that buys before any training at
such a canvas: it exports float detector weights (``scripts/train/detector_weights.py`` recovers
them from the shipped int8 model) at ``--canvas HxW`` (int8, calibrated on train samples), then,
on the dev scenes of every detection set resized to ``--frame``, counts the plates found (IoU >= 0.5,
plates >= 12 px high) and the false boxes of the one pass (detector alone, letterbox included)
and of the service's default and fast modes (whole pipeline), with median times, 1 thread.

A map of the trade-off, not a selection: dev scenes are only looked at here, never chosen on.
Needs the ``train`` extra (TensorFlow for the export).

    python -m scripts.eval.canvas_probe --canvas 352x576 --weights /tmp/edge_alpr_cache/detector_v4.weights.h5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edge_alpr.engine.boxes import decode
from edge_alpr.engine.preprocess import letterbox_to
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Detection
from scripts.data import datasets
from scripts.eval.frame_probe import MIN_H, frame
from scripts.eval.scoring import Tally, match_detections
from scripts.progress import Progress
from scripts.train import detector_model as dm
from scripts.train import detector_samples as ds
from scripts.train import train_detector as td


def export(weights: Path, h: int, w: int, width: float, out: Path) -> None:
    """``weights`` as an int8 model with an ``h`` x ``w`` input, calibrated on train samples."""
    from scripts.train import tfcommon

    tfcommon.setup_tf(2)
    model = dm.build(width, (h, w))
    model.load_weights(weights)
    items = datasets.det_items("train", datasets.DET_SETS)
    rng = np.random.default_rng(7)
    side, top = max(h, w), (max(h, w) - h) // 2
    left = (side - w) // 2
    xs = [ds.sample(datasets.load_rgb(items[i].path), items[i].boxes, rng, 0.35, side)[0][top:top + h, left:left + w]
          for i in rng.choice(len(items), 200, replace=False)]
    tfcommon.export_int8(model, lambda: ([x[None].astype(np.float32)] for x in xs), out)


class OnePass:
    """The exported model run once per frame, decoded as the service decodes its detector."""

    def __init__(self, path: Path, threshold: float) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.it = Interpreter(model_path=str(path), num_threads=1)
        self.it.allocate_tensors()
        self.input = self.it.get_input_details()[0]
        self.h, self.w = (int(v) for v in self.input["shape"][1:3])
        self.threshold = threshold

    def detect(self, img: np.ndarray) -> list[Detection]:
        canvas, placed = letterbox_to(img, self.w, self.h)
        self.it.set_tensor(self.input["index"], canvas[None])
        self.it.invoke()
        maps = {}
        for o in self.it.get_output_details():
            scale, zero = o["quantization"]
            maps[int(o["shape"][-1])] = (self.it.get_tensor(o["index"]).astype(np.float32) - zero) * scale
        return decode(maps[1][0, ..., 0], maps[4][0], 4, 32.0, self.threshold, placed,
                      img.shape[1], img.shape[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--canvas", type=td.canvas_arg, required=True, help="the one pass's input, HxW (multiples of 32)")
    ap.add_argument("--weights", type=Path, required=True, help="float detector weights (.weights.h5)")
    ap.add_argument("--width", type=float, default=3.0, help="the network's width multiplier (detector_v4: 3.0)")
    ap.add_argument("--frame", type=td.hw_arg, default=(720, 1280), help="dev scenes are resized to this HxW")
    ap.add_argument("--per-set", type=int, default=60, help="dev scenes per detection set")
    ap.add_argument("--threshold", type=float, default=0.85, help="the one pass's plate threshold")
    ap.add_argument("--work", type=Path, default=Path("/tmp/edge_alpr_canvas"), help="where the export goes")
    args = ap.parse_args()
    (h, w), (fh, fw) = args.canvas, args.frame
    if not args.weights.is_file():
        ap.error(f"--weights {args.weights}: no such file (scripts/train/detector_weights.py recovers v4's)")
    out = args.work / f"{args.weights.name.split('.')[0]}_{h}x{w}.tflite"
    if not out.exists():
        export(args.weights, h, w, args.width, out)
    one = OnePass(out, args.threshold)
    rec = Recognizer.from_config(ModelsConfig(threads=1))
    sets = datasets.DET_SETS + datasets.TEACHER_SETS
    counts = {k: {s: Tally() for s in sets} for k in ("default", "fast", "one pass")}
    times: dict[str, list[float]] = {k: [] for k in counts}
    scenes = [(s, it) for s in sets for it in datasets.det_items("dev", (s,))[:args.per_set]]
    bar = Progress("scenes", len(scenes))
    for name, item in scenes:
        img, gts = frame(item, fh, fw)
        for mode in ("default", "fast"):
            t0 = time.perf_counter()
            found = rec.recognize(img, RecognizeOptions(mode=mode))
            times[mode].append(time.perf_counter() - t0)
            match_detections(found, gts, counts[mode][name], MIN_H, only_labelled=False)
        t0 = time.perf_counter()
        boxes = one.detect(img)
        times["one pass"].append(time.perf_counter() - t0)
        match_detections(boxes, gts, counts["one pass"][name], MIN_H, only_labelled=False)
        bar.update()
    bar.close()
    print(f"dev scenes resized to {fw}x{fh} ({args.per_set} per set); one pass: {out.name} at {w}x{h}, "
          f"threshold {args.threshold}; found/plates (false boxes); median ms (modes: whole request)")
    for k, per in counts.items():
        total = np.sum([(v.tp, v.fn, v.fp) for v in per.values()], axis=0)
        cells = "  ".join(f"{s} {v.tp}/{v.tp + v.fn} ({v.fp})" for s, v in per.items())
        print(f"{k:9s} {cells} | all {total[0]}/{total[0] + total[1]} ({total[2]}) | "
              f"{1000 * float(np.median(times[k])):.1f} ms")


if __name__ == "__main__":
    main()
