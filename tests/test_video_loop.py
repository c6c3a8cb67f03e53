"""A looped video camera: each pass's frames are stamped after the last pass's, and beside a
hung HTTP camera its reopen at the file's end waits for OpenCV's open turn
(``ffmpeg_open.OPEN_TURN``) a read's timeout at a time.

Why the stamps: the next pass began at the last frame's position, so its first frame had the
same time as the last pass's last frame (two frames, one time; paced in real time, no pause
between them).

Why the turn: the reopen waited for the turn without a timeout, and a url camera's open holds it up to
its ``read_timeout`` (10 s by default) where the camera accepts the connection but never
answers; measured with ``read_timeout: 8``, the video's read at its loop's end took 7.96 s, past
its ``max_block_s`` (5 s), so its capture thread was taken for hung.

Real parts: an HTTP camera that accepts and never answers (``rtsp_camera.SilentCamera``) opened
by the real OpenCV source, and a real MJPEG file read by the real video source.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rtsp_camera import SilentCamera
from videos import sample_video
from waiting import wait_for

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import open_source
from edge_alpr.stream.sources.ffmpeg_open import OPEN_TURN

FRAMES = 5


def test_each_pass_of_a_looped_video_follows_the_last_one_frame_later(tmp_path: Path) -> None:
    video = sample_video(tmp_path / "clip.avi", FRAMES, fps=10.0)
    stream = StreamConfig.from_dict({"cameras": [
        {"id": "clip", "source": {"kind": "video", "path": str(video), "loop": True}}]}, "t")
    clip = open_source(stream.cameras[0], threading.Event())
    stamps = []
    try:
        while len(stamps) < 3 * FRAMES:
            frame = clip.read(0.2)
            if frame is not None:
                stamps.append(frame.timestamp.timestamp())
    finally:
        clip.close()
    steps = [round(b - a, 3) for a, b in zip(stamps, stamps[1:])]
    assert steps == [0.1] * len(steps), steps  # the file's 10 fps, across the passes' joins too


def test_a_looped_video_waits_for_a_hung_url_cameras_open_without_blocking(tmp_path: Path) -> None:
    video = sample_video(tmp_path / "clip.avi", FRAMES)
    hung = SilentCamera()
    stream = StreamConfig.from_dict({"cameras": [
        {"id": "hung", "source": {"kind": "opencv", "url": f"http://127.0.0.1:{hung.port}/video",
                                  "read_timeout": 30}},
        {"id": "clip", "source": {"kind": "video", "path": str(video), "loop": True}}]}, "t")
    stop = threading.Event()
    camera, clip = open_source(stream.cameras[0], stop), open_source(stream.cameras[1], stop)

    def open_once() -> None:
        camera.read(0.5)  # its TCP connection answered (reach.probe)
        camera.read(0.5)  # OpenCV's open, in its turn, until the camera closes the connection

    opening = threading.Thread(target=open_once, daemon=True)
    opening.start()
    waited, stamps = False, []
    try:
        assert wait_for(OPEN_TURN.locked, 10)
        for _ in range(FRAMES + 3):  # past the file's end: its reopen
            frame = clip.read(0.2)
            if frame is None and OPEN_TURN.locked():
                waited = True
                break
            if frame is not None:
                stamps.append(frame.timestamp)
    finally:
        hung.close()  # the open fails at once: the turn is free
        opening.join(10)
    for _ in range(50):  # the next pass of the file comes once the turn is free
        if len(stamps) >= FRAMES + 2:
            break
        frame = clip.read(0.2)
        if frame is not None:
            stamps.append(frame.timestamp)
    camera.close()
    clip.close()
    assert waited and not opening.is_alive(), (waited, len(stamps))
    assert len(stamps) >= FRAMES + 2 and stamps == sorted(stamps), stamps  # the second pass follows the first
