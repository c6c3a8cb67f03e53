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
reading pauses once; a reading that then catches up at once was waiting for the camera.  Between
two such probes (``AGAIN_S`` apart) the stream time's rate is judged from the least gaps
(``rate.py``): falling behind steadily by over 2 %, the camera's clock is wrong: said once, its
frames are stamped when read and ``behind_s`` is not known, until a reconnect or until its stream
time keeps time again.  A network delay that rose once (a step, a ramp) is no rate: probed again
16, 32 ... s later, at most ``PROBES_PER_HOUR``.  A reading whose frames come no faster after the
pause is behind: warned as before, probed again after ``REPROBE_S`` (doubling), not at each
reopen by ``max_behind_s``, and a re-probe's pause does not count towards ``max_behind_s``.

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
from collections import deque

from .pace import Pace
from .rate import Envelope, keeps_time, slow_rate

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
AGAIN_S = 8.0  # a probe that found them waiting is repeated this much later (then 16, 32 ... s)
REPROBE_S = 300.0  # a reading found behind is probed again after this long, if still behind (then 600 ...)
PROBE_MAX_S = 3600.0  # ... up to this
PROBES_PER_HOUR = 12  # and never more often than this
SETTLE_S = 2.0  # nor within this of a connection's first frame
GROWN_S = 2.0  # but again when the stream fell this much further behind since the reads were found waiting

ADVICE = ("this device decodes the stream slower than the camera sends it (software decoding of 1080p or 4K "
          "H.264 on a Raspberry Pi): give the camera's source.url its substream (the smaller second stream most "
          "IP cameras offer, e.g. /Streaming/Channels/102 on Hikvision, subtype=1 on Dahua), or lower the "
          "stream's resolution or frame rate in the camera's own settings (max_fps and sample do not help: "
          "every frame is decoded)")
WRONG_RATE = ("camera %s: its stream time advances %.3f s a second while the frames are read as they come (after "
              "a pause they came back to back): the camera stamps its frames at a rate it does not keep (e.g. as "
              "30 fps while sending 25); its frames are stamped when they are read from now on and behind_s is "
              "not known (set the frame rate in the camera's own settings to one it keeps)")
