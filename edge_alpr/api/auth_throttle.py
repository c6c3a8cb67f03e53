"""Wrong API tokens counted per client, so that the token cannot be guessed at network speed.

Why: every route behind the token answers a wrong one with 403 and the right one with 200, so
without a bound a client on the network could try thousands of tokens a second through the
``Authorization`` header alone, and a short token (``s3cret``, as an admin may type it) would
fall in minutes.  The login form and the header share these counts.

Three counts, each over the last ``FAILURE_WINDOW_S``:

* Per address (``MAX_FAILURES``): an address past it gets 429 for any token, the right one
  included (a right guess must not be told apart), until its oldest failure ages out.  An
  IPv6 address counts alone: every host of a LAN shares one /64 (every link-local peer shares
  ``fe80::/64``), so one guessing neighbour must not lock out the others.
* Per network (``MAX_FAILURES_NET``): an IPv6 address's /64, which one host can fill with
  addresses, so a guesser that changes address at each try is still bounded.
* Over all clients (``MAX_FAILURES_ALL``): a guesser spread over many networks.

An address that sent the right token within ``TRUSTED_S`` (at most ``MAX_TRUSTED`` of them,
the least recent forgotten first) skips the network and overall counts, never its own: the
cameras and programs that hold the token keep working while a neighbour or a botnet guesses,
and a guesser at another address learns nothing from it.  An address that never sent the right
token waits while its network or all clients are over their counts, even one that never failed:
otherwise each fresh address would be one more guess.

Check and count are one step (``attempt``): the try is counted before the token is compared
and taken back when it was right, so parallel connections of one client get no extra guesses.

Memory: at most ``MAX_CLIENTS`` addresses and as many networks are remembered, the one that
failed least recently forgotten first, a few at a time; the overall count is never forgotten,
so forgetting a client does not give a guesser more tries.

Behind a reverse proxy, or on loopback, every client has one address and shares its counts.
"""

from __future__ import annotations

import collections
import ipaddress
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_FAILURES = 10  # wrong tokens of one address in the window
MAX_FAILURES_NET = 100  # wrong tokens of one IPv6 /64 in the window
MAX_FAILURES_ALL = 200  # wrong tokens of all clients together in the window
FAILURE_WINDOW_S = 60.0
MAX_CLIENTS = 4096  # addresses remembered, and as many networks
MAX_TRUSTED = 1024  # addresses that sent the right token, remembered
TRUSTED_S = 15 * 60.0

_Failures = collections.deque[float]


@dataclass(frozen=True)
class Client:
    """Who a request counts against: its ``address`` and its ``network`` (the IPv6 /64; for
    IPv4 the address itself)."""

    address: str
    network: str


def client_of(environ: dict[str, Any]) -> Client:
    """The client of a request, from ``REMOTE_ADDR`` (an IPv4-mapped IPv6 address is IPv4)."""
    raw = str(environ.get("REMOTE_ADDR") or "").strip()
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return Client(raw or "unknown", raw or "unknown")
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return Client(str(address.ipv4_mapped), str(address.ipv4_mapped))
        return Client(str(address), str(ipaddress.IPv6Network((address, 64), strict=False)))
    return Client(str(address), str(address))


@dataclass(frozen=True)
class Refused:
    """A token check refused for ``wait_s`` seconds because ``whose`` wrong tokens (an address,
    a network or ``all clients``) are over their count."""

    wait_s: float
    whose: str
    first: bool = False  # the first refusal of this lockout: the one worth a line in the log


class Attempt:
    """One token check let through by ``TokenThrottle.attempt``, counted as a failure until
    ``right`` says otherwise."""

    def __init__(self, throttle: TokenThrottle, client: Client, stamp: float) -> None:
        self._throttle = throttle
        self.client = client
        self.stamp = stamp

    def right(self) -> None:
        """The token was right: take the try back and trust the address for ``TRUSTED_S``."""
        self._throttle._release(self)


