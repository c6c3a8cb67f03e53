"""Where a plate-reader request spends its time, stage by stage, per dev set and frame size.

    python -m scripts.bench.bench_profile [--mode default] [--limit 40] [--threads 1] [--json OUT]

Runs the service's own pipeline (``Recognizer.recognize``, as the API calls it) over dev scenes
of every detection set and over dev scenes resized to 1280x720 and 1600x1200, and times each
stage on its own: image decode, the detector's letterbox, model and map decode for the
whole-image pass and for the tiles, the merge across passes, the rescue of weak detections, the
reads (crop, reader model(s), string decode, calibration), the re-reads of uncertain plates,
the vehicle classifier and the JSON of the response.  A stage's time excludes the stages it
calls (a read inside the rescue is counted as ``rescue > read > ...``), so the rows add up to
the whole request.  Printed: mean ms per image of each stage and its share, calls per image,
and the median of the whole request, one column per set.

Why a script and not a one-off: speed work changes which stages run and how often; the same
table before and after a change shows where the time went.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edge_alpr import imaging
from edge_alpr.api import events
from edge_alpr.engine import detector as detector_module
from edge_alpr.engine import looks as looks_module
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from scripts import options
from scripts.data import datasets
from scripts.progress import Progress

FRAMES = ((1280, 720), (1600, 1200))
MAX_PIXELS = 40_000_000


class Profiler:
    """Exclusive wall time per stage path, for one image at a time."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.child: list[float] = []  # time spent in wrapped callees of each open stage
        self.times: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        path = " > ".join([*self.stack, name])
        self.stack.append(name)
        self.child.append(0.0)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            total = time.perf_counter() - t0
            inner = self.child.pop()
            self.stack.pop()
            self.times[path] += total - inner
            self.calls[path] += 1
            if self.child:
                self.child[-1] += total

    def wrap(self, owner: Any, attr: str, name: str | Callable[[], str]) -> None:
        """Replace ``owner.attr`` by a timed call of itself (``name`` may be chosen per call)."""
        fn = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name() if callable(name) else name):
                return fn(*args, **kwargs)

        setattr(owner, attr, timed)

    def take(self) -> tuple[dict[str, float], dict[str, int]]:
        """This image's stage times (ms) and call counts; the profiler starts afresh."""
        out = {k: v * 1000.0 for k, v in self.times.items()}, dict(self.calls)
        self.times, self.calls = defaultdict(float), defaultdict(int)
        return out


def instrument(rec: Recognizer, prof: Profiler) -> None:
    """Time every stage of ``rec`` (the first view of a read apart from its re-read views)."""
    views = [0]

    def reader_model() -> str:
        views[0] += 1
        return "reader model(s)" if views[0] == 1 else "re-read model(s)"

    read = rec._read

    def counted_read(*args: Any, **kwargs: Any) -> Any:
        views[0] = 0
        return read(*args, **kwargs)

    rec._read = counted_read  # type: ignore[method-assign]
    prof.wrap(rec, "_read", "read")
    prof.wrap(rec, "_rescue", "rescue")
    prof.wrap(rec.detector, "detect_pass", "detect: whole image")
    prof.wrap(rec.detector, "detect_tiled", "detect: tiles")
    prof.wrap(looks_module, "place", "place looks")
    prof.wrap(looks_module, "detect_looks", "detect: looks")
    prof.wrap(looks_module, "letterbox_to", "letterbox")
    prof.wrap(looks_module, "decode", "map decode")
    prof.wrap(rec.detector, "merge", "merge passes")
    prof.wrap(rec.detector, "maps", "detector model")
    prof.wrap(detector_module, "letterbox", "letterbox")
    prof.wrap(detector_module, "decode", "map decode")
    prof.wrap(rec.reader, "crop", "crop")
    prof.wrap(rec.reader, "infer", reader_model)
    prof.wrap(rec.reader, "decode", "string decode")
    prof.wrap(rec.reader, "calibrate", "calibrate")
    prof.wrap(rec.vehicle, "classify", "vehicle")


