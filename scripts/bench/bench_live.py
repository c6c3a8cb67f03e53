#!/usr/bin/env python3
"""Lag of the camera loop on a live-like camera (a script, not a test); prints the figures.

Why a model of a camera and not a file: a live camera (RTSP through FFmpeg, a V4L2 queue)
delivers frames at its own rate whether or not they are read, and its buffer hands a slow
reader the oldest frame it holds.  ``PacedCamera`` is that buffer: frame k is captured at
``start + k / fps`` (stamped then, as the camera would), and ``read`` returns the oldest frame
not yet read.  The recogniser is a stand-in that takes ``--recognition-ms`` (300 ms: a
Raspberry Pi's order of magnitude for one frame), so the figures are about the loop, not the
models.

Lag is measured when a frame's recognition ends: the time since the frame was captured.  The
bound a live camera must keep is one recognition time plus one frame interval (the newest
frame waits at most one interval for the recogniser, then takes one recognition).

Usage:  python -m scripts.bench.bench_live [--seconds 60] [--fps 25] [--recognition-ms 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import numpy as np

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import FrameSource
from edge_alpr.types import Frame, PlateResult


class PacedCamera(FrameSource):
    """A camera's frame buffer at ``fps`` (unbounded, like a stream nobody drains); see above."""

    live = True

    def __init__(self, camera_id: str, fps: float, stop: threading.Event, size: tuple[int, int] = (640, 360)):
        super().__init__(camera_id, stop)
        self.fps = fps
        self.image = np.full((size[1], size[0], 3), 90, np.uint8)
        self.start_mono = time.monotonic()
        self.start_wall = datetime.now(timezone.utc)

    def captured_so_far(self) -> int:
        """Frames the camera has captured by now (read or not)."""
        return int((time.monotonic() - self.start_mono) * self.fps) + 1

    def read(self, timeout: float) -> Frame | None:
        due = self.start_mono + self._index / self.fps
        wait = due - time.monotonic()
        if wait > 0 and (self.stop.wait(min(wait, timeout)) or wait > timeout):
            return None
        k = self._next_index()
        return Frame(self.image, self.camera_id, self.start_wall + timedelta(seconds=k / self.fps), k,
                     captured=self.start_mono + k / self.fps)

    def close(self) -> None:
        pass


class MeasuredLoop(CameraLoop):
    """The production loop, recording each recognised frame's lag when its recognition ends."""

    lags: list[float]
    took: list[float]  # each recognition's own time (the stand-in's sleep overshoots a little)

    def process(self, frame: Frame) -> None:
        started = time.monotonic()
        super().process(frame)
        self.lags.append(time.monotonic() - frame.captured)
        self.took.append(time.monotonic() - started)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--recognition-ms", type=float, default=300.0)
    args = ap.parse_args()
    recognition_s = args.recognition_ms / 1000.0

    def recognise(image: np.ndarray) -> list[PlateResult]:
        time.sleep(recognition_s)  # the stand-in for a Pi's recognition of one frame
        return []

    # the source key is required; the loop reads PacedCamera below, not this folder
    cfg = StreamConfig.from_dict({"cameras": [{"id": "live", "source": {"kind": "folder"}, "max_fps": 0,
                                               "motion": {"threshold": 0}}]}, "bench")
    stop = threading.Event()
    camera = PacedCamera("live", args.fps, stop)
    loop = MeasuredLoop(cfg.cameras[0], cfg.events, camera, recognise, lambda e: None, stop)
    loop.lags, loop.took = [], []
    loop.start()
    checkpoints = [args.seconds * f for f in (0.25, 0.5, 0.75, 1.0)]
    started = time.monotonic()
    for at in checkpoints:
        stop.wait(max(0.0, started + at - time.monotonic()))
        recent = loop.lags[-3:]
        print(f"t={at:5.1f} s: lag of the last recognised frames {', '.join(f'{x:.2f}' for x in recent)} s",
              flush=True)
    captured = camera.captured_so_far()
    stop.set()
    loop.join(5)
    lags = sorted(loop.lags)
    waits = sorted(lag - took for lag, took in zip(loop.lags, loop.took, strict=True))
    bound = max(loop.took, default=recognition_s) + 1.0 / args.fps
    stats = loop.stats
    print(f"camera {args.fps:g} fps, recognition {args.recognition_ms:g} ms, {args.seconds:g} s")
    print(f"frames captured by the camera {captured}, read {stats.frames_read}, processed "
          f"{stats.frames_processed}, dropped {stats.frames_dropped} (left in the camera's buffer: "
          f"{captured - stats.frames_read})")
    if not lags:
        print("no frame was recognised")
        return 1
    print(f"lag at the end of recognition: median {statistics.median(lags):.3f} s, p90 {pct(lags, 0.9):.3f} s, "
          f"max {lags[-1]:.3f} s; bound (longest recognition {max(loop.took):.3f} s + one frame interval "
          f"{1.0 / args.fps:.3f} s) {bound:.3f} s: {'kept' if lags[-1] <= bound else 'EXCEEDED'}")
    print(f"a frame's age when its recognition started: median {statistics.median(waits):.3f} s, "
          f"p90 {pct(waits, 0.9):.3f} s, max {waits[-1]:.3f} s (one frame interval is {1.0 / args.fps:.3f} s)")
    return 0 if lags[-1] <= bound else 1


def pct(ordered: list[float], q: float) -> float:
    """The q-quantile of a sorted list (nearest rank)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

if __name__ == "__main__":
    sys.exit(main())
