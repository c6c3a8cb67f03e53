"""The bundled sample video (edge_alpr/samples/video_romanian_passing.mp4): a `video` camera over
it reports each of its three cars once, through the real camera loop and the shipped models,
read frame by frame or paced like a live camera; it is what scripts/data/sample_video.py
writes, small, and carries the notices of the images it is made from.

The cars' plates are the samples' labels (read by eye), never model output.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.source_config import FolderSourceConfig
from edge_alpr.stream.sources import open_source
from edge_alpr.stream.tracker import PlateEvent
from scripts.data import sample_video
from tests.test_samples import ALLOWED, copyright_paragraph

VIDEO = sample_video.OUT
SCENE_S = sample_video.APPROACH_S + sample_video.LEAVE_S  # each car's stretch of the video


def _events(recognizer: Any, realtime: bool) -> tuple[list[PlateEvent], CameraLoop]:
    stream = StreamConfig.from_dict({"cameras": [{"id": "road", "source": {
        "kind": "video", "path": str(VIDEO), "realtime": realtime}}]}, "<test>")
    camera = stream.cameras[0]
    stop = threading.Event()
    events: list[PlateEvent] = []
    loop = CameraLoop(camera, stream.events, open_source(camera, stop), recognizer.recognize, events.append, stop)
    loop.start()
    loop.join(120)
    stop.set()
    assert not loop.is_alive()
    return events, loop


@pytest.mark.parametrize("realtime", [False, True], ids=["every-frame", "paced"])
def test_a_video_camera_over_the_sample_video_reports_each_passing_car_once(recognizer: Any, realtime: bool) -> None:
    labels = json.loads((sample_video.SAMPLES / "labels.json").read_text())
    cars = [labels[name]["plates"][0]["text"] for name in sample_video.SCENES]
    events, loop = _events(recognizer, realtime)
    assert [e.to_payload()["plate"].upper() for e in events] == cars, [e.to_payload() for e in events]
    start = datetime.fromtimestamp(os.stat(VIDEO).st_mtime, timezone.utc)  # a file's frames: its time
    for i, event in enumerate(events):  # each within its own car's stretch, seen over most of it
        first, last = ((t - start).total_seconds() for t in (event.first_seen, event.last_seen))
        assert i * SCENE_S <= first < last < (i + 1) * SCENE_S, (i, first, last)
        assert last - first > sample_video.APPROACH_S / 2, (i, first, last)
    frames = len(sample_video.SCENES) * SCENE_S * sample_video.FPS
    assert loop.stats.frames_read == frames and loop.stats.errors == 0
    if not realtime:
        assert loop.stats.frames_processed == frames


def test_the_sample_video_is_what_its_script_writes_small_and_licensed() -> None:
    assert sample_video.differs(VIDEO) is None
    assert VIDEO.stat().st_size < 300_000
    readme = (sample_video.SAMPLES / "README.md").read_text()
    assert f"`{VIDEO.name}`" in readme and "python -m scripts.data.sample_video" in readme
    licence, words = ALLOWED["romanian"]
    para = copyright_paragraph(VIDEO.name)
    assert f"License: {licence}\n" in para and all(w in para and w in readme for w in words), para
    assert VIDEO.name in (sample_video.SAMPLES / "LICENSE-romanian.txt").read_text()
    # the default folder camera over the samples reads images only: the video is no bad file to it
    stream = StreamConfig.from_dict({"cameras": [{"id": "demo", "source": {"kind": "folder"}}]}, "<test>")
    folder = stream.cameras[0].source
    assert isinstance(folder, FolderSourceConfig) and not any(VIDEO.match(p) for p in folder.patterns)


def test_the_sample_video_script_says_when_it_cannot_write(tmp_path: Path) -> None:
    """A writer that does not open (here: its folder is not there) is said, not a silent no-op."""
    with pytest.raises(SystemExit, match="cannot write .*OpenCV's FFmpeg writer did not open"):
        sample_video.write(tmp_path / "missing" / "video.mp4")
