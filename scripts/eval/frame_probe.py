"""Plates found by the service's detection in camera-size frames, per mode and model folder.

    python -m scripts.eval.frame_probe --models models/quantized /tmp/cand/w224 [--split heldout|dev]

Why: cameras send 16:9 frames (1280x720 and up) whose plates are small, while most labelled
scenes are small 4:3 or square photos.  This resizes each scene to ``--frame`` (default
1280x720; the plates scale with it), runs ``Recognizer.detect`` (the service's detection, tiles,
gate and rescue included) in fast and default mode for every model folder, and prints per set
and pooled the plates found (IoU >= 0.5, plates >= 12 px high in the frame, as ``evaluate.py``),
the false boxes and the median detection time (1 thread).  ``heldout``: the detector's held-out
train scenes (every ``HOLDOUT_EVERY``-th, offset 0), where choices are made; ``dev``: the dev
scenes, where they are checked.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts import options
from scripts.data import datasets
from scripts.eval import tile_gate
from scripts.eval.scoring import Tally, match_detections
from scripts.progress import Progress
from scripts.train import train_detector as td

MIN_H = 12  # plates smaller than this in the frame are neither found nor false (evaluate.py's default)


def frame(item: datasets.DetItem, fh: int, fw: int) -> tuple[np.ndarray, list[tuple[Box, str | None]]]:
    """A scene resized to ``fw`` x ``fh`` and its labelled boxes scaled with it (``match_detections``'s form)."""
    im = Image.open(item.path).convert("RGB")
    sx, sy = fw / im.width, fh / im.height
    img = np.asarray(im.resize((fw, fh), Image.Resampling.BILINEAR))
    return img, [(Box(round(b[0] * sx), round(b[1] * sy), round(b[2] * sx), round(b[3] * sy)), None)
                 for b in item.boxes]


def frames(split: str, fh: int, fw: int) -> list[tuple[str, np.ndarray, list[tuple[Box, str | None]]]]:
    """(set, frame, labelled boxes) of each scene resized to ``fw`` x ``fh``."""
    return [(it.dataset, *frame(it, fh, fw)) for it in tile_gate.items(split)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, nargs="+", required=True, help="model folders to compare")
    ap.add_argument("--split", default="heldout", choices=("heldout", "dev"))
    ap.add_argument("--frame", type=td.hw_arg, default=(720, 1280), help="scenes are resized to this HxW")
    ap.add_argument("--modes", default="fast,default", help="comma-separated recognition modes")
    options.add_fine_pass(ap)
    args = ap.parse_args()
    missing = [str(m) for m in args.models if not m.is_dir()]
    if missing:
        ap.error(f"--models: no such folder: {', '.join(missing)}")
    (fh, fw), modes = args.frame, [m for m in args.modes.split(",") if m]
    data = frames(args.split, fh, fw)
    print(f"{len(data)} {args.split} scenes resized to {fw}x{fh}; found/plates (false boxes), median detect ms")
    for folder in args.models:
        rec = Recognizer.from_config(ModelsConfig(directory=str(folder), threads=1, fine_pass=args.fine_pass))
        for mode in modes:
            tallies: dict[str, Tally] = defaultdict(Tally)
            ms: list[float] = []
            bar = Progress(f"{folder.name} {mode}", len(data))
            for name, img, gts in data:
                t0 = time.perf_counter()
                found = rec.detect(img, RecognizeOptions(mode=mode))
                ms.append(1000 * (time.perf_counter() - t0))
                match_detections(found, gts, tallies[name], MIN_H, only_labelled=False)
                bar.update()
            bar.close()
            tp, fn, fp = (sum(getattr(t, k) for t in tallies.values()) for k in ("tp", "fn", "fp"))
            cells = "  ".join(f"{s} {t.tp}/{t.tp + t.fn} ({t.fp})" for s, t in tallies.items())
            print(f"{folder.name:>10} {mode:8s} {cells} | all {tp}/{tp + fn} ({fp}) | "
                  f"{statistics.median(ms):.1f} ms", flush=True)


if __name__ == "__main__":
    main()
