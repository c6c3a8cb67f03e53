"""HTTP MJPEG cameras that are no hung ones: a stream of PNG pictures (its headers' lines ended
by LF alone), and a camera whose first picture comes later than ``read_timeout``.

Before: the PNG stream was opened by FFmpeg, read no frame and was said to have "ended the
stream or closed the connection", twice a second for ever; the slow camera's failed open was
followed by a check that judged it hung ("its encoder hung?"), so its retries were only
checked and it never streamed.

Real parts: MJPEG cameras on loopback (``mjpeg_camera.py``) read by the real OpenCV source.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
from mjpeg_camera import MjpegCamera

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import open_source

LF_HEAD = b"HTTP/1.0 200 OK\nContent-Type: multipart/x-mixed-replace; boundary=frame\n\n"


def png_part(_: bytes) -> bytes:
    pixels = np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    pic = bytes(cv2.imencode(".png", pixels)[1].tobytes())
    return b"--frame\nContent-Type: image/png\nContent-Length: %d\n\n%s\n" % (len(pic), pic)


def _read(camera: MjpegCamera, seconds: float, read_timeout: float = 1.0) -> tuple[int, list[str], int]:
    """Frames read from ``camera`` in ``seconds``, each last_error said, and its errors."""
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": camera.url, "read_timeout": read_timeout,
        "reconnect_min": 0.1, "reconnect_max": 0.5}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    frames, said, started = 0, [], time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            frames += source.read(0.5) is not None
            if source.last_error and source.last_error not in said:
                said.append(source.last_error)
    finally:
        source.close()
        camera.close()
    return frames, said, source.errors


def test_a_stream_of_png_pictures_is_said_to_be_png_not_ended() -> None:
    frames, said, errors = _read(MjpegCamera(part=png_part, head=LF_HEAD), 4.0)
    assert frames == 0 and errors >= 2, (frames, errors)
    assert said and all("image/png, not JPEG" in s for s in said), said
    assert not [s for s in said if "hung" in s], said


def test_a_camera_whose_first_picture_comes_after_the_read_timeout_streams() -> None:
    frames, said, _ = _read(MjpegCamera(first_after=1.5), 10.0)
    assert frames >= 5, (frames, said)
    assert said and "first picture came 1." in said[0] and "later than source.read_timeout (1 s)" in said[0], said
    assert not [s for s in said if "hung" in s], said
