"""Opening a capture with OpenCV's FFmpeg backend: one at a time, and a url without the
frame-rate probe nor a wait for the stream's first keyframe.

OpenCV opens FFmpeg captures one at a time, process-wide (its own mutex); ``OPEN_TURN`` is that
turn in Python, so that a camera waiting for it can give up within its timeout instead of
blocking in OpenCV past its deadline (``opencv.py``).

Why the probe goes: before it returns, FFmpeg's open reads the stream until it has estimated
its frame rate from 20 frames' timestamps (``fpsprobesize``), on top of what it needs to decode
it, so every open of a 10 fps camera took 2 s (3 s for H.264), and the opens being one at a
time, the last of 4 cameras back from a network cut came after 8 s; those frames then came all
at once, stamped with the time they were read instead of the time they were seen.  Nothing
here uses FFmpeg's frame rate.  Only ``fpsprobesize`` changes: FFmpeg still reads until it
knows the codec, size and pixel format, for up to ``analyzeduration`` (5 s), so an H.264
camera joined between keyframes, or one that sends its SPS/PPS only before keyframes, opens as
before (its frames are decoded from the next keyframe on, none grey).  A lower ``probesize``
(32 KB) made that second kind of camera open with no size, and no frame ever came.

Why ``analyzeduration`` is 0.1 s: an H.264 camera whose SDP carries its SPS and PPS
(``sprop-parameter-sets``, most do) is known from its first packet, but FFmpeg's open still
read on until its first keyframe (measured: 1.6 s for a keyframe every 2 s, 2.6 s for one every
3 s), under the turn, so six cameras on one NVR or one reboot came back one keyframe wait
after another (the sixth after 6.9 s, keyframes 1 s apart).  With 0.1 s the open returns at
once (0.33 s) and the first read waits for the keyframe, outside the turn: the six wait for
the same one.  A camera that sends its SPS only before keyframes still opens when it comes (its
size is not known before), and H.265 and MJPEG opened that fast already.

OpenCV reads ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (``key;value|key;value``) at each open, for
files too; a video file's frame rate and frame count do come from that probe (an MPEG-TS file
said 20 fps and 59 frames instead of 10 and 30 without it), so the option is set only for a url's open, under
``OPEN_TURN``, and video files open under it too so that none ever sees it.  An admin's own
options in the service's environment are kept as they are; ``fpsprobesize;0`` is added unless
they set ``fpsprobesize`` themselves (``fpsprobesize;-1`` is FFmpeg's default, the 20 frames),
and ``analyzeduration;100000`` unless they set ``analyzeduration``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

OPEN_TURN = threading.Lock()  # held while OpenCV's FFmpeg backend opens a capture (it takes one at a time)
ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
# OpenCV's own choice when the variable is unset (RTP over TCP if the camera offers it); setting
# the variable replaces it, so it is spelled out
OPENCV_DEFAULT = "rtsp_flags;prefer_tcp"
NO_FPS_PROBE = "fpsprobesize;0"
SHORT_ANALYSIS = "analyzeduration;100000"  # microseconds: FFmpeg's default is 5 s
ADDED = {"fpsprobesize": NO_FPS_PROBE, "analyzeduration": SHORT_ANALYSIS}


def url_options(admin: str | None) -> str:
    """The options for a url's open: the admin's (else OpenCV's default) plus no frame-rate
    probe and a short analysis, each unless the admin chose that key (``key;value`` pairs
    joined by ``|``)."""
    base = admin if admin is not None else OPENCV_DEFAULT
    keys = {pair.split(";", 1)[0].strip() for pair in base.split("|")}
    return "|".join(p for p in (base.strip("|"), *(o for k, o in ADDED.items() if k not in keys)) if p)


@contextmanager
def url_open() -> Iterator[None]:
    """Around a url's ``VideoCapture``, with ``OPEN_TURN`` held: the url's options in the
    environment, then the admin's back (or OpenCV's default, which reads the same as unset:
    the variable is replaced, never removed, as other threads may read the environment)."""
    admin = os.environ.get(ENV)
    os.environ[ENV] = url_options(admin)
    try:
        yield
    finally:
        os.environ[ENV] = admin if admin is not None else OPENCV_DEFAULT
