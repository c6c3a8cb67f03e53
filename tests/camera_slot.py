"""The one slot of a test camera that serves one client at a time, as ``test_http_camera_*`` use it.

Why not a slot freed a fixed time after its client went (as such cameras do, a moment after):
the tests need the next request to come within that moment (the reconnect's open, the check
asking why), and on a loaded machine it came later (two busy cores), the camera answered it and
the test saw no refusal.  Here the slot is freed once its client went and a given number of
requests were refused since it was taken, the last one's 503 sent after the slot is free: the
same camera as seen by the service, with no race against the clock.
"""

from __future__ import annotations

import threading


class Slot:
    """Taken by one client; freed after it went (``leave``) and ``refusals`` requests were
    refused (``take`` returning False) since it was taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken = False
        self._gone = False
        self._owed = 0

    def take(self, refusals: int = 0) -> bool:
        """Whether the slot was free (now taken, to be freed after ``refusals`` refusals and the
        client's ``leave``); False: the request is refused (counted; the slot freed where that was
        the last refusal owed and its client went)."""
        with self._lock:
            if not self._taken:
                self._taken, self._gone, self._owed = True, False, refusals
                return True
            self._owed -= 1
            if self._gone and self._owed <= 0:
                self._taken = False
            return False

    def leave(self) -> None:
        """The client went: the slot is freed now if no refusal is owed."""
        with self._lock:
            self._gone = True
            if self._owed <= 0:
                self._taken = False

    def hold(self) -> None:
        """Another viewer holds the slot for good: every request is refused."""
        with self._lock:
            self._taken, self._gone, self._owed = True, False, 0
