"""The sightings that wait in memory while another process holds the history's database locked.

Why: a lock goes (a backup finishes, a second edge-alpr on the same state folder is stopped), so
the events read meanwhile must not be lost as they would be to a broken folder (``faults.py``).
They wait here, ready to insert (their frame encoded and let go, about 25 kB each), and the store
puts them in, oldest first, once the lock goes.  Bounded: a lock that never goes must not eat the
memory of a Raspberry Pi, so past ``WAITING_MAX`` the oldest is dropped, said once per episode.
How many wait and how many were dropped is in the history's ``stats()``, so ``/metrics`` and the
console show a lock that lasts, not the log alone.
Like any row of the history (``synchronous=NORMAL``) they are not durable: a power cut loses
them; the outbox is the durable path of an event.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .images import Jpegs
from .sighting import Sighting

log = logging.getLogger(__name__)

WAITING_MAX = 256  # sightings kept while the database is locked (about 6 MB at 25 kB each)


@dataclass(frozen=True)
class Waiting:
    """A sighting ready to insert: its payload as JSON, its images encoded (``scene`` dropped)."""

    sighting: Sighting
    payload: str
    images: Jpegs | None
    size: int  # what it weighs as the bounds count it


class WaitingRoom:
    """The waiting sightings, oldest first; not thread-safe (the store serialises its writers)."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._queue: deque[Waiting] = deque()
        self._overflowed = False  # the drop of this episode was said
        self.dropped = 0  # this process: the oldest dropped past WAITING_MAX

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, keep: Callable[[Waiting], bool | None]) -> bool:
        """Hand the waiting sightings to ``keep``, oldest first, until it answers None (the lock
        is still held: that one stays first); True when none waits any more."""
        while self._queue:
            if keep(self._queue[0]) is None:
                return False
            self._queue.popleft()  # stored, or dropped by the store (said there)
        self._overflowed = False
        return True

    def add(self, entry: Waiting) -> bool:
        """Keep ``entry``; False when the oldest had to be dropped for it (said once per episode)."""
        self._queue.append(entry)
        if len(self._queue) <= WAITING_MAX:
            return True
        oldest = self._queue.popleft().sighting
        self.dropped += 1
        if not self._overflowed:
            log.warning("history: event %s of %s not kept: %d events already wait for the lock on %s; "
                        "the oldest are dropped until it lets go", oldest.id, oldest.camera_id, WAITING_MAX,
                        self.database)
            self._overflowed = True
        return False
