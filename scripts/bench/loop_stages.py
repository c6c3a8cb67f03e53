"""Where the camera loop spends a frame's time, stage by stage (``bench_loop.py --stages``).

Frames of three kinds at 1280x720 and 1920x1080, fed one by one to ``CameraLoop.process`` as a
file camera's (source time 10 frames/s, motion gate on at its defaults, history on):

* ``still``: an empty lane with a real camera's sensor noise; the gate lets through one frame
  every ``refresh_s``;
* ``no plate``: the bundled scenes with their plates painted over, the view sliding a few
  pixels each frame (everything moves, the detector runs and finds nothing to read);
* ``plates``: the same scenes with their plates, each held for 8 frames as it slides.

Frames start as BGR, as OpenCV decodes them (the decoding itself is the camera's or FFmpeg's,
not timed), and are converted to RGB where the loop first needs it, as a camera's are.  Each
stage's time excludes the stages it calls; every model run (``Model.run``: detector, readers,
vehicle classifier) is one row, ``model``, so that the rows above it are the loop's own cost
per frame.  Printed: mean ms per frame of each stage, and the medians per frame
of the whole and of everything but the models.

Why: on a Raspberry Pi 4 each millisecond here is 15-20; the loop's own cost decides how many
frames a Pi keeps up with beside the models, and still frames (most of a gate camera's day)
cost nothing but this.
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.store import History, from_event
from edge_alpr.recognizer import RecognizeOptions, Recognizer
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import FrameSource, SourceEnded, open_source, sample_dir
from edge_alpr.stream.sources._cv import FrameFitter
from edge_alpr.types import Frame
from scripts.bench.bench_profile import Profiler, instrument

KINDS = ("still", "no plate", "plates")
SIZES = ((1280, 720), (1920, 1080))
FPS = 10.0  # source time between frames
HOLD = 8  # frames per scene
SLIDE = 4  # pixels the view moves per frame (moving kinds)
WARMUP = 3  # first frames of a column left out of the figures
STILL_MORE = 5  # still frames cost little: this many times ``n`` of them, for steadier figures
ZONE = [[0.0, 0.25], [1.0, 0.25], [1.0, 1.0], [0.0, 1.0]]  # --zone: all but the top quarter


class Frames(FrameSource):
    """Stands in for a file camera whose frames the bench hands to ``process`` itself."""

    def read(self, timeout: float) -> Frame | None:
        raise SourceEnded

    def close(self) -> None:
        pass


def scenes(paint: bool) -> Iterator[np.ndarray]:
    """The bundled scenes (BGR), their labelled plates painted over with a grey when ``paint``."""
    labels = json.loads((sample_dir() / "labels.json").read_text())
    for p in sorted(sample_dir().glob("*.jpg")):
        bgr = cv2.imread(str(p))
        if paint:
            for plate in labels[p.name]["plates"]:
                x0, y0, x1, y1 = plate["box"]
                mx, my = (x1 - x0) // 4 + 4, (y1 - y0) // 2 + 4
                bgr[max(0, y0 - my):y1 + my, max(0, x0 - mx):x1 + mx] = (90, 90, 90)
        yield bgr


def frames(kind: str, w: int, h: int, n: int) -> list[np.ndarray]:
    """``n`` BGR frames of ``kind`` at ``w`` x ``h``."""
    if kind == "still":  # as bench_loop's static video: detail but no plate, never bit-identical
        rng = np.random.default_rng(0)
        base = cv2.resize(cv2.imread(str(sorted(sample_dir().glob("*.jpg"))[0])), (w // 8, h // 8))
        base = cv2.resize(cv2.GaussianBlur(base, (0, 0), 3), (w, h)).astype(np.float64)
        noise = [np.clip(base + rng.normal(0, 3, (h, w, 3)), 0, 255).astype(np.uint8) for _ in range(4)]
        return [noise[i % 4] for i in range(n)]
    big = [cv2.resize(s, (w + SLIDE * HOLD, h + SLIDE * HOLD // 2)) for s in scenes(kind == "no plate")]
    out = []
    for i in range(n):
        s, k = big[(i // HOLD) % len(big)], i % HOLD
        out.append(np.ascontiguousarray(s[k * SLIDE // 2:k * SLIDE // 2 + h, k * SLIDE:k * SLIDE + w]))
    return out


def _wrap_models(rec: Recognizer, prof: Profiler) -> None:
    rows = () if rec.rows is None else rec.rows.models
    for model in {id(m): m for m in (rec.detector.model, *rec.reader.models, *rows, rec.vehicle.model)}.values():
        prof.wrap(model, "run", "model")


def column(rec: Recognizer, prof: Profiler, kind: str, w: int, h: int, n: int, tmp: Path,
           zone: bool) -> dict[str, Any]:
    """One kind at one size: stage means, per-frame medians and what was read."""
    camera: dict[str, Any] = {"id": "bench", "source": {"kind": "folder", "path": str(tmp)}}
    if zone:
        camera["zone"] = ZONE
    cfg = StreamConfig.from_dict({"cameras": [camera],
                                  "events": {"max_prediction_delay": 1.0, "memory_decay": 0}}, "bench")
    history = History(HistoryConfig(min_free_bytes=0), tmp / f"history-{kind}-{w}")
    reads: list[list[Any]] = []

    def deliver(event: Any) -> None:
        with prof.stage("event: payload"):
            payload = event.to_payload()
            json.dumps(payload)
        with prof.stage("event: history (JPEGs, row)"):
            history.publish(from_event(event, payload, None))

    loop = CameraLoop(cfg.cameras[0], cfg.events, Frames("bench"),
                      lambda image: rec.recognize(image, RecognizeOptions()), deliver, threading.Event(),
                      keep_scene=True)
    prof.wrap(loop, "recognize", "recognize")
    prof.wrap(loop.view_check, "see", "view check")
    prof.wrap(loop.motion, "wants", "motion gate")
    prof.wrap(loop.zone, "apply", "zone mask")
    prof.wrap(loop.tracker, "update", "tracker")
    fit = FrameFitter(cv2, "bench", 1 << 30)

    def timed(convert: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        def converted(pixels: np.ndarray) -> np.ndarray:
            with prof.stage("source: BGR to RGB"):
                return convert(pixels)
        return converted

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    per_frame: list[dict[str, float]] = []
    n *= STILL_MORE if kind == "still" else 1
    for i, bgr in enumerate(frames(kind, w, h, n + WARMUP)):
        with prof.stage("frame"):
            with prof.stage("source: check"):
                pixels, convert, order = fit.fit(bgr)
            frame = Frame(pixels, "bench", start + timedelta(seconds=i / FPS), i, convert=timed(convert), order=order)
            loop.process(frame)
            if loop.latest is not None and loop.latest[0] is frame:
                reads.append([i, *[[r.read.plate, r.box.to_dict()] for r in loop.latest[1]]])
        times, _ = prof.take()
        if i >= WARMUP:
            per_frame.append(times)
    loop.flush()
    history.close()
    stages = sorted({k for t in per_frame for k in t})
    total = [sum(t.values()) for t in per_frame]
    model = [sum(v for k, v in t.items() if k.endswith("model")) for t in per_frame]
    return {
        "frames": len(per_frame),
        "recognised": loop.stats.frames_processed - sum(1 for r in reads if r[0] < WARMUP),
        "events": loop.stats.events,
        "median_ms": statistics.median(total),
        "median_outside_ms": statistics.median(a - b for a, b in zip(total, model, strict=True)),
        "mean_ms": statistics.fmean(total),
        "stages": {k: sum(t.get(k, 0.0) for t in per_frame) / len(per_frame) for k in stages},
        "reads": reads,
    }


def run(rec: Recognizer, n: int, zone: bool = False) -> dict[str, dict[str, Any]]:
    """Every kind at every size (``n`` frames each after the warm-up, ``STILL_MORE`` times as many
    still ones); ``zone``: the camera has one (``ZONE``), masked out of every frame it recognises."""
    prof = Profiler()
    instrument(rec, prof)
    _wrap_models(rec, prof)
    tmp = Path(tempfile.mkdtemp(prefix="bench_stages_"))
    try:
        return {f"{kind} {w}x{h}": column(rec, prof, kind, w, h, n, tmp, zone) for w, h in SIZES for kind in KINDS}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def table(columns: dict[str, dict[str, Any]]) -> str:
    """One row per stage (mean ms per frame), one column per kind and size, the medians below."""
    names = list(columns)
    stages = sorted({k for c in columns.values() for k in c["stages"]}, key=lambda s: (s.endswith("model"), s))
    label = {s: s.removeprefix("frame > ") for s in stages}
    width = max(40, *(len(v) for v in label.values())) + 2
    head = f"{'stage: mean ms per frame':{width}s}" + "".join(f"{n:>19s}" for n in names)
    lines = [head, "-" * len(head)]
    for s in stages:
        cells = [columns[n]["stages"].get(s) for n in names]
        lines.append(f"{label[s]:{width}s}" + "".join(f"{c:>19.3f}" if c is not None else f"{'-':>19s}" for c in cells))
    lines.append("-" * len(head))
    for key, text in (("median_ms", "frame: median ms"), ("median_outside_ms", "frame outside the models: median ms"),
                      ("mean_ms", "frame: mean ms")):
        lines.append(f"{text:{width}s}" + "".join(f"{columns[n][key]:>19.2f}" for n in names))
    for key, text in (("frames", "frames"), ("recognised", "frames recognised"), ("events", "events")):
        lines.append(f"{text:{width}s}" + "".join(f"{columns[n][key]:>19d}" for n in names))
    return "\n".join(lines)


def live(seconds: float, w: int = 1920, h: int = 1080, fps: float = 25.0, recognition_s: float = 0.3) -> str:
    """A live camera (a video paced in real time through the real source and loop) whose
    recognition takes ``recognition_s`` (a stand-in sleep: a Pi's order of magnitude, as in
    ``bench_live.py``): how many of the frames read were converted to RGB, and the process's CPU
    per frame read (decoding the MJPEG included)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_live_"))
    try:
        video = tmp / "live.avi"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        for image in frames("plates", w, h, int(seconds * fps)):
            writer.write(image)
        writer.release()
        cfg = StreamConfig.from_dict({"cameras": [{"id": "live", "motion": {"threshold": 0},
                                                   "source": {"kind": "video", "path": str(video), "realtime": True}}]},
                                     "bench")
        stop = threading.Event()
        read: list[Frame] = []
        source = open_source(cfg.cameras[0], stop)
        original = source.read

        def recorded(timeout: float) -> Frame | None:
            frame = original(timeout)
            if frame is not None:
                read.append(frame)
            return frame

        source.read = recorded  # type: ignore[method-assign]

        def recognize(image: np.ndarray) -> list[Any]:
            time.sleep(recognition_s)
            return []

        loop = CameraLoop(cfg.cameras[0], cfg.events, source, recognize, lambda e: None, stop)
        cpu0 = _cpu()
        loop.start()
        loop.join(seconds + 30)
        stop.set()
        loop.join(5)
        cpu = _cpu() - cpu0
        converted = sum(1 for f in read if getattr(f, "converted", True))
        return (f"live {w}x{h} at {fps:g} fps, recognition {1000 * recognition_s:.0f} ms: {len(read)} frames read, "
                f"{loop.stats.frames_processed} recognised, {converted} converted to RGB; CPU "
                f"{1000 * cpu / max(1, len(read)):.2f} ms per frame read (MJPEG decoding included)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
