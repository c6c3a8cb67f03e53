#!/usr/bin/env python3
"""Measurements behind the camera view check (``edge_alpr/stream/view.py``); a script, not a test.

1. Cost per frame of ``ViewCheck.see`` on a 1280x720 frame, against the motion gate's
   thumbnail of the same frame.
2. ``dark`` and ``bright``: per image set, the lowest brightest-1 % grey level (a working camera's
   frame must stay above ``view_dark``) and the highest darkest-1 % (below ``view_bright``).
   Needs the full data (``scripts/data/datasets.py``); sets not found are skipped.
3. ``frozen``: one 1280x720 image repeated, and the same with Gaussian sensor noise (sigma in
   grey levels) as a still scene, written through OpenCV's MJPEG and MPEG-4 encoders and read
   back: the longest run of frames ``ViewCheck`` takes for no new picture.

Usage:  python -m scripts.bench.bench_view [--frames 300] [--images 400]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from edge_alpr.stream.config import MotionConfig
from edge_alpr.stream.motion import MotionGate
from edge_alpr.stream.sources import sample_dir
from edge_alpr.stream.view import OUTLIERS, ViewCheck, grid
from scripts.data import datasets

SETS = ("detection/romanian", "detection/uc3m", "detection/andrewmvd", "detection/openimages_lp",
        "detection/rxg4e", "detection/experiment_plates")


def frame_1280() -> np.ndarray:
    path = sorted(sample_dir().glob("*.jpg"))[0]
    return np.asarray(Image.open(path).convert("RGB").resize((1280, 720)))


def cost(n: int = 2000) -> None:
    image = frame_1280()
    noisy = [np.clip(image + np.random.default_rng(i).normal(0, 2, image.shape), 0, 255).astype(np.uint8)
             for i in range(40)]  # more than view.RECENT: each frame a new picture, as a camera's
    check = ViewCheck("bench", 60.0, 20, 220)
    started = time.perf_counter()
    for i in range(n):
        check.see(noisy[i % len(noisy)], i * 0.1)
    see = (time.perf_counter() - started) / n
    gate = MotionGate(MotionConfig())
    started = time.perf_counter()
    for _ in range(n // 10):
        gate.thumbnail(image)
    thumb = (time.perf_counter() - started) / (n // 10)
    print(f"1. per 1280x720 frame: ViewCheck.see {see * 1e3:.3f} ms (grid {grid(image).shape}); "
          f"the motion gate's thumbnail {thumb * 1e3:.3f} ms")


def brightness(limit: int) -> None:
    print("2. per set: lowest brightest-1 % grey level (p99), highest darkest-1 % (p1)")
    for name in SETS:
        files = sorted((datasets.DATA / name / "images").glob("*.jpg"))[:limit]
        if not files:
            print(f"   {name}: not found, skipped")
            continue
        p99, p1 = [], []
        for f in files:
            g = grid(np.asarray(Image.open(f).convert("RGB")))
            p99.append(float(np.percentile(g, 100 * (1 - OUTLIERS))))
            p1.append(float(np.percentile(g, 100 * OUTLIERS)))
        print(f"   {name}: {len(files)} images, p99 min {min(p99):.0f}, p1 max {max(p1):.0f}")


def frozen(frames: int) -> None:
    print("3. longest run of frames taken for no new picture (of the frames read back)")
    base = cv2.cvtColor(frame_1280(), cv2.COLOR_RGB2BGR)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for codec, ext in (("MJPG", "avi"), ("mp4v", "mp4")):
            for sigma in (0.0, 0.25, 0.5, 1.0, 2.0):
                path = str(Path(tmp) / f"still.{ext}")
                writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*codec), 10, (1280, 720))
                for _ in range(frames):
                    noise = rng.normal(0, sigma, base.shape) if sigma else 0.0
                    writer.write(np.clip(base + noise, 0, 255).astype(np.uint8))
                writer.release()
                check, capture = ViewCheck("bench", 1e9, 20, 220), cv2.VideoCapture(path)
                run = longest = read = 0
                while True:
                    ok, bgr = capture.read()
                    if not ok:
                        break
                    read += 1
                    still = not check._new_picture(grid(bgr[:, :, ::-1]))
                    run = run + 1 if still else 0
                    longest = max(longest, run)
                capture.release()
                kind = "one frame repeated" if sigma == 0 else f"still scene, noise sigma {sigma}"
                print(f"   {codec} {kind}: {longest} of {read}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--images", type=int, default=400, help="images read per set, at most")
    args = parser.parse_args()
    cost()
    brightness(args.images)
    frozen(args.frames)


if __name__ == "__main__":
    main()