def jpeg(path: Path, size: tuple[int, int] | None) -> bytes:
    """The file's bytes, or the scene resized to ``size`` and encoded as a camera would (JPEG q90)."""
    if size is None:
        return path.read_bytes()
    buf = io.BytesIO()
    Image.open(path).convert("RGB").resize(size, Image.BILINEAR).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def profile(rec: Recognizer, prof: Profiler, blobs: list[bytes], opts: RecognizeOptions,
            label: str) -> dict[str, Any]:
    """Stage means (ms per image), calls per image and the whole request's median for ``blobs``."""
    per_image: list[tuple[dict[str, float], dict[str, int]]] = []
    totals = []
    bar = Progress(label, len(blobs))
    for data in blobs:
        t0 = time.perf_counter()
        with prof.stage("decode image"):
            image = imaging.decode(data, MAX_PIXELS)
        results = rec.recognize(image, opts)
        with prof.stage("JSON"):
            json.dumps(events.read_results(None, False, None, results, image, None, datetime.now(timezone.utc)))
        totals.append((time.perf_counter() - t0) * 1000.0)
        per_image.append(prof.take())
        bar.update()
    bar.close()
    stages = sorted({k for t, _ in per_image for k in t})
    n = len(per_image)
    return {
        "images": n,
        "median_ms": statistics.median(totals),
        "mean_ms": statistics.fmean(totals),
        "stages": {k: {"ms": sum(t.get(k, 0.0) for t, _ in per_image) / n,
                       "calls": sum(c.get(k, 0) for _, c in per_image) / n} for k in stages},
    }


def table(columns: dict[str, dict[str, Any]]) -> str:
    """One row per stage path, one column per set: mean ms/image (share %, calls/image)."""
    names = list(columns)
    stages = sorted({k for c in columns.values() for k in c["stages"]})
    head = f"{'stage (mean ms per image, share, calls per image)':52s}" + "".join(f"{n:>24s}" for n in names)
    lines = [head, "-" * len(head)]
    for s in stages:
        cells = []
        for n in names:
            st = columns[n]["stages"].get(s)
            cells.append(f"{st['ms']:7.2f} {100 * st['ms'] / columns[n]['mean_ms']:3.0f}% x{st['calls']:<5.1f}"
                         if st else "-")
        lines.append(f"{s:52s}" + "".join(f"{c:>24s}" for c in cells))
    lines.append("-" * len(head))
    lines.append(f"{'whole request: mean ms':52s}" + "".join(f"{columns[n]['mean_ms']:>24.1f}" for n in names))
    lines.append(f"{'whole request: median ms':52s}" + "".join(f"{columns[n]['median_ms']:>24.1f}" for n in names))
    lines.append(f"{'images':52s}" + "".join(f"{columns[n]['images']:>24d}" for n in names))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", default="default", choices=("default", "fast", "redaction"))
    ap.add_argument("--limit", type=int, default=40, help="dev scenes per set (default 40; 0 = all)")
    ap.add_argument("--frames", type=int, default=20,
                    help="dev scenes resized to each of 1280x720 and 1600x1200 (default 20)")
    ap.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1, as a Pi core)")
    ap.add_argument("--models", default="", help="model folder (default: the bundled models)")
    ap.add_argument("--tile-gate", type=float, help="models.tile_gate (default: the config's; 0 runs every tile)")
    options.add_fine_pass(ap)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    try:
        items = datasets.det_items("dev", datasets.DET_SETS + datasets.TEACHER_SETS)
    except FileNotFoundError as e:
        ap.error(f"the dev scenes are read from ../shared/data ({e}); clone the data beside the repo")
    cfg = ModelsConfig(directory=args.models, threads=args.threads, fine_pass=args.fine_pass)
    rec = Recognizer.from_config(cfg if args.tile_gate is None else replace(cfg, tile_gate=args.tile_gate))
    prof = Profiler()
    instrument(rec, prof)
    opts = RecognizeOptions(mode=args.mode)
    by_set: dict[str, list[Path]] = defaultdict(list)
    for it in items:
        by_set[it.dataset].append(it.path)
    columns: dict[str, dict[str, Any]] = {}
    rng = np.random.default_rng(0)
    for name, paths in sorted(by_set.items()):
        picked = paths if not args.limit or len(paths) <= args.limit else sorted(
            rng.choice(np.array(paths, dtype=object), args.limit, replace=False))
        columns[name] = profile(rec, prof, [jpeg(p, None) for p in picked], opts, name)
    scenes = sorted(p for name in ("andrewmvd", "romanian", "uc3m") for p in by_set.get(name, []))
    chosen = [scenes[i] for i in rng.choice(len(scenes), min(args.frames, len(scenes)), replace=False)]
    for w, h in FRAMES:
        columns[f"{w}x{h}"] = profile(rec, prof, [jpeg(p, (w, h)) for p in chosen], opts, f"{w}x{h}")
    print(f"mode {args.mode}, {args.threads} thread(s), models {args.models or 'bundled'}, "
          f"tile gate {rec.cfg.tile_gate:g}")
    print(table(columns))
    if args.json:
        args.json.write_text(json.dumps(columns, indent=1))


if __name__ == "__main__":
    main()
