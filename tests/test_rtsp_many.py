"""Six cameras on one RTSP server (an NVR's channels, or six streams of one camera): a real
H.264 server on loopback (``rtsp_camera.py``, its SPS and PPS in the SDP, a keyframe every 3 s)
read through OpenCV's FFmpeg backend in one process, as the service does.

OpenCV opens FFmpeg captures one at a time; each open read the stream up to its next
keyframe, so the six came up one keyframe after another (measured: the sixth 6.9 s after a
reboot with a keyframe a second, 13 s with one every 3 s).  Now each open returns at once and
the reads wait for the keyframe together (``ffmpeg_open.py``)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from rtsp_camera import SKIP_WITHOUT_H264, SKIP_WITHOUT_SERVER, RtspCamera, sample_image
from waiting import wait_for

from edge_alpr.stream.source_config import OpenCvSourceConfig
from edge_alpr.stream.sources import sample_dir
from edge_alpr.stream.sources.opencv import OpenCvSource

pytestmark = [SKIP_WITHOUT_SERVER, SKIP_WITHOUT_H264]
SAMPLE = sorted(json.loads((sample_dir() / "labels.json").read_text()))[0]
FPS, GOP = 10, 30  # a keyframe every 3 s


def _keyframes(made: list[float]) -> int:
    """How many keyframes the first frames came from: the camera's frames between two keyframes
    cannot be decoded by a client that joined after the first, so the first frames made within
    one frame interval of each other are the same keyframe."""
    times = sorted(made)
    return 1 + sum(b - a > 1.5 / FPS for a, b in zip(times, times[1:]))


def test_six_cameras_on_one_server_start_on_the_same_keyframe(tmp_path: Path) -> None:
    """Six sources started together on one server: their first frames are one keyframe, at
    most two (the opens straddling one); before, each open waited for a keyframe of its own
    under the turn, and the six started on six keyframes, 2.6 s apart."""
    camera = RtspCamera(sample_image(tmp_path, SAMPLE), fps=FPS, h264_gop=GOP)
    camera.start()
    stop = threading.Event()
    first: dict[str, float] = {}

    def run(source: OpenCvSource) -> None:
        while not stop.is_set() and source.camera_id not in first:
            frame = source.read(1.0)
            if frame is not None:
                first[source.camera_id] = frame.captured  # when the camera made it (stamps.py)

    sources = [OpenCvSource(OpenCvSourceConfig(url=camera.url, read_timeout=5, reconnect_min=0.2,
                                               reconnect_max=0.5), f"ch{i}", stop) for i in range(6)]
    threads = [threading.Thread(target=run, args=(source,), daemon=True) for source in sources]
    try:
        for thread in threads:
            thread.start()
        assert wait_for(lambda: len(first) == 6, 60), (first, [s.last_error for s in sources])
        assert all(s.errors == 0 and s.connects == 1 for s in sources), [s.last_error for s in sources]
        assert _keyframes(list(first.values())) <= 2, sorted(first.values())
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        for source in sources:
            source.close()
        camera.kill()
