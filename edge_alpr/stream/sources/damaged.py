"""A live stream's pictures that FFmpeg cannot decode, told apart from the stream's end.

Why: OpenCV's ``grab`` returns False for a picture FFmpeg cannot decode (an MJPEG part of
garbage, a JPEG its camera sent cut short: ``No JPEG data found``) just as it does at the end of
the stream, and the next ``grab`` reads the next picture as before.  Taken for the end, each such
picture closed a working stream and reconnected it (measured: an MJPEG camera at 10 fps sending
one part of garbage in four read 14 frames in 8 s, ``reconnecting`` and ``streaming`` in turn, each
drop said to be "the camera ended the stream"; now 60, every picture it could decode, ``streaming``
throughout, on one connection).  So a failed
``grab`` that came back at once is tried again at the next read, the stream kept open, up to
``IN_A_ROW`` times in a row; a stream that has ended fails each of them at once as well, and only
then is said to have ended.  A failed grab that waited the read_timeout is a frozen stream, not
a damaged picture: said at once as before.

The skipped pictures are the camera's ``errors``, and the first of a spell of them (after another
error, or after ``SPELL_S`` without one) its ``last_error``, with when: counted but not said
there, the camera's health named an old drop as its newest trouble while its errors grew.  Not
its ``failing_since``: frames flow meanwhile.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import FrameSource

IN_A_ROW = 3  # failed grabs in a row, each at once, taken for damaged pictures before the stream is said to have ended

SPELL_S = 60.0  # a damaged picture this long after the one before starts a new spell (a new last_error_at)
SKIPPED = "a picture of its stream could not be decoded and was skipped (a damaged or cut-short picture)"

log = logging.getLogger(__name__)


class Damaged:
    """Counts a stream's failed grabs in a row and the damaged pictures skipped (said once)."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self.in_a_row = 0
        self.skipped = 0  # pictures that could not be decoded, skipped, since the start
        self._last_at = 0.0  # monotonic, when the last of them was skipped

    def failed(self, at_once: bool) -> bool:
        """A grab failed (``at_once``: before the read_timeout); whether to try the next one on the
        same stream rather than say it ended."""
        self.in_a_row = self.in_a_row + 1 if at_once else 0
        if self.in_a_row and self.in_a_row < IN_A_ROW:
            return True
        self.in_a_row = 0
        return False

    def read(self, source: FrameSource) -> None:
        """A grab of ``source`` succeeded: the damaged pictures skipped just before it, counted in
        its errors; the first said, and the first of a spell its last_error."""
        skipped, self.in_a_row = self.in_a_row, 0
        if not skipped:
            return
        if not self.skipped:
            log.warning("camera %s: %s; said once, each counted in the camera's errors", self.camera_id, SKIPPED)
        now, self.skipped, source.errors = time.monotonic(), self.skipped + skipped, source.errors + skipped
        if source.last_error != SKIPPED or now - self._last_at > SPELL_S:
            source.last_error = SKIPPED
        self._last_at = now
