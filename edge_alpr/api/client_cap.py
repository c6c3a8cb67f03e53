"""Open connections per client address (``api.max_connections_per_client``).

Why: each connection holds a file descriptor until it closes or expires (``header_timeout_s``
while it sends nothing), so one client opening connections in a loop (a buggy script, a
scanner, an attack) reaches the process's ``LimitNOFILE``: then nobody is served and the
cameras' files and the history's images cannot be opened either.  Past the cap, a new
connection from that address is closed as soon as it is accepted, before any worker sees it;
the log says it once per episode per address, and once when the episode is over.

A reverse proxy, Home Assistant or a camera keeping a pool open legitimately holds several
connections from one address: the default (64) is far above what those keep open, and 0 turns
the cap off (behind a proxy every client shares its address).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

QUIET_S = 60.0  # an address's episode is over once none of its connections was refused for this long


@dataclass
class _Episode:
    since: float
    last: float
    refused: int = 0


class ClientCap:
    """Counts open connections per address; thread-safe (accepts and closes run on any thread)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap  # 0: no cap
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self._episodes: dict[str, _Episode] = {}

    def admit(self, address: str | None) -> bool:
        """Count one new connection from ``address``; False when that address holds ``cap``
        already (the caller closes it)."""
        if self.cap <= 0 or not address:
            return True
        now = time.monotonic()
        with self._lock:
            held = self._open.get(address, 0)
            if held < self.cap:
                self._open[address] = held + 1
                return True
            episode = self._episodes.get(address)
            if episode is None:
                episode = self._episodes[address] = _Episode(now, now)
                log.warning("http: client %s holds %d connections, api.max_connections_per_client; "
                            "its further ones are closed at once until some close.  Where many "
                            "clients share the address (a reverse proxy), raise the setting (0: no "
                            "cap); else find what opens them (ss -tnp)", address, held)
            episode.last = now
            episode.refused += 1
            return False

    def release(self, address: str) -> None:
        """One connection counted by ``admit`` closed."""
        with self._lock:
            left = self._open.get(address, 0) - 1
            if left > 0:
                self._open[address] = left
            else:
                self._open.pop(address, None)

    def tick(self) -> None:
        """End the episodes of addresses not refused for ``QUIET_S`` (one line each)."""
        if not self._episodes:
            return
        now = time.monotonic()
        with self._lock:
            over = [a for a, e in self._episodes.items() if now - e.last >= QUIET_S]
            for address in over:
                episode = self._episodes.pop(address)
                log.info("http: client %s under api.max_connections_per_client again (%d connections "
                         "refused over %.0f s)", address, episode.refused, episode.last - episode.since)
