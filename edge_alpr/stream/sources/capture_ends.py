"""Why a live capture failed, judged before it is said: a stream that stopped, an HTTP camera asked.

Why apart from ``opencv.py``: this is the judging alone, what the failure was, and it decides
nothing of the reconnect (the backoff, the outage's log lines, its health: ``OpenCvSource._fail``
and ``_dropped``, which it calls with its verdict).  A stream that had been open stopped either
at the read_timeout (a camera or link that froze, or an H.264 stream whose keyframes are further
apart than the timeout: ``drops.timed_out``) or at once (the camera ended it); an HTTP stream
that ended after one frame, or an HTTP open that failed, is asked why (``http_check.check``) at
the next read, when the stream's slot at the camera is free, and the answer is remembered as
``drops.py`` says.
"""

from __future__ import annotations

import time
from typing import Any

from ...errors import CameraError
from ..source_config import OpenCvSourceConfig
from . import FrameSource
from ._cv import is_mjpeg
from .drops import ENDED, STREAM_BUT, Ends, timed_out
from .http_check import STREAM, LateStart, check
from .reach import NoAnswer


class CaptureEnds(FrameSource):
    """The judging half of ``OpenCvSource``: its state is the capture's, set up there."""

    cfg: OpenCvSourceConfig
    _cv2: Any
    _cap: Any  # the OpenCV capture now open, or None
    _hint: str | None
    _ends: Ends
    _late: LateStart
    _http: bool
    _connected_at: float
    _first_index: int

    def _fail(self, what: str, reconnecting: bool | None = None, quiet: bool = False) -> None:
        """Say a failure and set the retry (``OpenCvSource._fail``)."""
        raise NotImplementedError

    def _dropped(self, what: str, cause: str) -> None:
        """Say a stream's end, or sum it up with the drops after it (``OpenCvSource._dropped``)."""
        raise NotImplementedError

    def _stopped(self, waited: float) -> None:
        """Say why a stream that had been open stopped, and after how long (the log,
        ``last_error``): a grab that gave up at the read_timeout (a camera or link that froze or
        slowed to a trickle) or one that failed at once (the camera closed the connection or
        ended the stream: a reboot, a reset, a cable pulled at a switch).  An HTTP stream that
        ended after its one frame may be a snapshot url: the camera is asked (``http_check.check``) at
        the next read, its slot free then, and the end is said with its answer; the answer holds
        for the next such ends (``drops.py``)."""
        frames, since = self._index - self._first_index, time.monotonic() - self._connected_at
        said = f"stopped sending frames {since:.1f} s after connecting ({frames} frame(s) since)"
        ended, ends = waited < 0.9 * self.cfg.read_timeout, self._ends
        if not (ended and frames <= 1):  # none: a stream of pictures FFmpeg cannot read (PNG) is asked too
            ends.forget()
        elif (verdict := ends.told()) is not None:  # asked before: its answer again, the camera not asked
            ends.repeats += 1
            self._dropped(f"{said}: {verdict}", verdict)
            return
        elif self._http:
            self._cap.release()
            self._cap, ends.asking, ends.none = None, (False, said), frames == 0
            return
        cause = ENDED if ended else timed_out(self.cfg.read_timeout, frames, is_mjpeg(self._cv2, self._cap))
        self._dropped(f"{said}: {cause}", cause)

    def _tell(self, opening: bool, said: str) -> None:
        """Say a failure of an HTTP camera (``Ends.asking``) with the camera's answer to ``check``;
        a one-frame end's answer is remembered unless the camera could not be asked."""
        try:
            answer, asked, hung = check(self.cfg.url or "", self.cfg.read_timeout, self._late.doubted), True, False
        except CameraError as e:
            answer, asked, hung = (str(e) if opening else None), False, isinstance(e, NoAnswer)
            self._late.checked(e)
        if opening:  # a stream's answer: the open failed on its pictures (a link trickling them, or PNG)
            self._hint, self._ends.unanswered = answer, hung
            told = STREAM_BUT % self.cfg.read_timeout if asked and answer == STREAM else answer
            self._fail(f"{said}: {told}" if told else said)
            return
        verdict = self._ends.judge(answer, self._ends.none) if asked else None  # a stream, a picture, ...
        self._dropped(f"{said}: {verdict or ENDED}", verdict or ENDED)
