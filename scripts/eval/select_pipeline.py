"""Compare pipeline settings (``models:`` config values) on held-out TRAIN scenes, never dev.

Why: inference settings such as the tiling of small images change what the detector finds as
much as new weights do, and they must be chosen the same way: on train images the detector
never trained on (``train_detector_stream.py --holdout 10`` keeps every 10th train scene out
of its stream).  Every variant runs the service's own pipeline (``Recognizer.detect`` and
``recognize``) through ``evaluate.eval_scene``, so detection and end-to-end reads are scored
exactly as ``evaluate.py`` scores dev.

    python -m scripts.eval.select_pipeline T=tile_min_side=0
    python -m scripts.eval.select_pipeline T2=tile_min_side=0,tile_grid=2 --models /tmp/cand
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import defaultdict

from edge_alpr.errors import ConfigError
from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts.data import datasets
from scripts.eval import evaluate


def variant(spec: str, models: str) -> tuple[str, ModelsConfig]:
    """``NAME=key=value,key=value`` -> (NAME, the config with those values; types as in config.yaml)."""
    name, _, body = spec.partition("=")
    fields = {f.name: f.type for f in dataclasses.fields(ModelsConfig)}
    obj: dict = {"directory": models}
    for item in filter(None, body.split(",")):
        key, _, raw = item.partition("=")
        kind = fields.get(key)
        if kind is None:
            raise ConfigError(f"{spec}: {key!r} is not a models setting; known: {', '.join(sorted(fields))}")
        if str(kind) == "bool" and raw.lower() not in ("true", "false"):
            raise ConfigError(f"{spec}: {key} must be true or false, got {raw!r}")
        obj[key] = {"int": int, "float": float, "bool": lambda v: v.lower() == "true"}.get(str(kind), str)(raw)
    return name, ModelsConfig.from_dict(obj, f"variant {name}")


def score(cfg: ModelsConfig, scenes: list[datasets.DetItem], min_h: int) -> dict[str, dict[str, float]]:
    """Per-set and pooled detection and end-to-end results of one setting."""
    rec = Recognizer.from_config(cfg)
    tallies: dict[str, evaluate.Tally] = defaultdict(evaluate.Tally)
    for sc in scenes:
        img = decode(sc.path.read_bytes(), evaluate.MAX_PIXELS)
        gts = [(Box(*b), t or None) for b, t in zip(sc.boxes, sc.texts)]
        evaluate.eval_scene(rec, img, gts, tallies[sc.dataset], RecognizeOptions(), min_h, False)
    pooled = evaluate.Tally()
    for t in list(tallies.values()):
        pooled.tp, pooled.fn, pooled.fp = pooled.tp + t.tp, pooled.fn + t.fn, pooled.fp + t.fp
        pooled.reads += t.reads
        pooled.chars += t.chars
        pooled.topn += t.topn
        for k, v in t.times.items():
            pooled.times[k] += v
    tallies["pooled"] = pooled
    out = {}
    for key, t in sorted(tallies.items()):
        s = t.summary()
        r, p = s.get("det_recall", 0.0), s.get("det_precision", 0.0)
        out[key] = {**s, "det_f1": round(2 * r * p / max(r + p, 1e-9), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="+", help="NAME=key=value[,key=value...] (models: settings)")
    ap.add_argument("--models", default="", help="model folder (default: the bundled models)")
    ap.add_argument("--holdout", type=int, default=datasets.HOLDOUT_EVERY, help="as train_detector_stream.py --holdout")
    ap.add_argument("--min-height", type=int, default=12, help="plates smaller than this (px) are not scored")
    ap.add_argument("--sets", type=datasets.det_sets, default=datasets.DET_SETS,
                    help=f"detection sets, comma-separated (default: {','.join(datasets.DET_SETS)}; the hold-out "
                         "is every N-th of their train scenes in this order, as the detector trainers count it)")
    ap.add_argument("--teacher-conf", type=float, default=None,
                    help="also score plates without a human text by the teacher's read at this confidence "
                         "(agreement with the teacher, not accuracy; needs scripts/data/teacher_reads.py)")
    args = ap.parse_args()
    try:
        arms = [("baseline", ModelsConfig.from_dict({"directory": args.models}))]
        arms += [variant(v, args.models) for v in args.variants]
    except (ConfigError, ValueError) as e:
        ap.error(str(e))
    try:
        scenes = datasets.det_items("train", args.sets, args.teacher_conf)
    except FileNotFoundError as e:
        ap.error(f"--teacher-conf: {e}")
    _, held = datasets.holdout(scenes, args.holdout)
    print(f"{len(held)} held-out train scenes", flush=True)
    keys = ("det_recall", "det_precision", "det_f1", "exact_read", "plates_read", "detect_ms_median")
    for name, cfg in arms:
        res = score(cfg, held, args.min_height)
        for group, m in res.items():
            print(f"{name:10s} {group:12s} " + " ".join(f"{k}={m.get(k, float('nan'))}" for k in keys), flush=True)


if __name__ == "__main__":
    main()
