"""Compare reader candidates with the bundled reader on held-out TRAIN data (never dev).

Why: ``train_reader.py --holdout N`` keeps every N-th OCR train crop and detection train scene
out of a fine-tuning stage.  This script scores each candidate on exactly those items through the
service's own int8 pipeline, so a candidate is chosen without looking at dev:

* ``e2e``: exact read of the labelled plates (>= ``--min-height`` px) in the held-out scenes,
  detect then read, as ``evaluate.py`` scores dev scenes;
* ``oracle``: the same plates read from their labelled box (reader only);
* ``ocr``: exact read of the held-out OCR crops, pooled and per set;
* ``region``: the region of the held-out OCR crops that have one, as ``evaluate.py`` scores it;
* with ``--teacher-conf``: ``agree`` and ``agree_oracle``, the same as ``e2e`` and ``oracle`` for
  the held-out scene plates whose only text is a confident teacher read (agreement with the
  teacher, not accuracy); and ``country``, of the held-out scene plates (either kind) whose
  text fits the formats of a country of ours that the teacher named, how often the reading from
  the labelled box names that country (``country_plates`` of them).

Each candidate becomes a full model folder (``<work>/<name>/``: the bundled detector and vehicle
models plus the candidate reader) that ``evaluate.py --models`` accepts.

    python -m scripts.eval.select_reader --work /tmp/rsel v4=/tmp/rcand/reader_v4.tflite
    python -m scripts.eval.select_reader --work /tmp/rsel --baseline /tmp/ctl \
        pair=/tmp/ctl/reader_v4.tflite+/tmp/ctc/reader_v4.tflite
"""

from __future__ import annotations

import argparse
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from edge_alpr.engine import regions as reg
from edge_alpr.engine.runtime import BUNDLED
from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts.data import datasets
from scripts.eval import evaluate
from scripts.train import tfcommon


def folder_for(name: str, spec: str, work: Path) -> Path:
    """A model folder holding the bundled detector and vehicle models and this reader.

    ``spec`` is ``READER.tflite`` (that reader alone, even where the bundled models are a
    pair) or ``SLOT.tflite+CTC.tflite`` (a reader pair, engine/pair.py), either followed by
    ``+rows:ROWS.tflite`` for a row reader (``models.row_reader``).
    """
    parts = spec.split("+")
    rows = [p.removeprefix("rows:") for p in parts if p.startswith("rows:")]
    parts = [p for p in parts if not p.startswith("rows:")]
    if not 1 <= len(parts) <= 2 or len(rows) > 1:
        raise SystemExit(f"{name}={spec}: a candidate is one reader or a SLOT+CTC pair, then at most one "
                         "+rows:ROWS.tflite")
    out = work / name
    for f in out.glob("reader*_v*"):  # a folder left by an earlier run: no reader of another candidate stays
        f.unlink()
    replaced = ("reader", "reader_ctc", "reader_rows") if rows else ("reader", "reader_ctc")
    tfcommon.copy_bundled(out, tfcommon.bundled_kinds(*replaced))
    # the loader takes the newest reader_v<N> (reader_ctc_v<N>, reader_rows_v<N>); any file name works under these
    for path, stem in [*zip(parts, ("reader_v999", "reader_ctc_v999")), *((r, "reader_rows_v999") for r in rows)]:
        reader = Path(path)
        shutil.copy2(reader, out / f"{stem}.tflite")
        shutil.copy2(reader.with_suffix(".json"), out / f"{stem}.json")
    return out


