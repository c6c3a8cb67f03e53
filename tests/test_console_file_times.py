"""A video camera's frames and events carry the file's time, and the console says which time is
which: the Last frame cell tells how long ago the frame was read and, marked "file time", the time
it carries; the events table marks such a camera's event times "file time".

Why: a video's events are timed by its file (its modification time plus the frame's position), so
a recording replayed keeps the times it was recorded at and, read again, its event ids.  Shown
bare, those times were earlier than the service's start while the same camera's Last frame said
"0 s ago", and read as a clock gone wrong.  The whole service runs with the real recognizer on a
copy of the bundled sample video whose modification time is set a year back; the console's parts
are read over its socket.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests
from waiting import wait_for

from edge_alpr import config
from edge_alpr.service import build
from scripts.data import sample_video

RECORDED = datetime(2025, 12, 1, 10, 0, tzinfo=timezone.utc)  # the file's modification time
LENGTH_S = len(sample_video.SCENES) * (sample_video.APPROACH_S + sample_video.LEAVE_S)  # the bundled video's


def _cell(part: str, label: str) -> str:
    found = re.search(rf'<td[^>]*data-label="{label}">(.*?)</td>', part, re.S)
    assert found is not None, part
    return found.group(1)


def _times(cell: str) -> list[datetime]:
    return [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in re.findall(r'<time datetime="([^"]+)"', cell)]


def test_a_video_cameras_times_are_marked_as_the_files(tmp_path: Path, recognizer: Any, no_token: None) -> None:
    video = tmp_path / "clip.mp4"  # three cars passing
    shutil.copyfile(sample_video.OUT, video)
    os.utime(video, (RECORDED.timestamp(), RECORDED.timestamp()))
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}, "api": {"port": 0, "threads": 4},
        "stream": {"cameras": [{"id": "clip", "motion": {"threshold": 0},
                                "source": {"kind": "video", "path": str(video), "realtime": False}}]}}, "<test>")
    svc = build(cfg, threading.Event(), recognizer=recognizer)
    try:
        url = f"http://127.0.0.1:{svc.api.server.port}"
        assert wait_for(lambda: svc.cameras[0].stats.ended, 60), svc.cameras[0].stats

        def parts() -> dict[str, str]:
            body: dict[str, str] = requests.get(f"{url}/console/parts", timeout=10).json()
            return body

        assert wait_for(lambda: parts()["events"].count('data-event="') == len(sample_video.SCENES), 15), \
            parts()["events"]
        last = _cell(parts()["cameras"], "Last frame")
        assert re.match(r"\d+ s ago<", last), last  # read moments ago ...
        assert "file time" in last
        (carried,) = _times(last)  # ... carrying the file's time: its last frame's place in it
        assert RECORDED < carried <= RECORDED + timedelta(seconds=LENGTH_S), last
        time_cells = re.findall(r'<td data-label="Time">(.*?)</td>', parts()["events"], re.S)
        assert len(time_cells) == len(sample_video.SCENES), time_cells  # a car each
        for cell in time_cells:
            assert "file time" in cell, cell
            (event_time,) = _times(cell)
            assert RECORDED <= event_time <= carried, cell
    finally:
        svc.close()
