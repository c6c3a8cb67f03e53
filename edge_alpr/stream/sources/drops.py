"""How a live camera's stream ends are told: what ``opencv.py`` knows of them, in one place.

Why a summary: a camera whose stream drops and comes back every few seconds (a flaky link, a
camera that resets its encoder, a stream that ends after each first frame) logged a warning and
a ``reconnected`` line at every drop, thousands a day, hiding everything else in the journal.
Now a drop after a calm is said as before; the drops that follow it are debug lines, summed up
in one warning every ``FLAP_SUMMARY_S`` (how many, over how long, the last one's cause) while
they go on; once a whole ``FLAP_SUMMARY_S`` passes without one, the next drop is said again.
A reconnect that fails after a quiet drop is warned (``Ends.quiet``): a lasting outage is never
hidden behind the summary.

Why a remembered verdict: an HTTP stream that ended after its one frame is asked why
(``reach.check``, a ``GET`` taking the camera's one slot) because a snapshot url does this.
Asked at every reconnect, a stream that always ends after its first frame was asked as often as
it was opened, each time for the same answer.  The answer is kept until the stream ends
otherwise (more frames, a frozen read) or an open fails: then the next such end is asked again.

Why a camera that did not answer is asked first: an HTTP camera is asked nothing before
OpenCV's open but the TCP connection (``reach.py``), so one that accepts and never answers held
OpenCV's open turn (``ffmpeg_open.OPEN_TURN``) for its whole ``read_timeout`` at every retry,
and every other url camera's (re)connect waited behind it (measured beside such a camera,
``read_timeout: 5``: a camera whose stream drops every 3 frames read 123 frames in 40 s, 209 now;
its first open still waits once).  Once the check after
a failed open got no answer in time (``reach.NoAnswer``; a camera refusing or not accepting the
connection fails the TCP probe, which holds no turn), the retries are asked by the check, in
the camera's own thread, until it answers; then OpenCV opens it (a camera serving one client
may refuse that open while it still holds the check's slot: that failure is asked about as any,
and the next retry opens).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .reach import ONE_PICTURE

FLAP_SUMMARY_S = 600.0  # the drops after a first one are summed up this often
ENDED = "the camera ended the stream or closed the connection"
ONE_FRAME = f"{ENDED} after its first frame (it serves a stream, not one picture)"


class Flaps:
    """Which drops of a stream are said, and when the quiet ones are summed up (see the
    module); times are monotonic seconds, given by the caller."""

    def __init__(self, every_s: float = FLAP_SUMMARY_S) -> None:
        self.every_s = every_s
        self._since: float | None = None  # the start of the window: the drop said, or the last summary
        self._count = 0  # quiet drops in the window
        self._last = ""  # the cause of the newest of them

    def drop(self, now: float, cause: str) -> bool:
        """Count a drop; whether it is said (the first after a calm) rather than summed up.  A
        summary due is the caller's to take first (``due``)."""
        if self._since is not None and not self._count and now - self._since >= self.every_s:
            self._since = None  # a whole window without a drop: a calm
        if self._since is None:
            self._since, self._count = now, 0
            return True
        self._count, self._last = self._count + 1, cause
        return False

    def due(self, now: float) -> tuple[int, float, str] | None:
        """The summary due at ``now``: the quiet drops, the seconds they were counted over and
        the last one's cause; None where none is due (a window without drops ends the flapping)."""
        if self._since is None or now - self._since < self.every_s:
            return None
        if not self._count:
            self._since = None
            return None
        summary = (self._count, now - self._since, self._last)
        self._since, self._count = now, 0
        return summary


@dataclass
class Ends:
    """The failure paths' state: a failure waiting for the HTTP camera's answer, the verdict on
    its one-frame ends, and whether the last failure was a debug line."""

    # a failure told at the next read, once the HTTP camera is asked why (its slot free then):
    # whether it was at the open, and its words
    asking: tuple[bool, str] | None = None
    # why the stream ends after its one frame, as the camera answered: a snapshot url, or ONE_FRAME
    verdict: str | None = None
    repeats: int = 0  # the one-frame ends since the verdict, its own end included
    quiet: bool = False  # the last failure was a debug line (so is the reconnect after it)
    # the HTTP camera accepted the check after a failed open but did not answer it (hung): its retries
    # are asked by the check before they take OpenCV's open turn, until it answers (see the module)
    unanswered: bool = False
    flaps: Flaps = field(default_factory=Flaps)

    def known(self, verdict: str) -> None:
        """Remember the camera's verdict on a one-frame end (the first end it was asked about)."""
        self.verdict, self.repeats = verdict, 1

    def forget(self) -> None:
        """The stream ended otherwise, or an open failed: the next one-frame end is asked again."""
        self.verdict, self.repeats = None, 0

    def snapshot(self) -> bool:
        """Whether the verdict is a snapshot url's (its ends are said once, not as drops)."""
        return self.verdict is not None and self.verdict.startswith(ONE_PICTURE)
