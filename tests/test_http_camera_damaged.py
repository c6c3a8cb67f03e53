"""A live MJPEG stream with a picture FFmpeg cannot decode now and then stays open: the damaged
pictures are skipped and counted, the stream is not taken to have ended.

Before: OpenCV's ``grab`` fails for such a picture as it does at the stream's end, so each one
closed the stream and reconnected (``reconnecting`` and ``streaming`` in turn, "the camera ended
the stream"), losing the pictures of every reconnect.

Real parts: an MJPEG camera on loopback (``mjpeg_camera.py``) read by the real OpenCV source.
"""

from __future__ import annotations

import os
import threading
import time

from mjpeg_camera import MjpegCamera, jpeg_part

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import open_source


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
