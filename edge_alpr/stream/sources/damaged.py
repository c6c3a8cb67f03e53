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
"""

from __future__ import annotations

import logging

IN_A_ROW = 3  # failed grabs in a row, each at once, taken for damaged pictures before the stream is said to have ended

log = logging.getLogger(__name__)


class Damaged:
    """Counts a stream's failed grabs in a row and the damaged pictures skipped (said once)."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self.in_a_row = 0
        self.skipped = 0  # pictures that could not be decoded, skipped, since the start

    def failed(self, at_once: bool) -> bool:
        """A grab failed (``at_once``: before the read_timeout); whether to try the next one on the
        same stream rather than say it ended."""
        self.in_a_row = self.in_a_row + 1 if at_once else 0
        if self.in_a_row and self.in_a_row < IN_A_ROW:
            return True
        self.in_a_row = 0
        return False

    def read(self) -> int:
        """A grab succeeded: the damaged pictures skipped just before it (counted; the first said)."""
        skipped, self.in_a_row = self.in_a_row, 0
        if skipped and not self.skipped:
            log.warning("camera %s: a picture of its stream could not be decoded and was skipped (a damaged or "
                        "cut-short picture; said once, each counted in the camera's errors)", self.camera_id)
        self.skipped += skipped
        return skipped
