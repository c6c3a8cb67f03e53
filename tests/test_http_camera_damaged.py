"""A live MJPEG stream with a picture FFmpeg cannot decode now and then stays open: the damaged
pictures are skipped and counted, the stream is not taken to have ended.

Before: OpenCV's ``grab`` fails for such a picture as it does at the stream's end, so each one
closed the stream and reconnected (``reconnecting`` and ``streaming`` in turn, "the camera ended
the stream"), losing the pictures of every reconnect.

Real parts: an MJPEG camera on loopback (``mjpeg_camera.py``) read by the real OpenCV source.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from mjpeg_camera import MjpegCamera, jpeg_part

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import damaged, open_source

ROOT = Path(__file__).resolve().parent.parent


class EveryFourth:
    """Parts as a camera sends them, every fourth one bytes of garbage sent as a JPEG."""

    def __init__(self) -> None:
        self.sent = 0

    def __call__(self, pic: bytes) -> bytes:
        self.sent += 1
        return jpeg_part(os.urandom(3000) if self.sent % 4 == 2 else pic)


def test_a_damaged_picture_is_skipped_not_taken_for_the_streams_end() -> None:
    camera = MjpegCamera(part=EveryFourth())
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": camera.url, "read_timeout": 2, "reconnect_min": 0.1, "reconnect_max": 0.5}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    frames, failing, started = 0, False, time.monotonic()
    try:
        while frames < 15 and time.monotonic() - started < 60:
            frames += source.read(0.5) is not None
            failing |= source.failing_since is not None
    finally:
        source.close()
        camera.close()
    assert frames == 15 and not failing, (frames, source.last_error)
    assert camera.streams == 1, camera.streams  # never reconnected
    assert source.errors >= 3, source.errors  # the damaged ones, counted


def test_ffmpeg_writes_nothing_per_damaged_picture_of_a_stream() -> None:
    """FFmpeg's "fatal" level, which the service kept, still wrote ``No JPEG data found in image``
    for every damaged picture, to stdout (OpenCV prints FFmpeg's lines there once
    OPENCV_FFMPEG_LOGLEVEL is set; the journal either way): the source says it once itself, on
    stderr, and stdout holds only what the script prints."""
    camera = MjpegCamera(part=EveryFourth())
    code = ("import threading\n"
            "from edge_alpr.stream.config import StreamConfig\n"
            "from edge_alpr.stream.sources import open_source\n"
            "cam = StreamConfig.from_dict({'cameras': [{'id': 'gate', 'source': {'kind': 'opencv', "
            f"'url': {camera.url!r}, 'read_timeout': 2}}}}]}}, 't').cameras[0]\n"
            "src = open_source(cam, threading.Event())\n"
            "frames = 0\n"
            "while frames < 12:\n"
            "    frames += src.read(0.5) is not None\n"
            "src.close()\n"
            "print(src.errors)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                              env={**env, "PYTHONPATH": str(ROOT)})
    finally:
        camera.close()
    assert done.returncode == 0, done.stderr
    printed = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(printed) == 1 and int(printed[0]) >= 2, done.stdout  # damaged pictures were read, and counted
    said = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and "could not be decoded and was skipped" in said[0], done.stderr


def test_damaged_pictures_after_a_drop_are_the_last_error_not_the_drop() -> None:
    """A camera that dropped once, came back, and then sends a damaged picture in four: its
    errors grew with each, while ``last_error`` and its time still named the old drop (the
    camera's health showed a trouble long over as the newest).  The first damaged picture of the
    spell is the last_error now, said when it came; frames flow meanwhile (not failing)."""
    damaging, every_fourth = threading.Event(), EveryFourth()
    camera = MjpegCamera(part=lambda pic: every_fourth(pic) if damaging.is_set() else jpeg_part(pic))
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": camera.url, "read_timeout": 2, "reconnect_min": 0.1, "reconnect_max": 0.3}}]}, "t")
    source, spell_s = open_source(stream.cameras[0], threading.Event()), damaged.SPELL_S
    try:
        frames, started = 0, time.monotonic()
        while frames < 3 and time.monotonic() - started < 20:
            frames += source.read(0.5) is not None
        camera.drop()
        while source.failing_since is None and time.monotonic() - started < 20:
            source.read(0.5)
        dropped, dropped_at = source.last_error, source.last_error_at
        while source.failing_since is not None and time.monotonic() - started < 20:
            source.read(0.5)
        errors = source.errors
        damaging.set()
        while source.errors < errors + 2 and time.monotonic() - started < 30:
            source.read(0.5)
        assert dropped is not None and "stopped sending frames" in dropped, dropped
        assert source.errors >= errors + 2 and source.failing_since is None, (source.errors, source.last_error)
        assert source.last_error is not None and "could not be decoded and was skipped" in source.last_error, \
            source.last_error
        assert source.last_error_at is not None and dropped_at is not None and source.last_error_at > dropped_at
        spell_began, errors = source.last_error_at, source.errors
        while source.errors < errors + 2 and time.monotonic() - started < 40:
            source.read(0.5)
        assert source.errors >= errors + 2 and source.last_error_at == spell_began  # the same spell
        damaged.SPELL_S = 0.1  # a damaged picture in four at 10 fps: each its own spell
        errors = source.errors
        while source.errors < errors + 2 and time.monotonic() - started < 50:
            source.read(0.5)
        assert source.errors >= errors + 2 and source.last_error_at > spell_began
    finally:
        damaged.SPELL_S = spell_s
        source.close()
        camera.close()