def score(models: Path | None, crops: list[datasets.OcrItem], scenes: list[datasets.DetItem],
          min_h: int, human: set[tuple[str, tuple[int, ...]]] | None = None, **settings: Any) -> dict[str, float]:
    """Exact-read rates of one model folder on the held-out items (``settings``: other
    ``ModelsConfig`` fields, to compare pipeline settings on the same models)."""
    rec = Recognizer.from_config(ModelsConfig(directory=str(models) if models else "", **settings))
    named = datasets.teacher_regions() if human is not None else {}
    country: list[bool] = []
    ocr: dict[str, list[bool]] = defaultdict(list)
    region: list[bool] = []
    for it in crops:
        img = decode(it.path.read_bytes(), evaluate.MAX_PIXELS)
        crop = rec.reader.crop(img, Box(0, 0, img.shape[1], img.shape[0]))
        pr = rec.reader.read(crop, rec.read_settings())
        ocr[it.dataset].append(evaluate.same(pr.plate, it.text))
        if it.region:
            region.append(pr.region == it.region)
    e2e, oracle, agree, agree_oracle = [], [], [], []
    for sc in scenes:
        img = decode(sc.path.read_bytes(), evaluate.MAX_PIXELS)
        gts = [(Box(*b), t) for b, t in zip(sc.boxes, sc.texts) if t and b[3] - b[1] >= min_h]
        if not gts:
            continue
        results = rec.recognize(img, RecognizeOptions())
        for g, text in gts:
            best = max(results, key=lambda r: r.box.iou(g), default=None)
            by_human = human is None or (sc.path.name, (g.xmin, g.ymin, g.xmax, g.ymax)) in human
            (e2e if by_human else agree).append(
                best is not None and best.box.iou(g) >= 0.5 and evaluate.same(best.read.plate, text))
            pr = rec.reader.read(rec.reader.crop(img, g), rec.read_settings())
            (oracle if by_human else agree_oracle).append(evaluate.same(pr.plate, text))
            code = datasets.TEACHER_REGION_CODES.get(
                named.get((sc.dataset, sc.path.name, (g.xmin, g.ymin, g.xmax, g.ymax)), ("", ""))[1], "")
            if code and reg.matches(text, code):
                country.append(reg.country_of(pr.region) == code)
    out = {"e2e": float(np.mean(e2e)), "oracle": float(np.mean(oracle)), "plates": len(e2e),
           "ocr": float(np.mean([x for v in ocr.values() for x in v])), "region": float(np.mean(region))}
    if agree:
        out.update({"agree": float(np.mean(agree)), "agree_oracle": float(np.mean(agree_oracle)),
                    "agree_plates": len(agree)})
    if country:
        out.update({"country": float(np.mean(country)), "country_plates": len(country)})
    out.update({f"ocr_{k}": float(np.mean(v)) for k, v in sorted(ocr.items())})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("candidates", nargs="+",
                    help="NAME=READER.tflite, or NAME=SLOT.tflite+CTC.tflite for a reader pair, either "
                         "+rows:ROWS.tflite for a row reader (each .json sidecar beside its model)")
    ap.add_argument("--work", type=Path, required=True, help="folder for the candidates' model folders")
    ap.add_argument("--holdout", type=int, default=datasets.HOLDOUT_EVERY, help="as train_reader.py --holdout")
    ap.add_argument("--holdout-offset", type=int, default=0,
                    help="hold out items i with i %% N == OFFSET (another offset: a disjoint hold-out)")
    ap.add_argument("--min-height", type=int, default=12, help="plates smaller than this (px) are not scored")
    ap.add_argument("--baseline", default="",
                    help="model folder to compare against (default: the bundled models, a reader pair)")
    ap.add_argument("--teacher-conf", type=float, default=None,
                    help="also score held-out scene plates read by the teacher at least this confident (as "
                         "train_reader.py --teacher-conf; the rule then asks --min-agree-gain of agreement and "
                         "allows --max-e2e-drop of e2e)")
    ap.add_argument("--min-agree-gain", type=float, default=0.05, help="agreement gain needed with --teacher-conf")
    ap.add_argument("--max-e2e-drop", type=float, default=0.02, help="e2e loss allowed with --teacher-conf")
    ap.add_argument("--min-gain", type=float, default=0.03, help="e2e gain a candidate needs over the baseline")
    ap.add_argument("--max-ocr-drop", type=float, default=0.01, help="pooled OCR loss a candidate may have")
    ap.add_argument("--max-region-drop", type=float, default=0.02, help="region accuracy loss a candidate may have")
    args = ap.parse_args()
    try:
        split = datasets.reader_holdout(args.holdout, args.holdout_offset, args.teacher_conf)
    except ValueError as e:
        ap.error(f"--holdout-offset: {e}")
    except FileNotFoundError as e:
        ap.error(f"--teacher-conf: {e}")
    crops, scenes = split.ocr_held, split.det_held
    human = None
    if args.teacher_conf is not None:
        human = {(it.path.name, b) for it in datasets.det_items("train") for b, t in zip(it.boxes, it.texts) if t}
    print(f"held-out train items: {len(crops)} OCR crops, {len(scenes)} detection scenes", flush=True)
    results = {"baseline": score(Path(args.baseline) if args.baseline else None, crops, scenes, args.min_height,
                                 human)}
    print(f"baseline {args.baseline or BUNDLED}: {results['baseline']}", flush=True)
    for spec in args.candidates:
        name, _, path = spec.partition("=")
        results[name] = score(folder_for(name, path, args.work), crops, scenes, args.min_height, human)
        print(f"{name}: {results[name]}", flush=True)
    keys = [k for k in results["baseline"] if not k.endswith("plates")]
    print("\nname       " + " ".join(f"{k:>14s}" for k in keys) + "  verdict")
    base = results["baseline"]
    for name, r in results.items():
        verdict = ""
        if name != "baseline":
            ok = (r["ocr"] >= base["ocr"] - args.max_ocr_drop and r["region"] >= base["region"] - args.max_region_drop)
            if human is None:
                ok = ok and r["e2e"] - base["e2e"] >= args.min_gain
            else:
                ok = (ok and r["agree"] - base["agree"] >= args.min_agree_gain
                      and r["e2e"] >= base["e2e"] - args.max_e2e_drop)
            verdict = "passes the rule" if ok else "rejected"
        print(f"{name:10s} " + " ".join(f"{r.get(k, float('nan')):14.4f}" for k in keys) + f"  {verdict}")
    if human is None:
        print(f"(e2e over {base['plates']} plates; rule: e2e gain >= {args.min_gain}, pooled OCR drop <= "
              f"{args.max_ocr_drop}, region drop <= {args.max_region_drop})")
    else:
        print(f"(e2e over {base['plates']} plates, agreement over {base.get('agree_plates', 0)}; rule: agreement gain "
              f">= {args.min_agree_gain}, e2e drop <= {args.max_e2e_drop}, pooled OCR drop <= {args.max_ocr_drop}, "
              f"region drop <= {args.max_region_drop})")


if __name__ == "__main__":
    main()
