"""Whether a stream's time keeps time: how fast it advances against this machine's clock while
its reading keeps up with the camera (``stamps.py`` asks, between probes that found the reads
waiting for the camera, ``pace.py``).

Why not from two frames: the rate between two frames read 5 s apart is off by their network
jitter over 5 s (10 ms in 5 s: 0.2 %, four times the clock drift a camera may have), and a rise
in network delay (a congested or buffering uplink: 1.5 s within 2 s) reads as a stream time
that fell 0.3 s a second behind.  Neither is the camera's clock.

What tells: a frame's gap (read time less stream time) is the stream's delay plus whatever
waits (jitter, a backlog): both only ever add to it.  So the least gap in each ``BIN_S`` of read
time follows the stream's own delay, and a camera that stamps its frames at a rate it does not
keep (as 30 fps while sending 25) makes it grow steadily (0.17 s a second), for as long as it is
watched.  A delay that rises once (a step, a ramp) and stays is an offset: it grows in one part
of a span and not the rest.  So a span (at least ``MIN_SPAN_S``) is split in halves, and the
stream time is judged slow only where the least-squares slope of each half says it falls behind
by more than ``RATE_ERR`` (2 %: 80 ms in 4 s, many times a network's jitter) and the two agree
within ``AGREE`` of it.  A delay that keeps rising for longer than a span (a link slower than the
stream, for tens of seconds) cannot be told from it; a later span that keeps time clears it.
"""

from __future__ import annotations

import math
from collections import deque

BIN_S = 0.5  # the least gap of each this much read time
KEEP_S = 120.0  # the least gaps kept (a longer span uses its last this much)
MIN_SPAN_S = 6.0  # a span shorter than this says nothing
RATE_ERR = 0.02  # a stream time falling behind ours by more than this share of a second is slow ...
AGREE = 1 / 3  # ... when both halves of a span say so, within this share of it


class Envelope:
    """The least gap (read time less stream time) in each ``BIN_S`` of read time, with the read
    time it was seen at, for the last ``KEEP_S``."""

    def __init__(self) -> None:
        self._bins: deque[tuple[int, float, float]] = deque(maxlen=int(KEEP_S / BIN_S))

    def clear(self) -> None:
        self._bins.clear()

    def add(self, now: float, gap: float) -> None:
        index = math.floor(now / BIN_S)
        if self._bins and self._bins[-1][0] == index:
            if gap < self._bins[-1][2]:
                self._bins[-1] = (index, now, gap)
        else:
            self._bins.append((index, now, gap))

    def span(self, since: float, until: float) -> list[tuple[float, float]]:
        """The (read time, least gap) seen from ``since`` to ``until``."""
        return [(t, gap) for _, t, gap in self._bins if since <= t <= until]


def slope(points: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of gap against read time: seconds a second the stream time falls
    behind ours (negative: it runs ahead); None with fewer than 3 points."""
    if len(points) < 3:
        return None
    mt = sum(t for t, _ in points) / len(points)
    mg = sum(g for _, g in points) / len(points)
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (g - mg) for t, g in points) / var if var > 0 else None


def slow_rate(points: list[tuple[float, float]]) -> float | None:
    """The stream seconds a second of a stream time that falls behind steadily over the span
    ``points`` (the module docstring); None when it keeps time, or fell behind once."""
    if len(points) < 6 or points[-1][0] - points[0][0] < MIN_SPAN_S:
        return None
    mid = (points[0][0] + points[-1][0]) / 2
    first, second, whole = slope([p for p in points if p[0] < mid]), slope([p for p in points if p[0] >= mid]), \
        slope(points)
    if first is None or second is None or whole is None:
        return None
    if min(first, second) > RATE_ERR and abs(first - second) <= AGREE * whole:
        return 1.0 - whole
    return None


def keeps_time(points: list[tuple[float, float]]) -> bool:
    """Whether the stream time over the span ``points`` advanced as ours, within half ``RATE_ERR``."""
    fall = slope(points) if points and points[-1][0] - points[0][0] >= MIN_SPAN_S / 2 else None
    return fall is not None and abs(fall) < RATE_ERR / 2