KEEPS_TIME = ("camera %s: its stream time keeps time again (judged wrong before): its frames are stamped from it "
              "again and behind_s is known")


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
    behind is told from a camera clock that runs slow (``pace.py``, ``rate.py``); without it, a
    stream time that falls behind is always taken for a reading that is behind."""

    def __init__(self, camera_id: str, probe: bool = False) -> None:
        self.camera_id = camera_id
        self.behind_s: float | None = None  # None: no stream time yet on this connection
        self.moving = False  # the stream time advanced on this connection
        self.warned = False
        self.wrong_rate: float | None = None  # the camera's clock judged wrong: its stream seconds a second
        self._probe = Pace() if probe else None
        self._found_behind = not probe  # a probe found the reads not waiting (or none can tell)
        self._gaps = Envelope()
        # (read time from which, behind then): a probe found the reads waiting, and none since found them behind
        self._kept_up: tuple[float, float] | None = None
        self._level = 0.0  # behind when a probe last found the reads waiting
        self._mark, self._pause = 0.0, 0.0  # the last read before the last pause, and that pause
        self._next_probe = 0.0
        self._again = AGAIN_S  # the next probe after one that found the reads waiting, doubling
        self._reprobe = REPROBE_S  # ... after one that found them behind, doubling
        self._probes: deque[float] = deque(maxlen=PROBES_PER_HOUR)  # when the last probes paused
        self._connection, self._behind_on = 0, -1  # connections so far; the one a probe found behind on
        self._settled = 0.0  # no probe before this (the first frame of a connection, SETTLE_S on)
        self._fresh = True  # no frame yet on this connection
        self._debt = 0.0  # the pauses of re-probes of a reading found behind, on this connection
        self._check_from, self._kept_time = 0.0, 0  # while judged wrong: the span watched, spans that kept time
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

    def over(self, limit: float) -> bool:
        """Whether the reading, found behind, is more than ``limit`` s behind (``max_behind_s``):
        not while a probe runs, and not by the pauses of its re-probes (a reading's own backlog only)."""
        busy = self._probe is not None and self._probe.busy
        return (limit > 0 and self._found_behind and not busy and self.behind_s is not None
                and self.behind_s - self._debt > limit)

    def restart(self) -> None:
        """A new connection: its stream time starts afresh (a camera judged to stamp at a rate it
        does not keep is judged again), and the old one's backlog is gone."""
        self._least, self.wrong_rate, self._kept_up = None, None, None
        self.behind_s, self.moving, self._fresh, self._debt = None, False, True, 0.0
        self._connection += 1
        self._gaps.clear()
        if self._probe is not None:
            self._probe.restart()

    def pause_s(self) -> float:
        """Seconds the reader should pause before its next read (a probe; 0 mostly)."""
        if self._probe is None or self.wrong_rate is not None:
            return 0.0
        pause = self._probe.pause_s()
        if pause:
            self._mark, self._pause = self._last_now, pause
            self._probes.append(self._last_now)
            if self._found_behind:
                self._debt += pause
        return pause

    def made(self, pts_s: float, now: float) -> float:
        """The monotonic time the camera made the frame of stream time ``pts_s`` read at ``now``:
        ``now`` less how far behind the reading is (``now`` itself while the camera's clock is
        judged wrong)."""
        if not math.isfinite(pts_s):
            return now
        gap = now - pts_s
        if self._least is None or pts_s <= self._last_pts:  # first frame, or stream time reset
            self._least, self._kept_up = gap, None
            self._gaps.clear()
        else:
            self.moving = True
            self._least = min(gap, self._least + DRIFT * (now - self._last_now))
        if self._fresh:
            self._fresh, self._settled = False, now + SETTLE_S
        self._last_pts, self._last_now = pts_s, now
        self._gaps.add(now, gap)
        if self.wrong_rate is not None and not self._recheck(gap, now):
            return now
        behind = gap - self._least
        self.behind_s = behind
        self._pace(behind, now)
        if self.wrong_rate is not None:
            return now
        self._judge(behind, now)
        # once a probe found the reads waiting, stamps move no further while they keep waiting
        return now - (min(behind, self._kept_up[1]) if self._kept_up else behind)

    def _recheck(self, gap: float, now: float) -> bool:
        """While the camera's clock is judged wrong: whether its stream time now keeps time (two
        spans in a row, ``rate.py``): the judgement cleared, its reference taken afresh."""
        if now - self._check_from < AGAIN_S:
            return False
        kept = keeps_time(self._gaps.span(self._check_from, now))
        self._kept_time, self._check_from = self._kept_time + 1 if kept else 0, now
        if self._kept_time < 2:
            return False
        log.info(KEEPS_TIME, self.camera_id)
        self.wrong_rate, self._least, self._kept_up = None, gap, None
        return True

    def _pace(self, behind: float, now: float) -> None:
        """Probe a reading that looks behind, boundedly; judge from the probes (the module docstring)."""
        if self._probe is None:
            return
        waited = self._probe.read(now)
        if waited is False:
            self._found_behind, self._behind_on, self._kept_up = True, self._connection, None
            self._next_probe, self._reprobe = now + self._reprobe, min(2 * self._reprobe, PROBE_MAX_S)
        elif waited:
            self._found_behind, self._level, self._debt = False, behind, 0.0
            if self._kept_up is not None:
                rate = slow_rate(self._gaps.span(self._kept_up[0], self._mark))
                if rate is not None and behind >= PROBE_S:
                    self.wrong_rate, self.behind_s, self._kept_up = rate, None, None
                    self._check_from, self._kept_time = now, 0
                    log.info(WRONG_RATE, self.camera_id, rate)
                    return
                self._kept_up = (now + self._pause, self._kept_up[1])  # a delay that rose once: watched on
                self._next_probe, self._again = now + self._again, min(2 * self._again, PROBE_MAX_S)
            else:
                self._kept_up, self._next_probe = (now + self._pause, behind), now + AGAIN_S
        if behind < PROBE_S / 2:
            if self._kept_up is not None:
                self._kept_up, self._again = None, AGAIN_S  # a passing delay (the network): none of the camera's clock
        elif behind >= PROBE_S and self._may_probe(behind, now):
            self._probe.ask()

    def _may_probe(self, behind: float, now: float) -> bool:
        """At most ``PROBES_PER_HOUR``, none within ``SETTLE_S`` of a connection's first frame;
        when due, or when the stream fell ``GROWN_S`` further behind since the reads were found waiting."""
        assert self._probe is not None
        if self._probe.busy or now < self._settled:
            return False
        if len(self._probes) == PROBES_PER_HOUR and now - self._probes[0] < 3600.0:
            return False
        return now >= self._next_probe or (self._kept_up is not None and behind >= self._level + GROWN_S)

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
            if self._probe is not None and self._behind_on == self._connection:  # caught up by itself:
                self._found_behind, self._next_probe, self._reprobe = False, 0.0, REPROBE_S  # probed afresh
                self._debt = 0.0  # a later backlog is measured whole against max_behind_s
