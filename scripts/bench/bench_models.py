"""Per-stage latency of the shipped models (1 thread by default), printed as medians and ratios.

    python -m scripts.bench.bench_models [--threads 1] [--runs 200] [--runtime auto]

Stages: detector on a letterboxed 320x320 canvas; reader on real dev plate crops (us_states,
cycled), its model(s) alone and the whole read with decoding, without and with a region hint
(``us-ca``: the most plate templates to fit); vehicle classifier on one crop; and the whole
pipeline (fast and default modes) on real dev images upscaled to 1280x720.  Targets: detector
<= 15 ms per image, reader <= 3 ms per plate (checked on the whole read: with two readers, both
models and the decoding; and on the default mode's read, which reads an uncertain plate again
from ``models.reread_margins``: that re-read's own cost is printed too).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from edge_alpr.engine.preprocess import letterbox, resize
from edge_alpr.engine.reader import ReadSettings
from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts import SHARED, options

DATA = SHARED / "data"


def bench(fn, runs: int) -> tuple[float, float]:
    """Median and p90 in ms after a few warm-up calls."""
    for _ in range(5):
        fn()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1000)
    return statistics.median(t), float(np.percentile(t, 90))


def scenes(n: int) -> list[np.ndarray]:
    rows = [json.loads(x) for x in (DATA / "detection/romanian/labels.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["split"] == "dev"][:n]
    return [resize(decode((DATA / "detection/romanian" / r["image"]).read_bytes(), 10**8), 1280, 720) for r in rows]


def plate_images(n: int) -> list[np.ndarray]:
    """The first ``n`` us_states dev crops (each image is the plate: its box is the whole image)."""
    base = DATA / "ocr/us_states"
    rows = [json.loads(x) for x in (base / "labels.jsonl").read_text().splitlines() if x.strip()]
    return [decode((base / r["image"]).read_bytes(), 10**8) for r in [r for r in rows if r["split"] == "dev"][:n]]


def whole(img: np.ndarray) -> Box:
    return Box(0, 0, img.shape[1], img.shape[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--models", default="", help="model folder (default: the bundled models)")
    ap.add_argument("--runtime", default="auto", choices=("auto", "ai_edge_litert", "tflite_runtime"))
    options.add_fine_pass(ap)
    args = ap.parse_args()
    rec = Recognizer.from_config(ModelsConfig(directory=args.models, threads=args.threads, runtime=args.runtime,
                                              fine_pass=args.fine_pass))
    readers = " + ".join(m.name for m in rec.reader.models)
    print(f"runtime={rec.detector.model.runtime} threads={args.threads} runs={args.runs} reader={readers}")
    imgs = scenes(10)
    canvas, _ = letterbox(imgs[0], rec.detector.size)
    plates = plate_images(20)
    crops = [rec.reader.crop(img, whole(img)) for img in plates]  # as the service crops a detection
    views = [[c] + [rec.reader.crop(img, whole(img), m) for m in rec.cfg.reread_margins]
             for img, c in zip(plates, crops)]
    nxt = iter(range(10**9))

    def crop() -> np.ndarray:
        return crops[next(nxt) % len(crops)]

    def plate() -> np.ndarray:
        return plates[next(nxt) % len(plates)]

    default = RecognizeOptions()
    # decoded as the service decodes (its top-N, beam and region-prior settings)
    as_served = rec.read_settings()

    def reread() -> object:
        return rec.reader.decode([rec.reader.infer(c) for c in views[next(nxt) % len(views)]], as_served)

    n_reread = sum(rec.reader.read(c, as_served).score < rec.cfg.reread_below for c in crops)

    vcrop = resize(imgs[0][200:500, 400:800], rec.vehicle.in_w, rec.vehicle.in_h)
    rows = [
        ("detector (model only, 320x320)", bench(lambda: rec.detector.maps(canvas), args.runs), 15.0),
        ("detector (letterbox+model+decode)", bench(lambda: rec.detector.detect(imgs[0]), args.runs), None),
        (f"reader (model{'s' * (len(rec.reader.models) > 1)} only, per plate)",
         bench(lambda: [m.run(c) for c in [crop()] for m in rec.reader.models], args.runs), None),
        ("reader (whole read, per plate)", bench(lambda: rec.reader.read(crop()), args.runs), 3.0),
        ("reader (whole read, hint us-ca)",
         bench(lambda: rec.reader.read(crop(), ReadSettings(hint=("us-ca",))), args.runs), 3.0),
        (f"reader (default mode: re-read {n_reread}/{len(crops)})",
         bench(lambda: (lambda img: rec.read(img, whole(img), default))(plate()), args.runs), 3.0),
        (f"reader (re-read: {len(views[0])} views)",
         bench(reread, args.runs), None),
        ("vehicle (model only)", bench(lambda: rec.vehicle.model.run(vcrop), args.runs), None),
    ]
    it = iter(range(10**9))
    for mode in ("fast", "default"):
        opts = RecognizeOptions(mode=mode)

        def one(opts: RecognizeOptions = opts) -> None:
            rec.recognize(imgs[next(it) % len(imgs)], opts)

        rows.append(
            (
                f"pipeline 1280x720 mode={mode}",
                bench(one, max(20, args.runs // 5)),
                None,
            )
        )
    for name, (med, p90), target in rows:
        verdict = (
            ""
            if target is None
            else f"  target <= {target} ms: {'OK' if med <= target else 'MISSED'} ({med / target:.2f}x)"
        )
        print(f"{name:38s} median {med:7.2f} ms  p90 {p90:7.2f} ms{verdict}")
    fast, default = rows[-2][1][0], rows[-1][1][0]
    print(f"fast / default pipeline time ratio: {fast / default:.2f}")


if __name__ == "__main__":
    main()
