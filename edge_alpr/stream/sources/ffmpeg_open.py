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
the same one.  H.265 and MJPEG opened that fast already.

Why a url may be opened twice: FFmpeg's analysis stops when any of the streams reaches
``analyzeduration``, so a camera with audio whose SPS/PPS come only in-band (not in its SDP;
MPEG-TS over HTTP joined mid-stream too) opened after 0.1 s of audio with no picture size
(0x0, 90000 fps), every read failed and it reconnected for ever (measured: 0 frames; 1.6-3.6 s
to its first frame before the short analysis).  ``open_url`` therefore opens such a url again,
at once and still in the turn, with FFmpeg's own analysis (or the admin's options), says so
once and opens that url with the full analysis from then on.

OpenCV reads ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (``key;value|key;value``) at each open, for
files too; a video file's frame rate and frame count do come from that probe (an MPEG-TS file
said 20 fps and 59 frames instead of 10 and 30 without it), so the option is set only for a url's open, under
``OPEN_TURN``, and video files open under it too so that none ever sees it.  An admin's own
options in the service's environment are kept as they are; ``fpsprobesize;0`` is added unless
they set ``fpsprobesize`` themselves (``fpsprobesize;-1`` is FFmpeg's default, the 20 frames),
and ``analyzeduration;100000`` unless they set ``analyzeduration``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

OPEN_TURN = threading.Lock()  # held while OpenCV's FFmpeg backend opens a capture (it takes one at a time)
ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
# OpenCV's own choice when the variable is unset (RTP over TCP if the camera offers it); setting
# the variable replaces it, so it is spelled out
OPENCV_DEFAULT = "rtsp_flags;prefer_tcp"
NO_FPS_PROBE = "fpsprobesize;0"
SHORT_ANALYSIS = "analyzeduration;100000"  # microseconds: FFmpeg's default is 5 s
ADDED = {"fpsprobesize": NO_FPS_PROBE, "analyzeduration": SHORT_ANALYSIS}
FULL_PROBE: set[str] = set()  # urls opened with no size after the short analysis: opened without it since
log = logging.getLogger(__name__)


def _keys(options: str) -> set[str]:
    return {pair.split(";", 1)[0].strip() for pair in options.split("|")}


def url_options(admin: str | None, short: bool = True) -> str:
    """The options for a url's open: the admin's (else OpenCV's default) plus no frame-rate
    probe and (``short``) a short analysis, each unless the admin chose that key (``key;value``
    pairs joined by ``|``)."""
    base = admin if admin is not None else OPENCV_DEFAULT
    keys = _keys(base)
    added = (o for k, o in ADDED.items() if k not in keys and (short or k != "analyzeduration"))
    return "|".join(p for p in (base.strip("|"), *added) if p)


def short_analysis(admin: str | None) -> bool:
    """Whether a url's open adds the short analysis: not where the admin set ``analyzeduration``."""
    return admin is None or "analyzeduration" not in _keys(admin)


@contextmanager
def url_open(short: bool = True) -> Iterator[None]:
    """Around a url's ``VideoCapture``, with ``OPEN_TURN`` held: the url's options in the
    environment, then the admin's back (or OpenCV's default, which reads the same as unset:
    the variable is replaced, never removed, as other threads may read the environment)."""
    admin = os.environ.get(ENV)
    os.environ[ENV] = url_options(admin, short)
    try:
        yield
    finally:
        os.environ[ENV] = admin if admin is not None else OPENCV_DEFAULT


def open_url(cv2: Any, url: str, params: list[int], name: str) -> Any:
    """``cv2.VideoCapture`` of ``url`` (``OPEN_TURN`` held), opened again with FFmpeg's full
    analysis where the short one left it without a picture size (see above); ``name``: the
    camera for the log, without credentials."""
    short = url not in FULL_PROBE and short_analysis(os.environ.get(ENV))
    with url_open(short):
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if short and cap.isOpened() and (cap.get(cv2.CAP_PROP_FRAME_WIDTH) <= 0 or cap.get(cv2.CAP_PROP_FRAME_HEIGHT) <= 0):
        cap.release()
        FULL_PROBE.add(url)
        log.info("%s opened with no picture size after FFmpeg's short analysis (0.1 s; its SPS comes later than "
                 "another stream's first packets, audio probably): opening it with the full analysis from now on", name)
        with url_open(short=False):
            cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    return cap
