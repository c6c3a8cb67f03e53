"""Per-country diagnostic: synthetic plates pasted into real train scenes, read by the full pipeline.

Why: the dev splits hold real plates of four countries only (uc3m Spain, US, Brazil, Argentina;
romanian and andrewmvd carry no text), but the reader claims every layout of the reference's
country list.  This renders plates of each layout family with a seed training never uses,
warps them into real train scenes at camera-like sizes, degrades the whole frame like a cheap
camera, and runs ``Recognizer.recognize`` (the service's own pipeline, default mode).  It prints,
per region family: how often the pasted plate is detected (IoU >= 0.5), read exactly, and given
the right region.

Read the numbers as an upper bound and as a map of weaknesses, NOT as accuracy: the plates come
from the same generator (fonts, layouts) the models trained on.  A family far below the others
is a gap worth real data; a family near zero is a bug.

``--real-crops`` pastes real plates instead: the held-out crops of the OCR sets with tight plate
crops (us_states, br_crops, ar_crops: every ``--holdout``-th, which ``train_detector_stream.py
--paste-crops`` never pastes) into the detector's held-out train scenes.  It measures detection
only (the readers trained on those crops).

    python -m scripts.bench.bench_regions [--per-family 30] [--models DIR] [--real-crops]
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts import options
from scripts.data import datasets, synth
from scripts.data.synth_layouts import LAYOUTS, Layout
from scripts.eval import evaluate
from scripts.progress import Progress

EVAL_SEED = 8_000_000  # far from every seed the training scripts draw from


def family(region: str) -> str:
    """Table row of a layout: US states pooled (their region is scored per state)."""
    return "us" if region.startswith("us-") else region


REAL_CROP_SETS = ("us_states", "br_crops", "ar_crops")  # OCR sets whose crops are tight plates


def scene(rng: np.random.Generator, backgrounds: list[Path], layout: Layout | Path, long_side: int,
          heights: tuple[float, float]) -> tuple[np.ndarray, Box, str]:
    """A train scene resized to ``long_side`` with one plate in it: a synthetic one of ``layout``,
    or the real crop at that path."""
    bg = datasets.load_rgb(backgrounds[rng.integers(len(backgrounds))])
    if isinstance(layout, Path):
        plate, text = datasets.load_rgb(layout), ""
    else:
        plate, text = synth.render(layout, rng)
        plate = synth._stain(plate, rng)
    img, box = synth.paste(plate, bg, long_side, rng.uniform(*heights), rng)
    return img, Box(*box), text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-family", type=int, default=30, help="plates per region family (US states pooled)")
    ap.add_argument("--models", default="", help="model folder (default: the bundled models)")
    ap.add_argument("--long-side", type=int, default=640, help="scene size the plates are pasted into (px)")
    ap.add_argument("--min-height", type=float, default=18.0, help="smallest pasted plate height (px)")
    ap.add_argument("--max-height", type=float, default=48.0, help="largest pasted plate height (px)")
    ap.add_argument("--seed", type=int, default=EVAL_SEED)
    ap.add_argument("--real-crops", action="store_true",
                    help="paste held-out real plate crops into held-out train scenes (detection only)")
    ap.add_argument("--holdout", type=int, default=datasets.HOLDOUT_EVERY, help="as train_detector_stream.py --holdout")
    ap.add_argument("--threshold", type=float, help="detection threshold (default: the detector's sidecar)")
    options.add_fine_pass(ap, "default mode's finer pass")
    ap.add_argument("--tile-min-side", type=int, default=ModelsConfig.tile_min_side,
                    help="models.tile_min_side: default mode tiles images whose long side is over this")
    args = ap.parse_args()
    if args.real_crops and args.holdout <= 0:
        ap.error("--real-crops pastes the held-out crops: --holdout must be > 0")
    if not 0 < args.min_height <= args.max_height < args.long_side / 2:
        ap.error("need 0 < --min-height <= --max-height < --long-side / 2")
    rec = Recognizer.from_config(ModelsConfig(directory=args.models, threads=1, tile_min_side=args.tile_min_side,
                                              fine_pass=args.fine_pass))
    families: dict[str, list] = defaultdict(list)
    if args.real_crops:
        from scripts.train.train_detector_stream import paste_crops

        _, held = datasets.holdout(datasets.det_items("train"), args.holdout)
        backgrounds = [it.path for it in held if it.dataset != "uc3m"]
        for name in REAL_CROP_SETS:
            families[name] = [Path(p) for p in paste_crops(name, args.holdout)[1]]
    else:
        backgrounds = [it.path for it in datasets.det_items("train") if it.dataset != "uc3m"]
        for lay in LAYOUTS:
            families[family(lay.region)].append(lay)
    opts = RecognizeOptions(threshold_d=args.threshold)
    rng = np.random.default_rng(args.seed)
    rows: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    bar = Progress("plates", args.per_family * len(families))
    for fam, lays in families.items():
        for _ in range(args.per_family):
            lay = lays[rng.integers(len(lays))]
            img, box, text = scene(rng, backgrounds, lay, args.long_side, (args.min_height, args.max_height))
            r = rows[fam]
            if args.real_crops:
                dets = rec.detect(img, opts)
                r["detected"].append(any(d.box.iou(box) >= 0.5 for d in dets))
                bar.update()
                continue
            res = rec.recognize(img, opts)
            hit = max(res, key=lambda r: r.box.iou(box), default=None)
            found = hit is not None and hit.box.iou(box) >= 0.5
            r["detected"].append(found)
            r["read"].append(found and evaluate.same(hit.read.plate, text))
            r["region"].append(found and hit.read.region == lay.region)
            r["country"].append(found and family(hit.read.region) == fam)
            if found and not evaluate.same(hit.read.plate, text) and len(r["misreads"]) < 3:
                r["misreads"].append(f"{text}->{hit.read.plate}")
            bar.update()
    bar.close()
    kind = "held-out real crops" if args.real_crops else "synthetic plates"
    thr = rec.detector.threshold if args.threshold is None else args.threshold
    print(f"{args.per_family} {kind} per family, {args.min_height:.0f}-{args.max_height:.0f} px high, "
          f"in train scenes at {args.long_side} px; seed {args.seed}; detection threshold {thr}")
    if args.real_crops:
        for fam, r in sorted(rows.items()):
            print(f"{fam:10s} detected {statistics.mean(r['detected']):.3f} of {len(r['detected'])}")
        print(f"{'all':10s} detected {statistics.mean(x for r in rows.values() for x in r['detected']):.3f}")
        return
    print(f"{'family':8s} {'detected':>9s} {'read':>6s} {'country':>8s} {'region':>7s}  examples of misreads")
    for fam, r in sorted(rows.items()):
        m = {k: statistics.mean(r[k]) for k in ("detected", "read", "country", "region")}
        print(f"{fam:8s} {m['detected']:9.2f} {m['read']:6.2f} {m['country']:8.2f} {m['region']:7.2f}  "
              + " ".join(r["misreads"]))
    pooled = {k: statistics.mean(x for r in rows.values() for x in r[k]) for k in ("detected", "read")}
    print(f"{'all':8s} {pooled['detected']:9.2f} {pooled['read']:6.2f}")


if __name__ == "__main__":
    main()
