"""When the camera made a frame, as closely as its source says, and whether its stream falls behind.

Why: a frame used to be stamped when ``read`` returned it.  A device queues frames, and a stream
that this machine decodes slower than the camera sends it (a Raspberry Pi decoding 1080p or 4K
H.264 in software) waits, unread, in FFmpeg's and the kernel's buffers: the reading falls
further behind the camera every second, its frames and so its events are stamped late by a
growing amount, and ``lag_s`` (read to recognised) still looks small.

Two kinds of time say better:

* A device's own capture time (V4L2 buffer timestamps through OpenCV's ``CAP_PROP_POS_MSEC``,
  libcamera's ``SensorTimestamp`` through picamera2), taken by the kernel on this machine's
  ``CLOCK_MONOTONIC`` (V4L2's, uvcvideo's and the Pi's camera drivers') or ``CLOCK_BOOTTIME``
  (what libcamera documents).  ``device_time`` takes it only when it fits one of those clocks
  within ``MAX_AGE_S`` before now; a driver that leaves it 0 or stamps the wall clock, and
  anything in the future, fall back to the read time.
* A stream's presentation time (RTSP's RTP timestamps, through FFmpeg), on the camera's own clock
  from an origin of its own: ``StreamClock`` compares how far it advanced with how far the
  monotonic clock did.  The least gap seen (read time less stream time) is the stream's own
  delay, reached when the reading had caught up; a frame read later than that by ``behind_s``
  was made ``behind_s`` before it was read.  That least gap may creep up by ``DRIFT`` (a camera
  clock running slow by up to 500 ppm, 1.8 s an hour, never reads as behind; measured, falling
  behind is 1000 times faster: 0.37 s a second reading 25 fps at 17).  Stream time that stands
  still or goes back (a reconnect, a camera's restart, a wrap) starts a new reference.

A camera that stamps its frames at a rate it does not keep (stream time advancing as 30 fps
while it sends 25) reads as behind too, by 0.17 s more every second.  Before it warns, a clock
whose reader can pause (``probe``) finds out which it is (``pace.py``): behind by ``PROBE_S``, the
reading pauses once; a reading that then catches up at once was waiting for the camera, and two
such probes ``AGAIN_S`` apart, the stream time still behind, judge the camera's clock wrong:
said once, its frames are stamped when read from then on and ``behind_s`` is not known.  A
reading whose frames come no faster after the pause is behind: warned as before.

Which streams have a time of the camera's: RTSP (RTP timestamps) and HTTP streams in a container
with timestamps (MPEG-TS: measured, its time advanced 0.999 s a second read in real time).
HTTP MJPEG has none: FFmpeg invents one at 25 fps whatever the camera sends (an 8 fps camera
read in real time advanced 0.32 s a second), so it is not followed; a raw H.264 stream over HTTP
says 0 for every frame (stream time that stands still: never behind, stamped when read).
"""

from __future__ import annotations

import logging
import math
import time

from .pace import Pace

log = logging.getLogger(__name__)

MAX_AGE_S = 5.0  # a device timestamp older than this (on both clocks) is not on this machine's clocks
FUTURE_S = 0.01  # a device timestamp at most this far ahead is now (the clocks read one after the other)
CLOCKS = (time.CLOCK_MONOTONIC, time.CLOCK_BOOTTIME)

WARN_S = 2.0  # behind by this much or more ...
WARN_HOLD_S = 3.0  # ... for this long: one warning
RECOVER_S = 1.0  # back under this ...
RECOVER_HOLD_S = 5.0  # ... for this long: one line that it caught up
DRIFT = 0.0005  # seconds a second the stream's least delay may creep up (camera clock drift)
PROBE_S = 1.0  # behind this much: find out whether the reads wait for the camera (pace.py)
AGAIN_S = 5.0  # a probe that found them waiting is repeated this much later
REPROBE_S = 300.0  # a reading found behind is probed again after this long, if still behind

ADVICE = ("this device decodes the stream slower than the camera sends it (software decoding of 1080p or 4K "
          "H.264 on a Raspberry Pi): give the camera's source.url its substream (the smaller second stream most "
          "IP cameras offer, e.g. /Streaming/Channels/102 on Hikvision, subtype=1 on Dahua), or lower the "
          "stream's resolution or frame rate in the camera's own settings (max_fps and sample do not help: "
          "every frame is decoded)")
WRONG_RATE = ("camera %s: its stream time advances %.3f s a second while the frames are read as they come (after "
              "a pause they came back to back): the camera stamps its frames at a rate it does not keep (e.g. as "
              "30 fps while sending 25); its frames are stamped when they are read from now on and behind_s is "
              "not known (set the frame rate in the camera's own settings to one it keeps)")


def device_time(stamp_s: float, now: float) -> float | None:
    """The monotonic time of a device's capture timestamp ``stamp_s`` (seconds on
    ``CLOCK_MONOTONIC`` or ``CLOCK_BOOTTIME``), ``now`` being the monotonic time it was read;
    None when it fits neither clock (0, the wall clock, the future, older than ``MAX_AGE_S``)."""
    if not math.isfinite(stamp_s) or stamp_s <= 0:
        return None
    for clock in CLOCKS:
        age = time.clock_gettime(clock) - stamp_s - (time.monotonic() - now)  # age when it was read
        if -FUTURE_S <= age <= MAX_AGE_S:
            return now - max(age, 0.0)
    return None


