"""One event per passing vehicle? The camera loop over real dash-cam frames, events against plates.

Why: the camera loop promises one event per vehicle that passes (``stream/tracker.py``), but the
tests check that on recorded reads.  Here the whole loop (a folder camera, motion gate, the
service's recognizer, the tracker with the config's event settings) runs over the frames of the
``romanian`` detection set's four dash-cam videos (`<video>_t<second>.jpg`, train and dev: no
model is chosen here), each frame stamped with its second in the video, and its events are
matched to the plates the teacher reader read confidently in those frames (at most one
character apart): a stand-in for "the vehicles that passed", since the set labels no text.

Per video: frames, teacher plates (distinct texts), events, plates with an event (found), extra
events of a plate already reported (duplicates: the same vehicle reported twice, or seen again
after a gap longer than ``memory_decay``), and events that match no teacher plate (a plate the
teacher did not read confidently, or a misread).  Read the duplicates as an upper bound: a
vehicle that really leaves and comes back is a new passage.

    python -m scripts.bench.bench_events [--max-prediction-delay 6] [--memory-decay 300] [--min-score 0.1]
                                         [--models DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import threading
from collections import defaultdict
from pathlib import Path

from edge_alpr.recognizer import ModelsConfig, Recognizer
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source
from edge_alpr.stream.tracker import PlateEvent, edit_distance
from scripts.data import datasets
from scripts.progress import Progress

NAME = re.compile(r"(?P<video>.+)_t(?P<second>\d+)\.jpg$")
T0 = 1_780_000_000.0  # the videos' start, as file times


def videos() -> dict[str, list[tuple[int, datasets.DetItem]]]:
    """The romanian frames (train and dev) of each video, in time order, with the teacher's reads."""
    out: dict[str, list[tuple[int, datasets.DetItem]]] = defaultdict(list)
    for split in ("train", "dev"):
        for it in datasets.det_items(split, ("romanian",), datasets.TEACHER_CONF):
            m = NAME.match(it.path.name)
            if m:
                out[m["video"]].append((int(m["second"]), it))
    return {v: sorted(frames, key=lambda f: f[0]) for v, frames in sorted(out.items())}


def run_video(frames: list[tuple[int, datasets.DetItem]], rec: Recognizer, events_cfg: dict[str, float],
              work: Path) -> list[PlateEvent]:
    """The camera loop over ``frames`` as a folder camera; its events."""
    folder = work / "in"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for second, it in frames:
        dst = folder / f"{second:06d}.jpg"
        shutil.copyfile(it.path, dst)
        os.utime(dst, (T0 + second, T0 + second))
    stream = StreamConfig.from_dict({"cameras": [{"id": "dashcam", "motion": {"threshold": 0}, "source": {
        "kind": "folder", "path": str(folder), "poll_interval": 0.05, "watch": False}}],
        "events": events_cfg}, "bench_events")
    cam = stream.cameras[0]
    stop = threading.Event()
    events: list[PlateEvent] = []
    loop = CameraLoop(cam, stream.events, open_source(cam, stop), rec.recognize, events.append, stop)
    loop.start()
    with Progress(f"  {len(frames)} frames", len(frames)) as bar:
        done = 0
        while loop.is_alive() and not stop.wait(0.2):
            bar.update(loop.stats.frames_processed - done)
            done = loop.stats.frames_processed
    loop.join(10)
    return events


def score(frames: list[tuple[int, datasets.DetItem]], events: list[PlateEvent]) -> dict[str, int]:
    """Events against the distinct teacher plates of ``frames``."""
    plates = sorted({t.upper() for _, it in frames for t in it.texts if t})
    reported: dict[str, int] = defaultdict(int)
    unmatched = 0
    for ev in events:
        read = ev.result.read.plate.upper()
        near = min(plates, key=lambda p: edit_distance(p, read), default="")
        if near and edit_distance(near, read) <= 1:
            reported[near] += 1
        else:
            unmatched += 1
    return {"frames": len(frames), "plates": len(plates), "events": len(events), "found": len(reported),
            "duplicates": sum(n - 1 for n in reported.values()), "unmatched": unmatched}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-prediction-delay", type=float, default=6.0, help="events.max_prediction_delay (s)")
    ap.add_argument("--memory-decay", type=float, default=300.0, help="events.memory_decay (s)")
    ap.add_argument("--min-score", type=float, default=0.1, help="events.min_score (0: every plate followed)")
    ap.add_argument("--models", default="", help="model folder (default: the bundled models)")
    args = ap.parse_args()
    rec = Recognizer.from_config(ModelsConfig(directory=args.models))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for video, frames in videos().items():
            print(f"{video}:", flush=True)
            cfg = {"max_prediction_delay": args.max_prediction_delay, "memory_decay": args.memory_decay,
                   "min_score": args.min_score}
            rows[video] = score(frames, run_video(frames, rec, cfg, Path(tmp)))
    if not rows:
        raise SystemExit("no romanian frames named <video>_t<second>.jpg: is ../shared/data there?")
    keys = list(next(iter(rows.values())))
    print(f"\nmax_prediction_delay {args.max_prediction_delay:g} s, memory_decay {args.memory_decay:g} s, "
          f"min_score {args.min_score:g}")
    print(f"{'video':28s}" + "".join(f"{k:>11s}" for k in keys))
    total = {k: sum(r[k] for r in rows.values()) for k in keys}
    for video, r in [*rows.items(), ("all", total)]:
        print(f"{video:28s}" + "".join(f"{r[k]:>11d}" for k in keys))
    print(f"events per teacher plate found: {total['events'] - total['unmatched']} / {total['found']} = "
          f"{(total['events'] - total['unmatched']) / max(total['found'], 1):.2f}; plates found "
          f"{total['found']} / {total['plates']} = {total['found'] / max(total['plates'], 1):.2f}")


if __name__ == "__main__":
    main()
