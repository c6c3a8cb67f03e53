"""Fit the maps that turn the reader's and the detector's raw scores into probabilities.

Why: the API's ``score`` should be the probability that the plate text is exactly right, and
``dscore`` the probability that the box is a plate, so that ``threshold_o`` / ``threshold_d`` keep
reads / boxes that are right at least that often.  The raw scores rank well but are not
probabilities.  This script reads items held out of training through the service's own pipeline
(``Recognizer``, as configured for serving, raw scores), pairs each returned score with whether
it was right, and fits a monotone map (isotonic regression, ``edge_alpr/engine/calibration.py``).

Items (train split, never dev): the reader's hold-out of ``train_reader.py --holdout N``
(``datasets.reader_holdout``: every N-th OCR crop, read as a whole-image box, and the plates of
every N-th detection scene, as the service detects and reads them; a read counts where its box
has IoU >= 0.5 with a labelled plate that has text).  A masked character (``?`` in a label, the
grey rectangles of the uc3m sets) matches any read character (``evaluate.same``): the reader
reads a hidden character as a stand-in with the probability it gives "hidden" (``fold_unknown``
in ``edge_alpr/engine/reader.py``), so such a score is the probability of a reading right at
every character that can be seen; ``--masked skip`` leaves these plates out (the uc3m scenes
are the only held-out scenes with texts, so that also leaves out every scene).  The ECE is
printed per group (masked or not, crop or scene) as well.  For ``dscore`` (``--detector``):
every detection at or above ``--det-floor`` in the detector's held-out train scenes
(``datasets.holdout``, every ``HOLDOUT_EVERY``-th, offset 0), right when its IoU with a
labelled box is >= 0.5.

``--check-dev`` measures the fitted maps on the dev split too (never fitted on).  A reader whose
recorded training command has no ``--holdout`` saw these items in training: the script says so
and records it beside the map.

The map is checked by cross-fitting (fit on one half of the items, measure the expected
calibration error (ECE) on the other, both ways), then fitted on all of them; the reliability
table and ECE before and after are printed.  ``--write`` stores the map in the sidecar (the slot
reader's for a reader pair, with the partner's sha256; the detector's), where the loader applies
it.  Calibrate again after retraining a model or changing how the service reads.

    python -m scripts.eval.calibrate_reader                      # measure the bundled models, write nothing
    python -m scripts.eval.calibrate_reader --detector --write   # and store both maps in their sidecars
    python -m scripts.eval.calibrate_reader --models /tmp/cand --holdout 10 --write
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_alpr.engine.calibration import Calibration, ece, reliability
from edge_alpr.engine.pair import PairedReader
from edge_alpr.engine.states import StatedReader
from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts.data import datasets
from scripts.eval import evaluate
from scripts.progress import track
from scripts.train import tfcommon


@dataclass
class Scored:
    """Raw scores and whether each was right, with where each item came from."""

    score: list[float]
    right: list[bool]
    group: list[str]  # "ocr", "scene" or "masked ..." (for the per-group ECE)
    source: list[str]  # the image: both cross-fitting halves never share one


def read_items(rec: Recognizer, split: datasets.ReaderSplit, masked: str) -> Scored:
    """The held-out OCR crops and scene plates read as served, with raw scores."""
    out = Scored([], [], [], [])
    opts = RecognizeOptions(threshold_o=0.0)

    def add(score: float, plate: str, text: str, group: str, source: str) -> None:
        if "?" in text and masked == "skip":
            return
        out.score.append(score)
        out.right.append(evaluate.same(plate, text))
        out.group.append(("masked " if "?" in text else "") + group)
        out.source.append(source)

    for it in track(split.ocr_held, "held-out OCR crops"):
        img = decode(it.path.read_bytes(), evaluate.MAX_PIXELS)
        pr = rec.read(img, Box(0, 0, img.shape[1], img.shape[0]), opts)
        add(pr.score, pr.plate, it.text, "ocr", str(it.path))
    for sc in track(split.det_held, "held-out scenes (reads)"):
        gts = [(Box(*b), t) for b, t in zip(sc.boxes, sc.texts, strict=True) if t]
        if not gts:
            continue
        results = rec.recognize(decode(sc.path.read_bytes(), evaluate.MAX_PIXELS), opts)
        for r in results:
            iou, text = max(((r.box.iou(g), t) for g, t in gts), key=lambda x: x[0])
            if iou >= 0.5:  # a read of an unlabelled box has no truth to compare with
                add(r.read.score, r.read.plate, text, "scene", str(sc.path))
    return out


def detect_items(rec: Recognizer, scenes: list[datasets.DetItem], floor: float) -> Scored:
    """Every detection >= ``floor`` in the held-out scenes: raw dscore, and IoU >= 0.5 with a label."""
    out = Scored([], [], [], [])
    opts = RecognizeOptions(threshold_d=floor)
    for sc in track(scenes, "held-out scenes (detections)"):
        gts = [Box(*b) for b in sc.boxes]
        for d in rec.detect(decode(sc.path.read_bytes(), evaluate.MAX_PIXELS), opts):
            out.score.append(d.score)
            out.right.append(any(d.box.iou(g) >= 0.5 for g in gts))
            out.group.append(sc.dataset)
            out.source.append(str(sc.path))
    return out


def halves(sources: list[str], seed: int) -> np.ndarray:
    """A seeded random half of the source images (True: first half), every item of an image together."""
    names = sorted(set(sources))
    rng = np.random.default_rng(seed)
    first = set(np.array(names)[rng.permutation(len(names))[: len(names) // 2]].tolist())
    return np.array([s in first for s in sources])


def per_group(data: Scored, p: np.ndarray, bins: int) -> None:
    """ECE of ``p`` within each group of items (and of the raw scores), where there are several."""
    g, ok, raw = np.array(data.group), np.array(data.right, bool), np.array(data.score)
    groups = sorted(set(data.group))
    if len(groups) > 1:
        print("ECE per group (calibrated; raw): " + ", ".join(
            f"{k} n={int((g == k).sum())} {ece(p[g == k], ok[g == k], bins):.3f}; "
            f"{ece(raw[g == k], ok[g == k], bins):.3f}" for k in groups))


def noise_floor(p: np.ndarray, bins: int, seed: int, draws: int = 200) -> float:
    """The mean ECE of a perfectly calibrated predictor on these predictions: outcomes drawn with
    the predicted probabilities.  Why: binned ECE on a few hundred items is mostly sampling noise;
    a measured ECE near this value is as good as the items can show."""
    rng = np.random.default_rng(seed)
    return float(np.mean([ece(p, rng.random(len(p)) < p, bins) for _ in range(draws)]))


def report(title: str, data: Scored, bins: int, seed: int, prior: float) -> tuple[Calibration, dict]:
    """Print the reliability tables and ECEs; return the map fitted on all items and its record."""
    s, ok = np.array(data.score), np.array(data.right, bool)
    half = halves(data.source, seed)
    crossed = np.empty(len(s))
    for part in (half, ~half):  # each half scored by the map fitted on the other
        crossed[part] = [Calibration.fit(s[~part], ok[~part], prior)(v) for v in s[part]]
    cal = Calibration.fit(s, ok, prior)
    fitted = np.array([cal(v) for v in s])
    raw_ece, cross_ece, in_ece = ece(s, ok, bins), ece(crossed, ok, bins), ece(fitted, ok, bins)
    print(f"\n== {title}: {len(s)} items, {ok.mean():.3f} right; {len(cal.x)} knots")
    for name, p in (("raw score", s), ("cross-fitted (each half mapped by the other's fit)", crossed)):
        print(f"-- reliability, {name} ({bins} equal-count bins)")
        print(f"{'score range':>17s} {'n':>5s} {'predicted':>10s} {'observed':>9s}")
        for r in reliability(p, ok, bins):
            print(f"{r['lo']:8.3f}-{r['hi']:<8.3f} {r['n']:5d} {r['predicted']:10.3f} {r['observed']:9.3f}")
    floor = noise_floor(crossed, bins, seed)
    print(f"ECE raw {raw_ece:.4f}  cross-fitted {cross_ece:.4f}  fitted on all (in-sample) {in_ece:.4f}  "
          f"(a perfectly calibrated map would show {floor:.4f} on these items by chance)")
    print("map: " + " ".join(f"{x:.3f}->{y:.3f}" for x, y in zip(cal.x, cal.y, strict=True)))
    per_group(data, crossed, bins)
    table = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
             for r in reliability(crossed, ok, bins)]
    record = {"n": int(len(s)), "right": round(float(ok.mean()), 4), "ece": round(cross_ece, 4),
              "ece_raw": round(raw_ece, 4), "ece_in_sample": round(in_ece, 4),
              "ece_noise_floor": round(floor, 4), "prior": prior,
              "ece_method": f"{bins} equal-count bins; cross-fitted on two halves of the source images",
              "table": table}
    return cal, record


def check(title: str, cal: Calibration, data: Scored, bins: int, seed: int) -> dict:
    """The fitted map on other items (dev: measured, never fitted on): reliability and ECE."""
    s, ok = np.array(data.score), np.array(data.right, bool)
    mapped = np.array([cal(v) for v in s])
    print(f"\n== check on {title}: {len(s)} items, {ok.mean():.3f} right")
    print(f"{'score range':>17s} {'n':>5s} {'predicted':>10s} {'observed':>9s}")
    for r in reliability(mapped, ok, bins):
        print(f"{r['lo']:8.3f}-{r['hi']:<8.3f} {r['n']:5d} {r['predicted']:10.3f} {r['observed']:9.3f}")
    out = {"n": int(len(s)), "ece_raw": round(ece(s, ok, bins), 4), "ece": round(ece(mapped, ok, bins), 4),
           "ece_noise_floor": round(noise_floor(mapped, bins, seed), 4)}
    print(f"ECE raw {out['ece_raw']:.4f}  mapped {out['ece']:.4f}  (chance level {out['ece_noise_floor']:.4f})")
    per_group(data, mapped, bins)
    return out


def write(side: Path, cal: Calibration, record: dict, fitted_on: str, **extra: str) -> None:
    """Store the map and its record under ``calibration`` in a sidecar (atomically)."""
    meta = json.loads(side.read_text())
    meta["calibration"] = {**cal.to_meta(), **extra, "model_sha256": meta["sha256"], "fitted_on": fitted_on,
                           "fitted": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **record}
    tfcommon.write_json(side, meta)
    print(f"wrote the map into {side}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="model folder as the service loads it (default: bundled)")
    ap.add_argument("--reader-pair", default="auto", choices=("auto", "on", "off"),
                    help="as the service's models.reader_pair: calibrate the reader pair or the slot reader alone")
    ap.add_argument("--holdout", type=int, default=datasets.HOLDOUT_EVERY,
                    help="the reader's train_reader.py --holdout N: every N-th train item was held out")
    ap.add_argument("--holdout-offset", type=int, default=0, help="as train_reader.py --holdout-offset")
    ap.add_argument("--masked", choices=("lenient", "skip"), default="lenient",
                    help="plates with masked characters (?): keep them, a ? matching any read character "
                         "(default), or leave them out")
    ap.add_argument("--prior", type=float, default=1.0,
                    help="pseudo-count of the map's block rates, (right + p) / (n + 2p): no 0 or 1 from few items")
    ap.add_argument("--bins", type=int, default=10, help="equal-count bins of the reliability tables and ECE")
    ap.add_argument("--seed", type=int, default=0, help="seed of the cross-fitting halves")
    ap.add_argument("--detector", action="store_true", help="also calibrate dscore on the detector's held-out scenes")
    ap.add_argument("--det-floor", type=float, default=0.3,
                    help="lowest raw detector score collected (the lowest threshold_d worth mapping)")
    ap.add_argument("--check-dev", action="store_true",
                    help="also measure the fitted maps on the dev split (OCR crops; scenes for dscore): "
                         "never fitted on, recorded beside the map as dev_check")
    ap.add_argument("--write", action="store_true", help="store the fitted maps in the sidecars")
    ap.add_argument("--limit", type=int, default=0, help="read only the first N items of each list (a quick try)")
    args = ap.parse_args()
    if args.bins < 5:
        ap.error("--bins: a reliability table needs at least 5 bins")
    try:
        split = datasets.reader_holdout(args.holdout, args.holdout_offset)
    except ValueError as e:
        ap.error(f"--holdout-offset: {e}")
    if args.limit:
        split = datasets.ReaderSplit([], split.ocr_held[: args.limit], [], split.det_held[: args.limit])
    rec = Recognizer.from_config(ModelsConfig(directory=args.models, reader_pair=args.reader_pair))
    rec.reader.calibration = Calibration()  # measure the raw scores, whatever the sidecar holds
    rec.dscore = Calibration()
    # where the map goes: the slot sidecar for a joint pair, the CTC sidecar for a stated reader
    if isinstance(rec.reader, PairedReader):
        owner, extra = rec.reader.slot, {"reads": "pair", "partner_sha256": rec.reader.ctc.model.sha256}
    elif isinstance(rec.reader, StatedReader):
        owner, extra = rec.reader.text, {"reads": "states", "partner_sha256": rec.reader.states.model.sha256}
    else:
        owner, extra = rec.reader, {"reads": "single"}
    if rec.rows is not None:  # the map holds only with the row reader it was fitted with
        extra["rows_sha256"] = rec.rows.model.sha256
    names = "+".join(m.name for m in rec.reader.models)
    print(f"reader {names}; held-out train items: {len(split.ocr_held)} OCR crops, {len(split.det_held)} scenes "
          f"(--holdout {args.holdout}, offset {args.holdout_offset})", flush=True)
    cal, record = report(f"read score ({names})", read_items(rec, split, args.masked), args.bins, args.seed,
                         args.prior)
    where = (f"train items held out by --holdout {args.holdout} offset {args.holdout_offset} "
             f"(datasets.reader_holdout): OCR crops and scene plates read as served; masked: {args.masked}")
    if args.check_dev:
        dev = [c for c in datasets.ocr_items("dev", datasets.OCR_SETS + datasets.OCR_EXTRA)][: args.limit or None]
        record["dev_check"] = check("dev OCR crops", cal, read_items(rec, datasets.ReaderSplit([], dev, [], []),
                                                                     args.masked), args.bins, args.seed)
    # a model made from another (a spliced region layer) records its source's hold-out in training_data
    held_out = any("--holdout" in str(m.meta.get("command", ""))
                   or (m.meta.get("training_data") or {}).get("held_out_every") for m in rec.reader.models)
    if not held_out:
        print("note: the reader's recorded training command has no --holdout: these items were likely in its "
              "training data, so the map may promise more than new plates get (see dev_check)", flush=True)
        where += "; the reader was not trained with --holdout (these items were in its training data)"
    if args.write:
        write(_sidecar(args.models, owner.model.name), cal, record, where, **extra)
    if args.detector:
        det_scenes = datasets.holdout(datasets.det_items("train"), datasets.HOLDOUT_EVERY)[1][: args.limit or None]
        dcal, drec = report(f"dscore ({rec.detector.model.name}, detections >= {args.det_floor})",
                            detect_items(rec, det_scenes, args.det_floor), args.bins, args.seed, args.prior)
        if args.check_dev:
            drec["dev_check"] = check("dev scenes (detections)", dcal, detect_items(
                rec, datasets.det_items("dev")[: args.limit or None], args.det_floor), args.bins, args.seed)
        if args.write:
            write(_sidecar(args.models, rec.detector.model.name), dcal, drec,
                  f"the detector's held-out train scenes (every {datasets.HOLDOUT_EVERY}-th, offset 0): every "
                  f"detection >= {args.det_floor}, right at IoU >= 0.5 with a labelled box")


def _sidecar(models: str, stem: str) -> Path:
    """The sidecar of a loaded model in the model folder."""
    from edge_alpr.engine.runtime import BUNDLED

    return (Path(models) if models else BUNDLED) / f"{stem}.json"


if __name__ == "__main__":
    main()