class TokenThrottle:
    """The failure counts of one server (thread-safe); ``clock`` in seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._all: _Failures = collections.deque()
        self._addresses: collections.OrderedDict[str, _Failures] = collections.OrderedDict()
        self._networks: collections.OrderedDict[str, _Failures] = collections.OrderedDict()
        self._trusted: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._told: collections.OrderedDict[str, float] = collections.OrderedDict()  # whose -> lockout end

    def attempt(self, client: Client) -> Attempt | Refused:
        """An ``Attempt`` (already counted as a failure) when ``client`` may have a token
        checked now, else ``Refused`` saying for how long and whose count is full."""
        with self._lock:
            now = self._clock()
            counts = [(client.address, self._addresses.get(client.address), MAX_FAILURES)]
            if not self._is_trusted(client.address, now):
                if client.network != client.address:
                    counts.append((client.network, self._networks.get(client.network),
                                   MAX_FAILURES_NET))
                counts.append(("all clients", self._all, MAX_FAILURES_ALL))
            for whose, failures, most in counts:
                wait = _wait(failures, most, now)
                if wait > 0:
                    return Refused(wait, whose, self._first_refusal(whose, now, wait))
            _age(self._all, now)
            self._all.append(now)
            _count(self._addresses, client.address, now, MAX_FAILURES)
            if client.network != client.address:
                _count(self._networks, client.network, now, MAX_FAILURES_NET)
            return Attempt(self, client, now)

    def _first_refusal(self, whose: str, now: float, wait: float) -> bool:
        """Whether this refusal starts a lockout of ``whose`` (an admin hears of each lockout
        once, not of every refused request; at most ``MAX_TRUSTED`` lockouts remembered)."""
        if self._told.get(whose, 0.0) > now:
            return False
        self._told[whose] = now + wait
        self._told.move_to_end(whose)
        while len(self._told) > MAX_TRUSTED:
            self._told.popitem(last=False)
        return True

    def trusted(self, address: str) -> bool:
        """Whether ``address`` sent the right token within ``TRUSTED_S``."""
        with self._lock:
            return self._is_trusted(address, self._clock())

    def _is_trusted(self, address: str, now: float) -> bool:
        while self._trusted and now - next(iter(self._trusted.values())) >= TRUSTED_S:
            self._trusted.popitem(last=False)
        return address in self._trusted

    def _release(self, attempt: Attempt) -> None:
        client = attempt.client
        with self._lock:
            _take_back(self._all, attempt.stamp)
            for table, key in ((self._addresses, client.address), (self._networks, client.network)):
                failures = table.get(key)
                _take_back(failures, attempt.stamp)
                if failures is not None and not failures:
                    del table[key]
            self._trusted[client.address] = self._clock()
            self._trusted.move_to_end(client.address)
            while len(self._trusted) > MAX_TRUSTED:
                self._trusted.popitem(last=False)


def _age(failures: _Failures, now: float) -> None:
    """Drop the failures older than the window (they are in time order)."""
    while failures and now - failures[0] >= FAILURE_WINDOW_S:
        failures.popleft()


def _wait(failures: _Failures | None, most: int, now: float) -> float:
    """The seconds until ``failures`` holds fewer than ``most`` within the window (0: now)."""
    if failures is None:
        return 0.0
    _age(failures, now)
    if len(failures) < most:
        return 0.0
    return max(failures[-most] + FAILURE_WINDOW_S - now, 1e-3)


def _count(table: collections.OrderedDict[str, _Failures], key: str, now: float,
           keep: int) -> None:
    """Add a failure of ``key`` (the last ``keep`` are all a wait needs); the table is kept in
    order of last failure, and past ``MAX_CLIENTS`` the least recent are forgotten (at most two
    per call: bounded work)."""
    failures = table.get(key)
    if failures is None:
        failures = table[key] = collections.deque()
    else:
        table.move_to_end(key)
    failures.append(now)
    while len(failures) > keep:
        failures.popleft()
    for _ in range(2):
        if len(table) <= MAX_CLIENTS:
            break
        table.popitem(last=False)


def _take_back(failures: _Failures | None, stamp: float) -> None:
    """Remove one failure counted at ``stamp`` (the newest such), if it is still there."""
    if failures is None:
        return
    for index in range(len(failures) - 1, -1, -1):
        if failures[index] == stamp:
            del failures[index]
            return
        if failures[index] < stamp:
            return


def retry_after(wait_s: float) -> int:
    """``Retry-After``'s whole seconds for a wait (at least 1)."""
    return max(1, math.ceil(wait_s))
