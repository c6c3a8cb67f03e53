"""Videos made of the bundled sample images, for tests of the camera loop (MJPEG in AVI: OpenCV
writes and reads it everywhere, no codec to install)."""

from __future__ import annotations

from pathlib import Path

import cv2

from edge_alpr.stream.sources import sample_dir


def sample_video(path: Path, frames: int, fps: float = 10.0, size: tuple[int, int] = (320, 240),
                 cycle: bool = False) -> Path:
    """``frames`` frames at ``fps``: the first sample image, or every sample in turn with ``cycle``."""
    paths = sorted(sample_dir().glob("*.jpg"))
    images = [cv2.resize(cv2.imread(str(p)), size) for p in (paths if cycle else paths[:1])]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        writer.write(images[i % len(images)])
    writer.release()
    return path
