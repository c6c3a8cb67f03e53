"""Whether the reads of a stream wait for the camera: a short pause, and how fast the next frames come.

Why: a stream's time that falls behind the read time says either that this device decodes the
stream slower than the camera sends it (the unread stream waits in FFmpeg's and the kernel's
buffers) or that the camera stamps its frames at a rate it does not keep (stream time advancing
as 30 fps while it sends 25: 0.17 s a second).  Stream and read times alone cannot tell the two
apart (a reading at 5/6 of real time and a stream time at 5/6 of it give the same numbers), and
neither can the time spent in ``grab``: it is long both when the read waits for the network and
when it decodes (measured, 640x360 at 30 fps on loopback: grab took 98 to 100 % of every read
both for a reader that kept up and for one slowed inside its grab).

What does tell: pausing the reading once for about 6 frames' time.  A reading that keeps up had
been waiting for each frame; the frames that came during the pause are then read back to back,
far faster than before (measured: 0.7 to 1.5 ms a frame against 33 or 40 before, MJPEG and
H.264, an honest camera and one sending 25 fps stamped as 30).  A reading that is behind had
no wait to spare: its next frames come as slowly as before (100.8 ms against 100.9, slowed
outside or inside grab).  The pause costs a reading that keeps up nothing it does not make up
within a few frames, and one that is behind the pause's length.

A slow stream needs a longer pause: the verdict wants two frames that came during it, read back
to back after it, so the pause lasts at least three frames' time.  Capped at 2 s alone, the pause
of a stream under 1.5 fps lasted less (at most one frame waiting under 1 fps): the next came as
slowly as before, so a camera that stamps a wrong rate read as a reading behind (warned with the
decoding advice, its stamps early).  At most ``SLOW_MAX_S`` (10 s), well within an RTSP session's
keep-alive (60 s, FFmpeg sends it at reads): streams down to about 0.2 fps are told; slower ones
read as behind.  The reader takes a pause a read's timeout at a time (``opencv.py``), so its
capture thread beats meanwhile and its deadline need not allow for it.
"""

from __future__ import annotations

import statistics
from collections import deque

STEADY_FRAMES = 30  # the read cycle before a pause: the median of up to this many intervals ...
MIN_FRAMES = 10  # ... and at least this many
PAUSE_FRAMES = 6  # a pause of this many read cycles ...
PAUSE_MIN_S, PAUSE_MAX_S = 0.2, 2.0  # ... within these bounds ...
SLOW_FRAMES, SLOW_MAX_S = 3, 10.0  # ... but at least this many cycles, up to this long (a slow stream)
BURST_FRAMES = 4  # the frames after the pause whose cycle is compared (fewer where fewer came in it)
FAST = 0.5  # a cycle after the pause under this share of the one before: the reads had waited


class Pace:
    """One probe at a time of one connection's reading: ``ask``, then the reader calls
    ``pause_s`` before each read and ``read`` after each frame; ``read`` returns the verdict (True:
    the reads had been waiting for the camera) at the frame that settles it, else None."""

    def __init__(self) -> None:
        self._reads: deque[float] = deque(maxlen=STEADY_FRAMES + 1)  # monotonic read times
        self._wanted = False
        self._steady = 0.0  # the median read cycle before the pause
        self._burst = 0  # intervals after the pause to compare
        self._after: list[float] | None = None  # read times since the pause (None: no probe running)

    @property
    def busy(self) -> bool:
        return self._wanted or self._after is not None

    def restart(self) -> None:
        """A new connection: the old one's reads and any probe of it are gone."""
        self._reads.clear()
        self._wanted, self._after = False, None

    def ask(self) -> bool:
        """Probe at the next read if enough reads are known; whether it will."""
        if not self.busy and len(self._reads) > MIN_FRAMES:
            self._wanted = True
        return self._wanted

    def pause_s(self) -> float:
        """Seconds to pause before the next read (0: none asked)."""
        if not self._wanted:
            return 0.0
        times = list(self._reads)
        self._steady = statistics.median(b - a for a, b in zip(times, times[1:]))
        longest = max(PAUSE_MAX_S, min(SLOW_FRAMES * self._steady, SLOW_MAX_S))
        pause = min(max(PAUSE_FRAMES * self._steady, PAUSE_MIN_S), longest)
        # frames that came during the pause, the first read after it aside, one to spare
        self._burst = max(1, min(BURST_FRAMES, int(pause / max(self._steady, 1e-3)) - 2))
        self._wanted, self._after = False, []
        return pause

    def read(self, now: float) -> bool | None:
        """A frame read at ``now`` (monotonic); the verdict once a probe is settled."""
        if self._after is None:
            self._reads.append(now)
            return None
        self._after.append(now)
        if len(self._after) <= self._burst:
            return None
        after = self._after
        cycle = statistics.median(b - a for a, b in zip(after, after[1:]))
        self._after = None
        self._reads.clear()  # the burst is no read cycle of the stream
        return cycle < FAST * self._steady
