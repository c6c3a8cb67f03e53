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
from PIL import Image

from edge_alpr.engine.boxes import decode
from edge_alpr.engine.preprocess import Letterbox, letterbox_to
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from scripts.data import datasets
from scripts.progress import Progress

MIN_H = 12  # plates smaller than this are neither found nor false (as evaluate.py)


def size_arg(text: str) -> tuple[int, int]:
    """``HxW`` (each a multiple of 32, the network's coarsest stride)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HxW, e.g. 352x576") from e
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be positive")
    return h, w


def export(weights: Path, h: int, w: int, width: float, out: Path) -> None:
    """``weights`` as an int8 model with an ``h`` x ``w`` input, calibrated on train samples."""
    from scripts.train import tfcommon

    tfcommon.setup_tf(2)
    from scripts.train import train_detector as td

    model = td.build(width, (h, w))
    model.load_weights(weights)
    items = datasets.det_items("train", datasets.DET_SETS)
    rng = np.random.default_rng(7)
    side, top = max(h, w), (max(h, w) - h) // 2
    left = (side - w) // 2
    xs = [td.sample(datasets.load_rgb(items[i].path), items[i].boxes, rng, 0.35, side)[0][top:top + h, left:left + w]
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

    def detect(self, img: np.ndarray) -> list[tuple[float, float, float, float]]:
        canvas, placed = letterbox_to(img, self.w, self.h)
        self.it.set_tensor(self.input["index"], canvas[None])
        self.it.invoke()
        maps = {}
        for o in self.it.get_output_details():
            scale, zero = o["quantization"]
            maps[int(o["shape"][-1])] = (self.it.get_tensor(o["index"]).astype(np.float32) - zero) * scale
        dets = decode(maps[1][0, ..., 0], maps[4][0], 4, 32.0, self.threshold,
                      Letterbox(placed.scale, placed.pad_x, placed.pad_y), img.shape[1], img.shape[0])
        return [(d.box.xmin, d.box.ymin, d.box.xmax, d.box.ymax) for d in dets]


def iou(a: tuple, b: tuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def tally(boxes: list[tuple], gts: list[tuple], counts: list[int]) -> None:
    """Add found, missed and false boxes (the rule of ``evaluate.match_detections``)."""
    used: set[int] = set()
    for b in boxes:
        j = max(range(len(gts)), key=lambda k: iou(b, gts[k]), default=-1)
        small = j >= 0 and gts[j][3] - gts[j][1] < MIN_H
        if j >= 0 and iou(b, gts[j]) >= 0.5 and not small and j not in used:
            used.add(j)
            counts[0] += 1
        elif not (j >= 0 and small and iou(b, gts[j]) > 0.1):
            counts[2] += 1
    counts[1] += sum(1 for j, g in enumerate(gts) if g[3] - g[1] >= MIN_H and j not in used)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--canvas", type=size_arg, required=True, help="the one pass's input, HxW (multiples of 32)")
    ap.add_argument("--weights", type=Path, required=True, help="float detector weights (.weights.h5)")
    ap.add_argument("--width", type=float, default=3.0, help="the network's width multiplier (detector_v4: 3.0)")
    ap.add_argument("--frame", type=size_arg, default=(720, 1280), help="dev scenes are resized to this HxW")
    ap.add_argument("--per-set", type=int, default=60, help="dev scenes per detection set")
    ap.add_argument("--threshold", type=float, default=0.85, help="the one pass's plate threshold")
    ap.add_argument("--work", type=Path, default=Path("/tmp/edge_alpr_canvas"), help="where the export goes")
    args = ap.parse_args()
    (h, w), (fh, fw) = args.canvas, args.frame
    if h % 32 or w % 32:
        ap.error(f"--canvas {h}x{w}: each side must be a multiple of 32")
    if not args.weights.is_file():
        ap.error(f"--weights {args.weights}: no such file (scripts/train/detector_weights.py recovers v4's)")
    out = args.work / f"{args.weights.name.split('.')[0]}_{h}x{w}.tflite"
    if not out.exists():
        export(args.weights, h, w, args.width, out)
    one = OnePass(out, args.threshold)
    rec = Recognizer.from_config(ModelsConfig(threads=1))
    sets = datasets.DET_SETS + datasets.TEACHER_SETS
    counts = {k: {s: [0, 0, 0] for s in sets} for k in ("default", "fast", "one pass")}
    times: dict[str, list[float]] = {k: [] for k in counts}
    scenes = [(s, it) for s in sets for it in datasets.det_items("dev", (s,))[:args.per_set]]
    bar = Progress("scenes", len(scenes))
    for name, item in scenes:
        im = Image.open(item.path).convert("RGB")
        sx, sy = fw / im.width, fh / im.height
        img = np.asarray(im.resize((fw, fh), Image.Resampling.BILINEAR))
        gts = [(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for b in item.boxes]
        for mode in ("default", "fast"):
            t0 = time.perf_counter()
            found = rec.recognize(img, RecognizeOptions(mode=mode))
            times[mode].append(time.perf_counter() - t0)
            tally([(r.box.xmin, r.box.ymin, r.box.xmax, r.box.ymax) for r in found], gts, counts[mode][name])
        t0 = time.perf_counter()
        boxes = one.detect(img)
        times["one pass"].append(time.perf_counter() - t0)
        tally(boxes, gts, counts["one pass"][name])
        bar.update()
    bar.close()
    print(f"dev scenes resized to {fw}x{fh} ({args.per_set} per set); one pass: {out.name} at {w}x{h}, "
          f"threshold {args.threshold}; found/plates (false boxes); median ms (modes: whole request)")
    for k, per in counts.items():
        total = np.sum(list(per.values()), axis=0)
        cells = "  ".join(f"{s} {v[0]}/{v[0] + v[1]} ({v[2]})" for s, v in per.items())
        print(f"{k:9s} {cells} | all {total[0]}/{total[0] + total[1]} ({total[2]}) | "
              f"{1000 * float(np.median(times[k])):.1f} ms")


if __name__ == "__main__":
    main()
