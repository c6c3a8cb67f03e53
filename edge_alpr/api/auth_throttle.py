"""Wrong API tokens counted per client, so that the token cannot be guessed at network speed.

Why: every route behind the token answers a wrong one with 403 and the right one with 200, so
without a bound a client on the network could try thousands of tokens a second through the
``Authorization`` header alone, and a short token (``s3cret``, as an admin may type it) would
fall in minutes.  The login form and the header share these counts.

Why per client, and with a ceiling over all of them:

* A client (its address; an IPv6 client is its /64, which one host can fill with addresses)
  that sent ``MAX_FAILURES`` wrong tokens in ``FAILURE_WINDOW_S`` gets 429 for any token, the
  right one included (a right guess must not be told apart), until its oldest failure ages out.
  Other clients keep working: one guessing host locks out only itself, not the cameras and
  programs that send the right token, nor a browser already holding a console session (a
  session shows no token).
* Past ``MAX_FAILURES_ALL`` failures of all clients together (a guesser spread over many
  addresses), every client with a recent failure waits; a client that has not failed is still
  checked once, so a window allows at most ``MAX_FAILURES_ALL`` guesses plus one per address.
* At most ``MAX_CLIENTS`` clients are remembered; when that many have failed within the window
  and the ceiling is reached, every token waits: a flood of addresses costs the API its
  token clients for a minute, never memory.

Behind a reverse proxy every client has the proxy's address: the proxy's clients then share
one count, as they share the proxy.
"""

from __future__ import annotations

import collections
import ipaddress
import math
import threading
import time
from collections.abc import Callable
from typing import Any

MAX_FAILURES = 10  # wrong tokens of one client in the window
MAX_FAILURES_ALL = 100  # wrong tokens of all clients together in the window
FAILURE_WINDOW_S = 60.0
MAX_CLIENTS = 4096


def client_of(environ: dict[str, Any]) -> str:
    """The client a request counts against: its IPv4 address, or its IPv6 /64."""
    raw = str(environ.get("REMOTE_ADDR") or "").strip()
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return raw or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class TokenThrottle:
    """The failure counts of one server (thread-safe); ``clock`` in seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._all: collections.deque[float] = collections.deque()
        self._clients: dict[str, collections.deque[float]] = {}

    def _expire(self, now: float) -> None:
        while self._all and now - self._all[0] >= FAILURE_WINDOW_S:
            self._all.popleft()

    def _recent(self, client: str, now: float) -> collections.deque[float] | None:
        mine = self._clients.get(client)
        while mine and now - mine[0] >= FAILURE_WINDOW_S:
            mine.popleft()
        if mine is not None and not mine:
            del self._clients[client]
            return None
        return mine

    def wait_s(self, client: str) -> float:
        """0 when ``client`` may have a token checked now, else the seconds until it may."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            mine = self._recent(client, now)
            over = len(self._all) >= MAX_FAILURES_ALL
            if mine is None:
                if over and len(self._clients) >= MAX_CLIENTS:
                    self._forget_quiet(now)
                    if len(self._clients) >= MAX_CLIENTS:
                        return self._all[-MAX_FAILURES_ALL] + FAILURE_WINDOW_S - now
                return 0.0
            if len(mine) >= MAX_FAILURES:
                return mine[0] + FAILURE_WINDOW_S - now
            if over:
                return min(mine[-1], self._all[-MAX_FAILURES_ALL]) + FAILURE_WINDOW_S - now
            return 0.0

    def failed(self, client: str) -> None:
        """Count a wrong token of ``client``."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            self._all.append(now)
            mine = self._recent(client, now)
            if mine is None:
                if len(self._clients) >= MAX_CLIENTS:
                    self._forget_quiet(now)
                mine = self._clients.setdefault(client, collections.deque(maxlen=MAX_FAILURES))
            mine.append(now)

    def _forget_quiet(self, now: float) -> None:
        """Drop the clients whose failures all aged out (only when the table is full)."""
        for client in list(self._clients):
            self._recent(client, now)


def retry_after(wait_s: float) -> int:
    """``Retry-After``'s whole seconds for a wait (at least 1)."""
    return max(1, math.ceil(wait_s))
