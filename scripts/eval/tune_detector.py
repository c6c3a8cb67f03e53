"""Pick the detector's default score threshold on TRAIN images and record it in its sidecar.

The threshold is a property of the trained model (how confident it is), so it belongs in the
sidecar next to it; it is chosen on the train split (never dev) to maximise F1 of plates at
IoU >= 0.5, pooled over the detection sets.  The model file itself is not touched.

    python -m scripts.eval.tune_detector [--every 4]
"""

from __future__ import annotations

import argparse
import json
import time

from edge_alpr.engine.runtime import model_path
from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts.eval import evaluate
from scripts.train import tfcommon

GRID = (0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def threshold_table(rec: Recognizer, scenes: list, times: list[float] | None = None) -> dict[float, dict]:
    """Recall, precision and F1 of plates >= 12 px at IoU >= 0.5 for each threshold in ``GRID``.

    Shared with ``select_detector.py`` so that candidates are ranked exactly as thresholds are
    tuned; ``times`` (if given) collects each ``detect`` call's seconds.
    """
    table = {}
    for thr in GRID:
        t = evaluate.Tally()
        for img, gts in scenes:
            started = time.perf_counter()
            dets = rec.detect(img, RecognizeOptions(threshold_d=thr))
            if times is not None:
                times.append(time.perf_counter() - started)
            evaluate.match_detections(dets, gts, t, 12, False)
        r, p = t.tp / max(1, t.tp + t.fn), t.tp / max(1, t.tp + t.fp)
        table[thr] = {"recall": round(r, 4), "precision": round(p, 4), "f1": round(2 * r * p / max(1e-9, r + p), 4)}
        print(f"threshold {thr:.2f}: recall {r:.3f} precision {p:.3f} f1 {table[thr]['f1']:.3f}", flush=True)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=int, default=4, help="use every N-th train image")
    ap.add_argument("--models", default="")
    args = ap.parse_args()
    rec = Recognizer.from_config(ModelsConfig(directory=args.models))
    scenes = []
    for labels in sorted((evaluate.DATA / "detection").glob("*/labels.jsonl")):
        rows = [json.loads(x) for x in labels.read_text().splitlines() if x.strip()]
        for r in [r for r in rows if r["split"] == "train"][:: args.every]:
            img = decode((labels.parent / r["image"]).read_bytes(), evaluate.MAX_PIXELS)
            scenes.append((img, [(Box(*p["box"]), None) for p in r["plates"]]))
    table = threshold_table(rec, scenes)
    best = max(GRID, key=lambda k: table[k]["f1"])
    side = model_path(args.models or None, "detector").with_suffix(".json")
    meta = json.loads(side.read_text())
    meta["threshold"] = best
    meta["threshold_tuning"] = {"split": "train", "every": args.every, "images": len(scenes),
                                "table": {str(k): v for k, v in table.items()}}
    tfcommon.write_json(side, meta)
    print(f"threshold {best} written to {side}")


if __name__ == "__main__":
    main()
