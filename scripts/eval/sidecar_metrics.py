"""Recording ``evaluate.py``'s dev metrics in the model sidecars (``--write-sidecars``).

Why apart from the evaluation: the evaluation only measures; this decides which numbers belong
to which model (detection sets to the detector, reads to the reader or reader pair, the vehicle
set to the classifier) and rewrites each sidecar atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_alpr.engine.runtime import BUNDLED
from scripts.train import tfcommon  # the scripts folder's own helpers (no TensorFlow)


def write_sidecars(report: dict, args: argparse.Namespace, readers: list[str]) -> None:
    """Put the dev metrics of each model's stage into its sidecar (atomically).

    ``readers`` names the reader model(s) that produced the reading metrics: with a reader pair
    both sidecars carry the pair's numbers, and say so.
    """
    keys = {"detector": ("det_",), "reader": ("exact", "char", "topn", "region", "read_"), "vehicle": ()}
    base = Path(args.models) if args.models else BUNDLED
    for side in base.glob("*_v*.json"):
        meta = json.loads(side.read_text())
        kind = meta.get("kind")
        if kind == "vehicle" and "vehicles" in report:
            # the real-scene figures come from scripts/eval/vehicle_scenes.py, not from this evaluation: kept
            old = meta.get("dev_metrics", {}).get("sets", {})
            sel: dict = {"vehicles": report["vehicles"],
                         **({"vehicle_scenes": old["vehicle_scenes"]} if "vehicle_scenes" in old else {})}
        elif kind not in ("detector", "reader"):
            continue
        else:
            sel = {}
        for name, m in report.items() if kind != "vehicle" else []:
            if name == "vehicles":
                continue
            if kind == "reader" and "teacher_agreement" in m:
                sel[name + " (agreement with the teacher)"] = {k: v for k, v in m.items() if k.startswith("teacher_")}
            elif kind == "reader" and not name.startswith("ocr/") and "exact_read" in m:
                sel[name + " (end-to-end)"] = {
                    k: v for k, v in m.items() if k.startswith(keys[kind]) or k == "plates_read"
                }
            elif (kind == "detector") == name.startswith("detection/"):
                sel[name] = {
                    k: v
                    for k, v in m.items()
                    if k.startswith(keys[kind]) or k.startswith("detect") or k == "plates_read"
                }
        meta["dev_metrics"] = {
            "split": args.split,
            "mode": args.mode,
            "min_plate_height_px": args.min_height,
            **({"reader_models": readers} if kind == "reader" else {}),
            "sets": sel,
        }
        tfcommon.write_json(side, meta)
