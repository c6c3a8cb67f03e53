"""Exact reads per plate layout: rendered plates training never drew, read by the service reader.

Why: the reader claims every European layout, and a layout it reads badly hides in any pooled
figure (one country among fifty).  This renders ``--per-layout`` plates of each layout variant
(one row, and two rows where the country has them; the US states pooled into ``us-1row``) with
seeds from 9,000,000 up, far from the reader training's (``reader_data.synthetic`` draws
100,000 and up), degrades and cuts each one as the training data does (``synth.plate_crop``),
and reads it through ``Recognizer.read`` (the service's own reader, default mode, no region
hint) with the plate's own box, as a detection hands it over: the reader stretches it to its
128 x 40 input, and a box about as tall as wide is also read row by row (``engine.rows``).

It prints, per variant: region, plates, the share read exactly, and a few misreads; then how
many variants read 0.97 or better.  Read the numbers as a map of weaknesses, not as accuracy:
the plates come from the generator the reader trained on.  A variant far below the rest shows a
layout the reader has not learnt (often an emblem read as a character).

    python -m scripts.bench.bench_layouts                     # 200 plates per variant, bundled models
    python -m scripts.bench.bench_layouts --per-layout 30     # a quick look
    python -m scripts.bench.bench_layouts --models models/quantized --only de,hr,at
"""

from __future__ import annotations

import argparse

import numpy as np

from edge_alpr.engine.regions import validate_regions
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts.data import synth
from scripts.data.reader_data import SCENE_SHARE  # plates on a real scene, as the training's
from scripts.data.synth_layout_base import Layout
from scripts.data.synth_layouts import LAYOUTS, variants
from scripts.progress import Progress

EVAL_SEED = 9_000_000  # far from every seed the training scripts draw from
GOOD = 0.97  # the share of exact reads a layout the reader has learnt should reach


def backgrounds(limit: int) -> list[np.ndarray]:
    """A few train scenes to set plates on (as ``reader_data`` does); none without the data."""
    try:
        from scripts.data import datasets

        items = datasets.det_items("train")
    except (ImportError, OSError, ValueError):
        return []
    step = max(1, len(items) // max(1, limit))
    return [datasets.load_rgb(it.path) for it in items[::step][:limit]]


def bench_variants(only: set[str]) -> list[tuple[str, list[Layout], bool]]:
    """(name, layouts drawn from, two rows) per variant; ``only`` keeps those regions."""
    out = [(name, [lay], two) for name, lay, two in variants()]
    out.append(("us-1row", [lay for lay in LAYOUTS if lay.us], False))
    return [v for v in out if not only or v[1][0].region.split("-")[0] in only]


def crop(rng: np.random.Generator, lays: list[Layout], two: bool, scenes: list[np.ndarray]) -> tuple[np.ndarray, str]:
    """One degraded plate of the variant, cut as the reader's training crops are, at its own size."""
    lay = lays[rng.integers(len(lays))]
    bg = scenes[rng.integers(len(scenes))] if scenes and rng.random() < SCENE_SHARE else None
    img, text, _ = synth.plate_crop(rng, bg, layout=lay, two=two)
    return img, text


def hint_code(lay: Layout) -> str:
    """The region a client would send for a plate of ``lay``: its country (``us`` for a state)."""
    return validate_regions([lay.region.split("-")[0]])[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-layout", type=int, default=200, help="plates per layout variant (default 200)")
    ap.add_argument("--models", default="", help="model folder (default: the bundled models/quantized)")
    ap.add_argument("--only", default="", help="comma-separated region codes to bench (default: all)")
    ap.add_argument("--scenes", type=int, default=40,
                    help="train scenes to set plates on (0: plain backgrounds; none without the data)")
    ap.add_argument("--seed", type=int, default=EVAL_SEED, help="first seed; variant k uses seed + k")
    ap.add_argument("--hint", action="store_true",
                    help="pass each plate's country as the request's regions, as an API client may "
                         "(default: no hint, the service's default)")
    args = ap.parse_args()
    if args.per_layout <= 0:
        ap.error("--per-layout must be > 0")
    chosen = bench_variants({c.strip().lower() for c in args.only.split(",") if c.strip()})
    if not chosen:
        ap.error(f"no layout of regions {args.only!r}")
    rec = Recognizer.from_config(ModelsConfig(directory=args.models, threads=1))
    scenes = backgrounds(args.scenes) if args.scenes > 0 else []
    rows = []
    bar = Progress("plates", args.per_layout * len(chosen))
    for k, (name, lays, two) in enumerate(chosen):
        rng = np.random.default_rng(args.seed + k)
        options = RecognizeOptions(regions=(hint_code(lays[0]),) if args.hint else ())  # default mode
        hits, misreads = 0, []
        for _ in range(args.per_layout):
            img, text = crop(rng, lays, two, scenes)
            plate = rec.read(img, Box(0, 0, img.shape[1], img.shape[0]), options).plate
            if plate == text:
                hits += 1
            elif len(misreads) < 3:
                misreads.append(f"{text}->{plate or '-'}")
            bar.update()
        rows.append((name, lays[0].region.split("-")[0], hits / args.per_layout, misreads))
    bar.close()
    print(f"{args.per_layout} plates per layout variant, seeds {args.seed}+, "
          f"{'on train scenes' if scenes else 'on plain backgrounds'}, models: {args.models or 'bundled'}, "
          f"{'region hint: the plate' + chr(39) + 's country' if args.hint else 'no region hint'}")
    print(f"{'layout':18s} {'region':6s} {'n':>5s} {'exact':>6s}  examples of misreads")
    for name, region, exact, misreads in rows:
        print(f"{name:18s} {region:6s} {args.per_layout:5d} {exact:6.3f}  {' '.join(misreads)}")
    good = sum(exact >= GOOD for _, _, exact, _ in rows)
    mean = float(np.mean([exact for _, _, exact, _ in rows]))
    print(f"{good} of {len(rows)} layout variants read >= {GOOD}; mean exact {mean:.3f}")


if __name__ == "__main__":
    main()