class StreamClock:
    """How far the reading of one stream is behind the camera, from its presentation times
    (see the module docstring); says it once when it lasts and once when it is over.

    ``probe``: the reader calls ``pause_s`` before each read, so that a reading that looks
    behind is told from a camera clock that runs slow (``pace.py``); without it, a stream time
    that falls behind is always taken for a reading that is behind."""

    def __init__(self, camera_id: str, probe: bool = False) -> None:
        self.camera_id = camera_id
        self.behind_s: float | None = None  # None: no stream time yet on this connection
        self.moving = False  # the stream time advanced on this connection
        self.warned = False
        self.wrong_rate: float | None = None  # the camera's clock judged wrong: its stream seconds a second
        self._probe = Pace() if probe else None
        self._found_behind = not probe  # a probe found the reads not waiting (or none can tell)
        # (read time, stream time, behind) before each probe that found the reads waiting
        self._waited: list[tuple[float, float, float]] = []
        self._mark = (0.0, 0.0, 0.0)
        self._next_probe = 0.0
        self._least: float | None = None  # the least read time less stream time: the stream's own delay
        self._last_pts = 0.0
        self._last_now = 0.0
        self._over_since: tuple[float, float] | None = None  # (monotonic, behind) when it went over WARN_S
        self._under_since: float | None = None
        self._worst = 0.0

    @property
    def reading_behind(self) -> bool:
        """The reading is behind for all this clock can tell: a probe found the reads not waiting
        for the camera (or the reader cannot pause)."""
        return self._found_behind

    def restart(self) -> None:
        """A new connection: its stream time starts afresh, and the old one's backlog is gone."""
        self._least = None
        self.behind_s, self.moving = None, False
        self._waited.clear()
        if self._probe is not None:
            self._probe.restart()

    def pause_s(self) -> float:
        """Seconds the reader should pause before its next read (a probe; 0 mostly)."""
        if self._probe is None or self.wrong_rate is not None:
            return 0.0
        pause = self._probe.pause_s()
        if pause:
            self._mark = (self._last_now, self._last_pts, self.behind_s or 0.0)
        return pause

    def made(self, pts_s: float, now: float) -> float:
        """The monotonic time the camera made the frame of stream time ``pts_s`` read at ``now``:
        ``now`` less how far behind the reading is (``now`` itself once the camera's clock is
        judged wrong)."""
        if self.wrong_rate is not None or not math.isfinite(pts_s):
            return now
        gap = now - pts_s
        if self._least is None or pts_s <= self._last_pts:  # first frame, or stream time reset
            self._least = gap
        else:
            self.moving = True
            self._least = min(gap, self._least + DRIFT * (now - self._last_now))
        self._last_pts, self._last_now = pts_s, now
        behind = gap - self._least
        self.behind_s = behind
        self._pace(behind, now)
        if self.wrong_rate is not None:
            return now
        self._judge(behind, now)
        # once a probe found the reads waiting, stamps move no further while a second one decides
        return now - (min(behind, self._waited[0][2]) if self._waited else behind)

    def _pace(self, behind: float, now: float) -> None:
        """Probe a reading that looks behind; judge from the probes (the module docstring)."""
        if self._probe is None:
            return
        waited = self._probe.read(now)
        if waited is False:
            self._found_behind, self._next_probe = True, now + REPROBE_S
            self._waited.clear()
        elif waited:
            self._waited.append(self._mark)
            (then, pts0, _), (last, pts1, _) = self._waited[0], self._waited[-1]
            rate = (pts1 - pts0) / (last - then) if last - then >= AGAIN_S else 1.0
            if behind >= PROBE_S and rate < 1.0 - DRIFT:
                self.wrong_rate, self.behind_s, self._found_behind = rate, None, False
                log.info(WRONG_RATE, self.camera_id, rate)
                return
            self._next_probe = now + AGAIN_S
        if behind < PROBE_S / 2:
            self._waited.clear()  # a passing delay (the network): none of the camera's clock
        elif behind >= PROBE_S and now >= self._next_probe and not self._probe.busy:
            self._probe.ask()

    def _judge(self, behind: float, now: float) -> None:
        if behind >= WARN_S:
            self._under_since = None
            self._worst = max(self._worst, behind)
            if self._over_since is None:
                self._over_since = (now, behind)
            since, then = self._over_since
            if not self.warned and self._found_behind and now - since >= WARN_HOLD_S:
                self.warned = True
                log.warning("camera %s: frames are read %.1f s after the camera made them, %.2f s later every "
                            "second: %s", self.camera_id, behind, max(0.0, behind - then) / (now - since), ADVICE)
            return
        self._over_since = None
        if behind >= RECOVER_S:
            self._under_since = None
            return
        if self._under_since is None:
            self._under_since = now
        if now - self._under_since >= RECOVER_HOLD_S:
            if self.warned:
                log.info("camera %s: caught up with the camera: frames are read within %.1f s of being made "
                         "again (they were up to %.1f s behind)", self.camera_id, RECOVER_S, self._worst)
            self.warned, self._worst, self._under_since = False, 0.0, None
            if self._probe is not None:
                self._found_behind, self._next_probe = False, 0.0  # the next time, probed afresh
