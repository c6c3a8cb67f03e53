"""Robustness diagnostic: the detector's held-out train scenes under camera-like changes.

Why: the dev and train scenes are mostly level, well-exposed photos, while cameras on poles and
dashboards roll, over- and under-expose, blur and compress hard.  This runs the service's own
pipeline (``Recognizer.recognize``, default mode) over the train scenes every detector holds out
(every ``--holdout``-th), once as they are and once per change, and prints per set how many
labelled plates (>= ``--min-height`` px) are found at IoU >= 0.5, how many detections are on one
of those plates (a detection of a smaller or unlabelled plate counts against it, so compare this
column between models, not with the precision of ``evaluate.py``), and for plates with text how
many read exactly.

A turned scene's plate boxes are the axis-aligned boxes of the turned label boxes, which is what
a detector reports for a tilted plate.  The changes are fixed (no randomness), so two model
folders compare plate for plate.  Read the numbers as a map of weaknesses, not as accuracy; a
model chosen on them would be chosen on held-out train images, never on dev.

    python -m scripts.bench.bench_robustness [--models DIR] [--changes tilt+8,flat] [--holdout 10]
"""

from __future__ import annotations

import argparse
import io
from collections import defaultdict
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts.data import augment, datasets
from scripts.eval import evaluate
from scripts.progress import track

Boxes = list[tuple[float, float, float, float]]
FILL = (114, 114, 114)  # the detector's letterbox grey, for corners a turn uncovers


def tilt(deg: float) -> Callable[[np.ndarray, Boxes], tuple[np.ndarray, Boxes]]:
    """Turn the scene ``deg`` degrees counter-clockwise about its centre, boxes along."""
    return lambda img, boxes: augment.turn(img, boxes, deg, FILL)


def pixels(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray, Boxes], tuple[np.ndarray, Boxes]]:
    """A change of the pixels only (boxes stay)."""
    return lambda img, boxes: (np.clip(f(img.astype(np.float32)), 0, 255).astype(np.uint8), boxes)


def jpeg(quality: int) -> Callable[[np.ndarray], np.ndarray]:
    def f(img: np.ndarray) -> np.ndarray:
        buf = io.BytesIO()
        Image.fromarray(img.astype(np.uint8)).save(buf, "JPEG", quality=quality)
        return np.asarray(Image.open(buf).convert("RGB"), np.float32)
    return f


def blur(radius: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda img: np.asarray(Image.fromarray(img.astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius)),
                                  np.float32)


CHANGES: dict[str, tuple[str, Callable[[np.ndarray, Boxes], tuple[np.ndarray, Boxes]]]] = {
    "none": ("the scene as it is", pixels(lambda x: x)),
    "tilt+8": ("turned 8 degrees counter-clockwise", tilt(8.0)),
    "tilt-15": ("turned 15 degrees clockwise", tilt(-15.0)),
    "washed": ("over-exposed: x1.8 + 30", pixels(lambda x: x * 1.8 + 30)),
    "flat": ("low contrast: 0.45 of it around grey 110", pixels(lambda x: x * 0.45 + 110)),
    "dark": ("under-exposed: gamma 2.2 then x0.6", pixels(lambda x: 255 * (x / 255) ** 2.2 * 0.6)),
    "gray": ("grey-scale (an IR camera at night)", pixels(lambda x: np.repeat(x.mean(-1, keepdims=True), 3, -1))),
    "jpeg15": ("JPEG quality 15", pixels(jpeg(15))),
    "blur": ("Gaussian blur radius 1.5", pixels(blur(1.5))),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="model folder (default: the bundled models)")
    ap.add_argument("--changes", default=",".join(CHANGES),
                    help="comma-separated, from: " + "; ".join(f"{k} ({v[0]})" for k, v in CHANGES.items()))
    ap.add_argument("--holdout", type=int, default=datasets.HOLDOUT_EVERY, help="as train_detector_stream.py --holdout")
    ap.add_argument("--holdout-offset", type=int, default=0,
                    help="hold-out offset (as train_reader.py's): the shipped detector holds out offset 0, so "
                         "another offset compares readers held out there, behind a detector that saw the scenes")
    ap.add_argument("--min-height", type=int, default=12, help="smaller labelled plates (px) are not counted")
    args = ap.parse_args()
    names = [c for c in args.changes.split(",") if c]
    unknown = [c for c in names if c not in CHANGES]
    if unknown or not names:
        ap.error(f"--changes: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(CHANGES)}")
    if args.holdout <= 0:
        ap.error("--holdout must be > 0: the scenes are the ones the detector trainer holds out")
    rec = Recognizer.from_config(ModelsConfig(directory=args.models, threads=1))
    try:
        held = datasets.holdout(datasets.det_items("train"), args.holdout, args.holdout_offset)[1]
    except ValueError as e:
        ap.error(f"--holdout-offset: {e}")
    print(f"{len(held)} held-out train scenes; detector {rec.detector.model.name}; plates >= {args.min_height} px")
    print(f"{'change':9s} {'set':10s} {'found':>13s} {'on a plate':>13s} {'read':>11s}")
    for k, name in enumerate(names):
        change = CHANGES[name][1]
        # per set: labelled plates, found, detections, detections on a plate, plates with text, read
        st: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
        for it in track(held, f"{name} ({k + 1}/{len(names)} changes) scenes"):
            labelled: Boxes = [(float(x1), float(y1), float(x2), float(y2)) for x1, y1, x2, y2 in it.boxes]
            img, boxes = change(decode(it.path.read_bytes(), evaluate.MAX_PIXELS), labelled)
            res = rec.recognize(img, RecognizeOptions())
            s, hit = st[it.dataset], set()
            for b, text in zip(boxes, it.texts, strict=True):
                if b[3] - b[1] < args.min_height:
                    continue
                g = Box(*(int(round(v)) for v in b))
                j = max(range(len(res)), key=lambda n: res[n].box.iou(g), default=None)
                found = j is not None and res[j].box.iou(g) >= 0.5
                s[0], s[1] = s[0] + 1, s[1] + found
                if found:
                    hit.add(j)
                if text:
                    s[4] += 1
                    s[5] += found and evaluate.same(res[j].read.plate, text)
            s[2], s[3] = s[2] + len(res), s[3] + len(hit)
        for ds, s in sorted(st.items()):
            read = f"{s[5]:4d}/{s[4]:<4d}" if s[4] else ""
            print(f"{name:9s} {ds:10s} {s[1]:5d}/{s[0]:<5d}{s[1] / max(s[0], 1):5.2f} "
                  f"{s[3]:5d}/{s[2]:<5d}{s[3] / max(s[2], 1):5.2f} {read:>11s}", flush=True)


if __name__ == "__main__":
    main()
