"""Recall, precision, tiles run and time of default-mode detection for each tile gate.

    python -m scripts.eval.tile_gate [--split heldout|dev] [--gates 0,0.02,0.05,0.1,0.15,0.2,0.3]

Default mode runs the finer 3x3 pass only in the tiles where the whole-image pass's probability
map reaches ``models.tile_gate`` (0 runs every tile).  This runs ``Recognizer.detect`` (the
service's detection, rescue included) over the scenes for every gate and prints, per set and
pooled, the plates found (IoU >= 0.5, plates >= 12 px high, as ``evaluate.py``), precision, the
detector runs per image after the whole-image pass (``runs+``: tiles, or canvases of looks with
``--fine-pass looks``) and the median detection time.  ``heldout``: the detector's held-out
train scenes (every ``HOLDOUT_EVERY``-th, offset 0, as ``select_detector.py``), where a gate is
chosen; ``dev``: the dev scenes, where the choice is checked.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts import options
from scripts.data import datasets
from scripts.eval import evaluate
from scripts.progress import Progress

SETS = datasets.DET_SETS + datasets.TEACHER_SETS


def items(split: str) -> list[datasets.DetItem]:
    """The detector's held-out train scenes (``heldout``: every ``HOLDOUT_EVERY``-th) or a split's scenes."""
    found = datasets.det_items("train" if split == "heldout" else split, SETS)
    return datasets.holdout(found, datasets.HOLDOUT_EVERY)[1] if split == "heldout" else found


def scenes(split: str) -> list[tuple[str, Any, list[tuple[Box, str | None]]]]:
    """(set, RGB image, labelled boxes) of the held-out train scenes or the dev scenes."""
    out = []
    for it in items(split):
        img = decode(it.path.read_bytes(), evaluate.MAX_PIXELS)
        out.append((it.dataset, img, [(Box(*b), None) for b in it.boxes]))
    return out


def measure(rec: Recognizer, data: list, gate: float) -> dict[str, dict[str, float]]:
    """Per set and pooled: tp, fn, fp, recall, precision, detector runs after the whole-image pass
    (tiles or canvases of looks) per image, median ms."""
    rec.cfg = replace(rec.cfg, tile_gate=gate)
    calls = [0]
    maps = rec.detector.maps

    def counted(canvas: Any) -> Any:
        calls[0] += 1
        return maps(canvas)

    rec.detector.maps = counted  # type: ignore[method-assign]
    tallies: dict[str, evaluate.Tally] = defaultdict(evaluate.Tally)
    ms: dict[str, list[float]] = defaultdict(list)
    runs: dict[str, list[int]] = defaultdict(list)
    bar = Progress(f"gate {gate:g}", len(data))
    try:
        for name, img, gts in data:
            calls[0] = 0
            t0 = time.perf_counter()
            dets = rec.detect(img, RecognizeOptions())
            ms[name].append((time.perf_counter() - t0) * 1000.0)
            runs[name].append(calls[0] - 1)  # detect runs the whole-image pass once (the rescue reads only)
            for key in (name, "pooled"):
                evaluate.match_detections(dets, gts, tallies[key], 12, False)
            bar.update()
    finally:
        rec.detector.maps = maps  # type: ignore[method-assign]
        bar.close()
    ms["pooled"] = [v for k in list(ms) for v in ms[k]]
    runs["pooled"] = [v for k in list(runs) if k != "pooled" for v in runs[k]]
    out = {}
    for key, t in tallies.items():
        out[key] = {"tp": t.tp, "fn": t.fn, "fp": t.fp, "recall": t.tp / max(1, t.tp + t.fn),
                    "precision": t.tp / max(1, t.tp + t.fp),
                    "runs": statistics.fmean(runs[key]) if runs[key] else 0.0,
                    "ms": statistics.median(ms[key])}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="heldout", choices=("heldout", "dev"))
    ap.add_argument("--gates", default="0,0.02,0.05,0.1,0.15,0.2,0.3", help="comma-separated tile gates")
    ap.add_argument("--models", default="", help="model folder (default: the bundled models)")
    ap.add_argument("--threads", type=int, default=1)
    options.add_fine_pass(ap, "the finer pass the gate opens, tiles or looks")
    ap.add_argument("--rescue-min-read", type=float, default=ModelsConfig.rescue_min_read,
                    help="models.rescue_min_read: a rescued candidate's read must score this (raw)")
    ap.add_argument("--rescue-threshold-d", type=float, default=ModelsConfig.rescue_threshold_d,
                    help="models.rescue_threshold_d: the whole-image map's candidates the rescue reads")
    args = ap.parse_args()
    try:
        gates = [float(g) for g in args.gates.split(",")]
    except ValueError:
        ap.error(f"--gates {args.gates!r}: expected numbers separated by commas, e.g. 0,0.05,0.1")
    try:
        data = scenes(args.split)
    except FileNotFoundError as e:
        ap.error(f"the scenes are read from ../shared/data ({e}); clone the data beside the repo")
    rec = Recognizer.from_config(ModelsConfig(directory=args.models, threads=args.threads,
                                                   rescue_min_read=args.rescue_min_read,
                                                   rescue_threshold_d=args.rescue_threshold_d,
                                                   fine_pass=args.fine_pass))
    rows = {g: measure(rec, data, g) for g in gates}
    keys = sorted({k for r in rows.values() for k in r}, key=lambda k: (k == "pooled", k))
    print(f"{args.split} scenes: {len(data)}; fine pass {args.fine_pass}; rescue_min_read {args.rescue_min_read:g}, "
          f"rescue_threshold_d {args.rescue_threshold_d:g}")
    head = ("set", "gate", "found", "recall", "precision", "fp", "runs+", "ms")
    print(f"{head[0]:18s} " + " ".join(f"{h:>{w}s}" for h, w in zip(head[1:], (5, 9, 7, 9, 5, 6, 7))))
    for k in keys:
        for g in gates:
            r = rows[g].get(k)
            if r:
                print(f"{k:18s} {g:5.2f} {r['tp']:4d}/{r['tp'] + r['fn']:<4d} {r['recall']:7.4f} "
                      f"{r['precision']:9.4f} {r['fp']:5d} {r['runs']:6.2f} {r['ms']:7.1f}")


if __name__ == "__main__":
    main()
