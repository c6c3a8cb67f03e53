"""Make ``edge_alpr/samples/video_romanian_passing.mp4``, the bundled sample video, from three of
the bundled sample images.

    python -m scripts.data.sample_video            # (re)write the video
    python -m scripts.data.sample_video --check    # exit 1 unless the video's frames are what it would write

Why: the sample images let a new user try a folder camera, but nothing let them try a `video`
camera (or see what a camera loop makes of a vehicle that comes and goes) without a video of
their own.  No video of the sets the package may carry is in the repository, so this one is
made from the MIT-licensed romanian sample frames (``edge_alpr/samples/README.md``): for each of
three cars, a virtual camera starts on the whole scene, zooms in on the car (3 s), then tilts up
until the car has left the view at the bottom (1.5 s); then the next car's scene.  640x360, 10
fps, 135 frames, MPEG-4 Part 2 (``mp4v``: every FFmpeg decodes it, OpenCV's pip wheels encode
it), about 170 KB.  The encoder's output may differ by a few bytes between FFmpeg builds, so
``--check`` compares decoded frames, not bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from scripts import REPO

SAMPLES = REPO / "edge_alpr" / "samples"
OUT = SAMPLES / "video_romanian_passing.mp4"
SCENES = ("01_romanian_t37.jpg", "03_romanian_t604.jpg", "05_romanian_night_t155.jpg")
SIZE, FPS = (640, 360), 10
APPROACH_S, LEAVE_S = 3.0, 1.5
BITRATE = 500  # OpenCV's writer setting (without it: 595 KB; the plates read the same)
MAX_DIFF = 2.0  # mean grey-level difference of a frame to the one this script writes, for --check


def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


def frames() -> list[np.ndarray]:
    """The video's frames (BGR), made from the sample images and their labelled plate boxes."""
    labels = json.loads((SAMPLES / "labels.json").read_text())
    w, h = SIZE
    out: list[np.ndarray] = []
    for name in SCENES:
        scene = cv2.imread(str(SAMPLES / name))
        sh, sw = scene.shape[:2]
        x0, y0, x1, y1 = labels[name]["plates"][0]["box"]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        approach, leave = int(APPROACH_S * FPS), int(LEAVE_S * FPS)
        for i in range(approach + leave):
            if i < approach:  # from the whole scene to twice as close, centred on the car
                t = _ease(i / (approach - 1))
                zoom, mx, my = 1 + t, sw / 2 + (cx - sw / 2) * t, sh / 2 + (cy - sh / 2) * t
            else:  # the view tilts up a whole view's height: the car leaves at the bottom
                t = _ease((i - approach + 1) / leave)
                zoom = 2 + 0.5 * t
                mx, my = cx, cy - t * sh / zoom
            cw, ch = sw / zoom, sh / zoom
            m = np.float32([[w / cw, 0, -(mx - cw / 2) * w / cw], [0, h / ch, -(my - ch / 2) * h / ch]])
            out.append(cv2.warpAffine(scene, m, SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT))
    return out


def write(path: Path) -> None:
    """Write the video to ``path`` through a file beside it, renamed over it once whole: a
    writer that cannot open (no FFmpeg encoder, a folder not there) said no and wrote nothing,
    silently, and a run that failed midway left a broken video where the good one was."""
    part = path.with_name(f".{path.stem}.part{path.suffix}")  # the suffix picks the container
    writer = cv2.VideoWriter(str(part), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE,
                             [cv2.VIDEOWRITER_PROP_BITRATE, BITRATE])
    if not writer.isOpened():
        raise SystemExit(f"cannot write {path}: OpenCV's FFmpeg writer did not open for {part} (is the folder "
                         "there and writable, and this OpenCV built with FFmpeg's mp4v encoder?)")
    try:
        for frame in frames():
            writer.write(frame)
        writer.release()
        part.replace(path)
    finally:
        writer.release()
        part.unlink(missing_ok=True)


def decoded(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


def differs(path: Path) -> str | None:
    """Why the video at ``path`` is not what this script writes (None: it is, within the
    encoder's loss: each frame within ``MAX_DIFF`` grey levels of this script's own encoding)."""
    with tempfile.TemporaryDirectory() as tmp:
        ours = Path(tmp) / OUT.name
        write(ours)
        want, got = decoded(ours), decoded(path)
    if len(got) != len(want):
        return f"{len(got)} frames, not {len(want)}"
    worst = max(float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) for a, b in zip(want, got))
    return f"a frame differs by {worst:.1f} grey levels on average" if worst > MAX_DIFF else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 unless the video is what this script writes")
    args = ap.parse_args(argv)
    if args.check:
        why = differs(OUT)
        print(f"{OUT}: {why or 'as written by this script'}")
        return 1 if why else 0
    write(OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
