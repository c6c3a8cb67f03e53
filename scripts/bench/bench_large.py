"""Large photos in default mode, the current pixel conversions against the previous ones, side by side.

    python -m scripts.bench.bench_large [--rounds 5] [--threads 1] [--sizes 1920x1080,4000x3000]

Each image is a real scene (the bundled samples and the dev scenes of rxg4e, the largest real
scenes in the data) resized to a camera or phone size and encoded as JPEG q92, then decoded and
read in default mode as the API does (``imaging.decode``, ``Recognizer.recognize``).  Every
image runs once with the previous conversions patched in (``PREVIOUS``: a tile, band or crop
handed to PIL through a contiguous copy and ``Image.fromarray``) and once with the current ones,
alternating which goes first, in one process, so both see the same machine load.  Printed per
size: the median request (ms) of each and the median of the paired ratios (current / previous,
each image's two runs side by side: steadier than the ratio of the medians on a shared machine), the same for the decode
alone, and how many requests' results differed between the two (none should).

Why: the conversions around the models are a large share of a big photo's time on one thread
and change from one commit to the next; this keeps their effect measurable on a busy machine.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edge_alpr import imaging
from edge_alpr.engine import preprocess
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from scripts.data import datasets

SAMPLES = Path(__file__).resolve().parents[2] / "edge_alpr" / "samples"
SIZES = ((1600, 1200), (1920, 1080), (2560, 1440), (4000, 2250), (4000, 3000))
MAX_PIXELS = 40_000_000


def previous_pil(image: np.ndarray) -> Image.Image:
    """``preprocess._pil`` before it read rows in place: a contiguous copy, then ``fromarray``."""
    return Image.fromarray(np.ascontiguousarray(image))


PREVIOUS: tuple[tuple[Any, str, Callable[..., Any]], ...] = (
    (preprocess, "_pil", previous_pil),
)


@contextmanager
def previous() -> Any:
    """The previous conversions in place of the current ones for the block."""
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in PREVIOUS]
    for owner, attr, fn in PREVIOUS:
        setattr(owner, attr, fn)
    try:
        yield
    finally:
        for owner, attr, fn in saved:
            setattr(owner, attr, fn)


def scenes(limit: int) -> list[Image.Image]:
    """The bundled samples and up to ``limit`` rxg4e dev scenes, as RGB images."""
    paths = sorted(SAMPLES.glob("*.jpg"))
    try:
        paths += sorted(it.path for it in datasets.det_items("dev", ("rxg4e",)))[:limit]
    except FileNotFoundError:
        print("(no data beside the repo: the bundled samples only)")
    return [Image.open(p).convert("RGB") for p in paths]


def photo(scene: Image.Image, size: tuple[int, int]) -> bytes:
    """``scene`` cut to the aspect of ``size`` (centred), resized to it, as JPEG q92."""
    w, h = scene.size
    cw, ch = min(w, round(h * size[0] / size[1])), min(h, round(w * size[1] / size[0]))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    buf = io.BytesIO()
    scene.crop((x0, y0, x0 + cw, y0 + ch)).resize(size, Image.Resampling.BICUBIC).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def run(rec: Recognizer, data: bytes, opts: RecognizeOptions) -> tuple[float, float, str]:
    """One request: decode ms, whole ms, and the results' text (to compare the two variants)."""
    t0 = time.perf_counter()
    image = imaging.decode(data, MAX_PIXELS)
    t1 = time.perf_counter()
    results = rec.recognize(image, opts)
    t2 = time.perf_counter()
    return (t1 - t0) * 1000.0, (t2 - t0) * 1000.0, repr(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="runs of each image per variant (default 5)")
    ap.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    ap.add_argument("--scenes", type=int, default=6, help="rxg4e dev scenes beside the samples (default 6)")
    ap.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in SIZES), help="WxH,... (default: %(default)s)")
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    rec = Recognizer.from_config(ModelsConfig(threads=args.threads))
    opts = RecognizeOptions(mode="default")
    pictures = scenes(args.scenes)
    times: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    ratios: dict[tuple[str, str], list[float]] = defaultdict(list)
    differ = 0
    for w, h in sizes:
        label = f"{w}x{h}"
        blobs = [photo(p, (w, h)) for p in pictures]
        run(rec, blobs[0], opts)  # warm-up of this size's caches
        for r in range(args.rounds):
            for data in blobs:
                out = {}
                for variant in (("previous", "current") if r % 2 == 0 else ("current", "previous")):
                    if variant == "previous":
                        with previous():
                            out[variant] = run(rec, data, opts)
                    else:
                        out[variant] = run(rec, data, opts)
                    times[(label, variant, "decode")].append(out[variant][0])
                    times[(label, variant, "request")].append(out[variant][1])
                for i, part in enumerate(("decode", "request")):
                    ratios[(label, part)].append(out["current"][i] / out["previous"][i])
                differ += out["previous"][2] != out["current"][2]
    print(f"default mode, {args.threads} thread(s), {len(pictures)} scenes per size, {args.rounds} rounds; "
          "median ms, previous -> current (median paired ratio)")
    print(f"{'size':>10s} {'request':>28s} {'decode':>28s}")
    for w, h in sizes:
        label = f"{w}x{h}"
        cells = []
        for part in ("request", "decode"):
            a = statistics.median(times[(label, "previous", part)])
            b = statistics.median(times[(label, "current", part)])
            cells.append(f"{a:8.1f} -> {b:7.1f} ({statistics.median(ratios[(label, part)]):4.2f})")
        print(f"{label:>10s} {cells[0]:>28s} {cells[1]:>28s}")
    print(f"requests whose results differ between the two: {differ}")


if __name__ == "__main__":
    main()
