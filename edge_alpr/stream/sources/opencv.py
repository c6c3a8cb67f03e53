"""OpenCV capture: V4L2 devices, RTSP/HTTP URLs and GStreamer pipelines (Jetson CSI).

A lost or unopenable camera is retried with exponential backoff between ``reconnect_min`` and ``reconnect_max``
seconds; the loop keeps running (``read`` returns None meanwhile) so one dead camera never stops the others or the
service.  An outage is logged twice: its first failure (a warning) and its end (how long, how many attempts); the
attempts between are debug lines, so a camera unplugged for a week does not write thousands of lines to the
journal; a stream that keeps dropping and coming back is said at its first drop, then summed up (``drops.py``).
Its health (``stream/health.py``) says ``reconnecting`` then ``failed`` meanwhile.

OpenCV opens FFmpeg captures one at a time, process-wide.  So that a dead camera cannot hold the others back, a url
is first asked in Python whether it is there (``reach.py``; an HTTP camera is asked for its stream,
``http_check.py``, only after OpenCV's open failed, or its stream ended after one frame, so as not to take the one
slot of a camera that serves one client at a time), and the opens take turns on ``OPEN_TURN``: a camera waiting
for its turn returns from ``read`` within its ``timeout`` (the capture thread beats, and sees a stop) instead of
blocking in OpenCV's mutex past its deadline.  A url opens without FFmpeg's frame-rate probe
(``ffmpeg_open.py``): 2 s less per open of a 10 fps camera, each camera's turn after the others'.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from ...errors import CameraError
from ...names import user_name
from ...types import Frame
from ..source_config import OpenCvSourceConfig
from ._cv import FrameFitter, import_cv2, is_mjpeg, open_capture, require_gstreamer, where
from .capture_ends import CaptureEnds
from .damaged import Damaged
from .drops import BACKLOG, JUST_CHECKED, Ends, summary
from .ffmpeg_open import OPEN_TURN
from .http_check import LateStart, check
from .reach import NoAnswer, asks, probe
from .stamps import StreamClock, device_time
from .v4l2_names import device_node, open_hint

log = logging.getLogger(__name__)


class OpenCvSource(CaptureEnds):
    """A live OpenCV capture with reconnect.  A frame is stamped when the camera made it, as
    closely as the source says (``stamps.py``): a V4L2 device's buffer timestamp, an RTSP or
    HTTP stream's time less how far its reading is behind; otherwise (a pipeline, HTTP MJPEG, a
    device whose timestamps are on no clock of this machine, a camera whose stream time was
    judged wrong) as soon as ``grab`` returns, before the frame is converted.

    A pipeline's ``CAP_PROP_POS_MSEC`` is no frame's time: OpenCV's GStreamer backend answers
    it with the appsink's position, which a live pipeline gives as the time it is asked
    (measured: 5.64 s for a frame of 1.84 s read at 5.65 s, a third of a 30 fps source read)."""

    live = True
    wall_clock = True

    def __init__(self, cfg: OpenCvSourceConfig, camera_id: str, stop: threading.Event | None = None):
        super().__init__(camera_id, stop)
        self._cv2 = import_cv2()
        if cfg.pipeline:
            require_gstreamer(self._cv2, camera_id)
        self.cfg = cfg
        self._cap: Any = None
        self._retry_at = 0.0
        self._backoff = cfg.reconnect_min
        self.connects = 0
        self._attempts = 0  # failures in the current outage
        self._reached = False  # the url answered (reach.py) and waits for its turn to open
        self._hint: str | None = None  # why an open may fail, from the camera's answer
        self._ends = Ends()  # how the stream's ends are told (drops.py)
        self._connected_at = 0.0  # monotonic, when the capture now open was opened
        self._first_index = 0  # the index of its first frame
        # an open and a read, each bounded by the backend's timeout (V4L2 and GStreamer have none); a
        # probe's pause (pace.py, up to 10 s for a slow stream) is spread over reads of at most their timeout
        self.max_block_s = 2 * cfg.read_timeout + 1.0
        self._resume_at = 0.0  # monotonic, the end of a probe's pause under way
        self._late = LateStart(cfg.read_timeout)  # its opens given twice the read_timeout: a first picture came later
        self._fit, self._damaged = FrameFitter(self._cv2, camera_id, cfg.max_pixels), Damaged(camera_id)
        # RTSP's stream time is the camera's, and an HTTP stream's unless MJPEG (stamps.py)
        scheme = urlsplit(cfg.url).scheme.lower() if cfg.url else ""
        self._rtsp = scheme in ("rtsp", "rtsps")
        self._http = scheme == "http" and asks(cfg.url or "")  # asked why (http_check.check) when it fails
        self.clock = StreamClock(camera_id, probe=True) if self._rtsp or scheme in ("http", "https") else None
        self._timed = False  # the stream now open has a time of the camera's
        self.backlogs_dropped = 0  # reopened for being max_behind_s behind
        self._dropping = False

    def behind(self) -> float | None:
        if self.clock is None or self._cap is None or not self._timed or not self.clock.moving:
            return None
        return self.clock.behind_s

    def describe(self) -> str:
        """Where frames come from, for logs (``_cv.where``: no credentials)."""
        return where(self.cfg)

    def _open(self) -> Any:
        return open_capture(self._cv2, self.cfg, self._late.open_s)

    def _dropped(self, what: str, cause: str) -> None:
        """A stream that had been open ended: said, or summed up with the drops after it
        (``drops.py``); a snapshot url's one-picture ends are said at the first only."""
        if self._ends.snapshot():
            self._fail(what, reconnecting=True, quiet=self._ends.repeats > 1)
            return
        now = time.monotonic()
        self._summarise(now)
        self._fail(what, reconnecting=True, quiet=not self._ends.flaps.drop(now, cause))

    def _summarise(self, now: float, back: bool = True, take: bool = False) -> str:
        """Log the summary of the drops said as debug lines, where one is due (``drops.py``);
        ``take``: the summary now, whatever is due, returned (folded into the outage's warning)."""
        due = self._ends.flaps.take(now) if take else self._ends.flaps.due(now)
        if due is None or take:
            return "" if due is None else f"; before it, {summary(*due, back=False)}"
        log.warning("camera %s: %s", self.camera_id, summary(*due, back=back))
        return ""

    def _fail(self, what: str, reconnecting: bool | None = None, quiet: bool = False) -> None:
        # said: the first failure of an outage, or the one that outlasts a quiet drop's retries (drops.py)
        first, now, self._dropping = self.failing_since is None, time.monotonic(), False
        self._attempts = 1 if first else self._attempts + 1
        was_quiet = self._ends.quiet and not first
        after = 0.0 if first or self.failing_since is None else self._retry_at - self.failing_since
        loud = self._ends.loud(first, quiet, self._attempts, after)
        self.failed(what)
        folded = self._summarise(now, take=True) if loud and was_quiet else ""
        if was_quiet and not loud:
            self._summarise(now, back=False)
        log.log(logging.WARNING if loud else logging.DEBUG,
                "camera %s: %s (%s); %s in %.1f s, then with backoff up to %g s (logged again when it is back)%s",
                self.camera_id, what, self.describe(),
                "reconnecting" if (self._cap is not None if reconnecting is None else reconnecting) else "retrying",
                self._backoff, self.cfg.reconnect_max, folded)
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self.cfg.reconnect_max)

    def read(self, timeout: float) -> Frame | None:
        if self._cap is None:
            if self._ends.asking is not None:  # the open failed or the stream ended: asked why, its slot free
                opening, said = self._ends.asking
                self._ends.asking = None
                self._tell(opening, said)
                return None
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                self.stop.wait(min(wait, timeout))
                return None
            if self.cfg.url and asks(self.cfg.url) and not self._reached:
                try:  # an HTTP camera that did not answer is asked, not opened in the turn, till it does
                    self._hint = check(self.cfg.url, self.cfg.read_timeout, self._late.doubted) \
                        if self._ends.unanswered else probe(self.cfg.url, self.cfg.read_timeout)
                except CameraError as e:
                    self._ends.forget()
                    self._ends.unanswered &= isinstance(e, NoAnswer)  # still hung; else the probe again
                    self._late.checked(e)
                    self._fail(f"cannot open camera: {e}")
                    return None
                answered, self._ends.unanswered = self._ends.unanswered, False
                if answered and self._hint:  # back with a verdict (503, 401, 404): said, not opened
                    self._ends.forget()
                    self._fail(f"cannot open camera: {self._hint}")
                    return None
                self._reached, self._ends.checked = True, answered and self._hint is not None  # a stream
                return None  # the open comes at the next read, each bounded by read_timeout
            if self.cfg.url and not OPEN_TURN.acquire(timeout=timeout):
                return None  # another camera is opening: wait for the turn without blocking
            try:
                self._reached, checked, self._ends.checked = False, self._ends.checked, False
                open_at = time.monotonic()
                cap = self._open()
                took = time.monotonic() - open_at
            finally:
                if self.cfg.url:
                    OPEN_TURN.release()
            if not cap.isOpened():
                cap.release()
                self._ends.forget()  # the camera may have changed: a one-frame end is asked about again
                if (hung := self._late.failed(took)) is not None:  # ran out twice the read_timeout: hung, asked first
                    self._hint, self._ends.unanswered, checked = hung, True, False
                elif self._http and not checked:
                    self._ends.asking = (True, "cannot open camera")  # told at the next read, with why
                    return None
                self._hint = JUST_CHECKED if checked else self._hint  # not asked again: its slot taken again
                if not (self.cfg.url or self.cfg.pipeline):
                    self._hint = open_hint(device_node(self.cfg.device, self.cfg.device_path),
                                           not self.cfg.device_path, user_name(os.geteuid()))
                self._fail(f"cannot open camera: {self._hint}" if self._hint else "cannot open camera")
                return None
            self._cap, self._resume_at = cap, 0.0
            if self.clock is not None:
                self.clock.restart()
                mjpeg = is_mjpeg(self._cv2, cap)
                # HTTP MJPEG's stream time is FFmpeg's invention; a file served over HTTP (it knows its
                # length) is no live stream: read as fast as it decodes, never behind a camera
                self._timed = self._rtsp or not (mjpeg or cap.get(self._cv2.CAP_PROP_FRAME_COUNT) > 0)
            self._connected_at, self._first_index, self.connects = time.monotonic(), self._index, self.connects + 1
            if not self._dropping and self.connects > 1:
                down = time.monotonic() - self.failing_since if self.failing_since is not None else 0.0
                log.log(logging.DEBUG if self._ends.quiet else logging.INFO, "camera %s: reconnected to %s after "
                        "%.1f s and %d failed attempt(s)", self.camera_id, self.describe(), down, self._attempts)
            self._dropping = False
            if self._late.opened():
                return None  # its open may have taken 2 x read_timeout (max_block_s): grabbed at the next read
        if self.clock is not None and self._timed and self._resume_at <= time.monotonic():
            pause = self.clock.pause_s()
            self._resume_at = time.monotonic() + pause if pause else 0.0
        left = self._resume_at - time.monotonic()
        if left > 0 and (self.stop.wait(min(left, timeout)) or left > timeout):
            return None  # a probe's pause, a read's timeout at a time: the capture thread beats meanwhile
        started = time.monotonic()
        ok = self._cap.grab()
        captured, stamp = time.monotonic(), datetime.now(timezone.utc)
        bgr = self._cap.retrieve()[1] if ok else None
        if bgr is None:  # the stream's end, or a picture FFmpeg could not decode (damaged.py)
            if not self._damaged.failed(captured - started < 0.9 * self.cfg.read_timeout):
                self._stopped(captured - started)
            return None
        self._damaged.read(self)
        made = self._made(captured)
        stamp -= timedelta(seconds=captured - made)
        try:
            pixels, convert, order = self._fit.fit(bgr)
        except CameraError as e:  # no frame of this camera can be used: said once, like an outage
            self._fail(str(e).removeprefix(f"camera {self.camera_id}: "))
            return None
        self._backoff = self.cfg.reconnect_min
        self._summarise(captured)
        frame = Frame(pixels, self.camera_id, stamp, self._next_index(), made, convert, order)
        if self.clock is not None and self._timed and self.clock.over(self.cfg.max_behind_s):
            self._drop_backlog(captured - made)
        return frame

    def _drop_backlog(self, behind: float) -> None:
        """Close the stream read ``behind`` s behind the camera; the next read opens it again at
        the camera's newest frame (measured: 5.4 s of an H.264 backlog gone, the reopen 0.9 s, the
        keyframe wait).  Said once; each time after is a debug line."""
        self.backlogs_dropped += 1
        log.log(logging.INFO if self.backlogs_dropped == 1 else logging.DEBUG, "camera %s: " + BACKLOG,
                self.camera_id, behind, self.cfg.max_behind_s)
        self._cap.release()
        self._cap, self._retry_at, self._dropping = None, 0.0, True

    def _made(self, read: float) -> float:
        """When the camera made the frame just grabbed at ``read`` (monotonic), see the class."""
        if self.clock is not None and self._timed:
            return self.clock.made(self._cap.get(self._cv2.CAP_PROP_POS_MSEC) / 1000.0, read)
        if self.cfg.url or self.cfg.pipeline:
            return read
        made = device_time(self._cap.get(self._cv2.CAP_PROP_POS_MSEC) / 1000.0, read)
        return read if made is None else made

    def close(self) -> None:
        due = self._ends.flaps.take(time.monotonic())  # the quiet drops not yet summed up: said at the stop
        if due is not None:
            log.warning("camera %s: %s", self.camera_id, summary(*due, back=self.failing_since is None))
        if self._cap is not None:
            self._cap.release()
            self._cap = None
