"""How a live camera's stream ends are told: what ``opencv.py`` knows of them, in one place.

Why a summary: a camera whose stream drops and comes back every few seconds (a flaky link, a
camera that resets its encoder, a stream that ends after each first frame) logged a warning and
a ``reconnected`` line at every drop, thousands a day, hiding everything else in the journal.
Now a drop after a calm is said as before; the drops that follow it are debug lines, summed up
in one warning every ``FLAP_SUMMARY_S`` (how many, over how long, the last one's cause) while
they go on; once a whole ``FLAP_SUMMARY_S`` passes without one, the next drop is said again.
A reconnect that fails after a quiet drop is a debug line too, and so is the ``reconnected``
after it, for ``QUIET_RETRIES`` failed reconnects whose retry came within ``QUIET_S`` of the drop
(``Ends.loud``): a flapping camera's reconnect often fails once or twice (a Wi-Fi blip longer
than ``reconnect_min``, a camera serving one client whose slot is still held), and warning each
such failure gave a warning and an info line at every drop again (measured: 12 warnings and 11
info lines in 12 s).  The next failure is warned, and so is any whose retry came later than
``QUIET_S`` after the drop, the quiet drops before it folded into that warning (``Flaps.take``):
a lasting outage is said at the first failed retry past ``QUIET_S`` or after ``QUIET_RETRIES``
(the retry 15 s after the drop with ``reconnect_min: 1``, retried after 1, 3 and 7 s; the first
failed reconnect where ``reconnect_min`` is over 10 s: counted in retries alone, a backoff of
300 s kept it quiet for 20 min), never hidden behind the summary, and the summary never claims a
reconnect that did not come.

Why a remembered verdict: an HTTP stream that ended after its one frame is asked why
(``http_check.check``, a ``GET`` taking the camera's one slot) because a snapshot url does this.
Asked at every reconnect, a stream that always ends after its first frame was asked as often as
it was opened, each time for the same answer.  The answer is kept until the stream ends
otherwise (more frames, a frozen read) or an open fails: then the next such end is asked again.
A 503 is kept too (a camera serving one client answers it while the stream's connection still
holds its slot: asked at every end, it answered the same); an answer that tells nothing (a 500,
a login that cannot be judged) is no verdict, and the next such end is asked again.  A stream's
verdict is asked again after ``ASK_AGAIN`` ends (a url turned into a snapshot url opens and ends
as before, no open failing to make it asked).

Why a camera that did not answer is asked first: an HTTP camera is asked nothing before
OpenCV's open but the TCP connection (``reach.py``), so one that accepts and never answers held
OpenCV's open turn (``ffmpeg_open.OPEN_TURN``) for its whole ``read_timeout`` at every retry,
and every other url camera's (re)connect waited behind it (measured beside such a camera,
``read_timeout: 5``: a camera whose stream drops every 3 frames read 123 frames in 40 s, 209 now;
its first open still waits once).  Once the check after
a failed open got no answer in time (``reach.NoAnswer``: no head, or for a multipart stream no
first part, a camera whose encoder froze answering its head alone or with a boundary line; a camera refusing or not
accepting the connection fails the TCP probe, which holds no turn), the retries are asked by the check, in
the camera's own thread, until it answers; then OpenCV opens it (a camera serving one client
may refuse that open while it still holds the check's slot: that failure is said so
(``JUST_CHECKED``, not asked about again, which took the slot once more and blamed "another
viewer"), and retried after the backoff).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .http_check import ONE_PICTURE, OTHER_PICTURES, STREAM
from .reach import ONE_CLIENT

FLAP_SUMMARY_S = 600.0  # the drops after a first one are summed up this often
ASK_AGAIN = 100  # one-frame ends told by a stream's verdict before the camera is asked again
QUIET_RETRIES = 3  # failed reconnects after a quiet drop said as debug lines, before the outage is warned
QUIET_S = 10.0  # s after a quiet drop within which its failed retries are debug lines; a later one is warned
ENDED = "the camera ended the stream or closed the connection"
ONE_FRAME = f"{ENDED} after its first frame (it serves a stream, not one picture)"
# a stream opened whose first frame never came, though the camera sends one: a picture FFmpeg cannot read
NO_FRAME = (f"{ENDED} before its first frame could be read, though the camera sends its stream (pictures FFmpeg "
            "cannot decode? a damaged stream?)")
# a one-frame end after which the camera answered the check 503: its one slot not yet free of the stream's
# connection; a 503 says nothing of what the url serves (a stream or one picture), so neither is claimed
ONE_CLIENT_FRAME = (f"{ENDED} after its first frame (the camera serves one client at a time: asked why at "
                    "once, it answered 503, its slot still held; what the url serves, a stream or one picture, "
                    "that does not tell)")
# a stream read max_behind_s behind the camera, reopened to drop its backlog (%.1f: how far, %g: max_behind_s)
BACKLOG = ("read %.1f s behind the camera (over source.max_behind_s, %g s): opening the stream again to drop the "
           "backlog (said once; the camera's substream is the lasting fix)")



def timed_out(read_timeout: float, frames: int, mjpeg: bool) -> str:
    """Why a stream's grab gave up at ``read_timeout``.  An H.264 or H.265 stream's open returns
    before its first keyframe (``ffmpeg_open.py``) and its first frame is that keyframe, so one
    whose keyframes are further apart than ``read_timeout`` gives up before its first frame at
    most connects (measured: a keyframe every 8 s, ``read_timeout: 3``, streaming at the third):
    said with the fix, not as a camera that stopped; "probably", as a stream that stalls just
    after its open is told the same."""
    said = f"no frame within the read_timeout ({read_timeout:g} s)"
    if frames or mjpeg:
        return said
    return (f"{said} of connecting: its first frame is probably its next keyframe, so keyframes further apart "
            "than that need a longer source.read_timeout or a shorter keyframe (I-frame) interval set on the camera")


# why OpenCV's open failed where the camera, asked just after, answered with its stream: said, it read
# "cannot open camera" alone (measured: a link passing 200 bytes/s; %g: the read_timeout)
STREAM_BUT = ("the camera answers with its stream (asked just after), yet FFmpeg's open read no picture of it within "
              "the read_timeout (%g s): a link too slow for its pictures, or pictures FFmpeg cannot decode?")

# why OpenCV's open fails just after a hung camera answered the check: a camera serving one client
# at a time frees the check's slot a moment after it (asked why, it blamed "another viewer")
JUST_CHECKED = ("the camera refused the open just after answering the service's own check (a camera serving "
                "one client at a time frees its slot a moment after); asked why if the retry fails too")


def summary(count: int, span: float, cause: str, back: bool) -> str:
    """The words of a summary of ``count`` quiet drops over ``span`` s, the last for ``cause``;
    ``back``: the stream was reconnected after the last of them (else it is still down)."""
    again = "was reconnected each time" if back else "was reconnected each time but the last (not yet back)"
    return (f"the stream dropped {count} more time(s) in the last {span / 60:.1f} min and {again} "
            f"(the last: {cause}); each drop is a debug line, summed up like this while it goes on")


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

    def take(self, now: float) -> tuple[int, float, str] | None:
        """The quiet drops counted so far, summed up before their window's end (an outage that
        follows them is warned, the source stops), like ``due``; the next drop is said again."""
        if self._since is None or not self._count:
            return None
        summary = (self._count, now - self._since, self._last)
        self._since, self._count = None, 0
        return summary


@dataclass
class Ends:
    """The failure paths' state: a failure waiting for the HTTP camera's answer, the verdict on
    its one-frame ends, and whether the last failure was a debug line."""

    # a failure told at the next read, once the HTTP camera is asked why (its slot free then):
    # whether it was at the open, and its words
    asking: tuple[bool, str] | None = None
    # why the stream ends after its one frame (or none: ``none``), as the camera answered: a snapshot url,
    # a stream of PNG pictures, ONE_FRAME or NO_FRAME
    verdict: str | None = None
    repeats: int = 0  # the one-frame ends since the verdict, its own end included
    none: bool = False  # the end being asked about came before the stream's first frame
    # the outage under way began with a quiet drop and is not warned yet (its reconnect is a debug line)
    quiet: bool = False
    # the HTTP camera accepted the check after a failed open but did not answer it (hung): its retries
    # are asked by the check before they take OpenCV's open turn, until it answers (see the module)
    unanswered: bool = False
    # the check of such a camera answered at last, and OpenCV's open comes next: a failure of that open
    # is said as JUST_CHECKED, not asked about (that question would take the one-client slot again)
    checked: bool = False
    flaps: Flaps = field(default_factory=Flaps)

    def loud(self, first: bool, quiet: bool, attempts: int, after: float = 0.0) -> bool:
        """Whether a failure is warned: the ``first`` of an outage unless it is a ``quiet`` drop,
        or, of a quiet drop's outage, the one after ``QUIET_RETRIES`` failed reconnects or the
        first whose retry came more than ``QUIET_S`` after the drop (``attempts``: this failure's
        number in the outage, the drop's 1; ``after``: s from the drop to this failure's retry);
        the others are debug lines."""
        was_quiet = self.quiet and not first
        late = attempts > QUIET_RETRIES + 1 or after > QUIET_S
        loud = not quiet and (first or (was_quiet and late))
        self.quiet = quiet or (was_quiet and not loud)
        return loud

    def judge(self, answer: str | None, none: bool = False) -> str | None:
        """The verdict on a one-frame end from the camera's ``answer`` to ``http_check.check``,
        remembered (the first end it was asked about); None, not remembered, where the answer
        tells nothing (an answer that could not be judged, a 404 or 401 of a camera that was
        just streaming: asked again at the next such end).  A 503 is remembered: a camera serving
        one client answers it while the stream's connection still holds its slot, and asked at
        every reconnect it answered the same."""
        if answer == STREAM:
            verdict: str | None = NO_FRAME if none else ONE_FRAME
        elif answer is not None and answer.startswith(ONE_CLIENT):
            verdict = ONE_CLIENT_FRAME
        else:
            verdict = answer if answer is not None and answer.startswith((ONE_PICTURE, OTHER_PICTURES)) else None
        self.verdict, self.repeats = verdict, int(verdict is not None)
        return verdict

    def told(self) -> str | None:
        """The verdict a one-frame end is told by, not asked about; None where the camera is
        asked: none is known, or a stream's was told ``ASK_AGAIN`` times (a url changed into a
        snapshot url, opening and ending after one frame as before, kept "serves a stream" for
        ever)."""
        return self.verdict if self.snapshot() or self.repeats < ASK_AGAIN else None

    def forget(self) -> None:
        """The stream ended otherwise, or an open failed: the next one-frame end is asked again."""
        self.verdict, self.repeats = None, 0

    def snapshot(self) -> bool:
        """Whether the verdict is a snapshot url's, or a stream's of pictures FFmpeg cannot read
        (a PNG one's): its ends are said once, not as drops (no reconnect helps)."""
        return self.verdict is not None and self.verdict.startswith((ONE_PICTURE, OTHER_PICTURES))
