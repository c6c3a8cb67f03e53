"""The wrong-token throttle against guessers that share a network with the clients holding the
token: an IPv6 neighbour, a guesser changing its address inside its /64, a flood from many
addresses, and parallel connections of one guesser.

Where the address matters the real server is spoken to over loopback, from several addresses
of 127.0.0.0/8; an IPv6 LAN cannot be built on one host, so its /64 is given to the checks as
the server hands it over (``REMOTE_ADDR``).
"""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import RunningApi

from edge_alpr.api import auth_throttle, console_auth
from edge_alpr.api.auth_throttle import Client, Refused, TokenThrottle, client_of
from edge_alpr.api.console_auth import ConsoleAuth
from edge_alpr.errors import InputError, Throttled

TOKEN = "throttle-s3cret-Value"


def _request(auth: ConsoleAuth, address: str, token: str) -> int:
    """The status ``auth`` answers a GET from ``address`` sending ``token`` (200: let in)."""
    environ = {"REQUEST_METHOD": "GET", "REMOTE_ADDR": address, "HTTP_AUTHORIZATION": f"Token {token}"}
    try:
        auth.check(environ)
    except InputError as e:
        return e.status
    return 200


def _get(api: RunningApi, source: str, token: str, path: str = "/info/") -> int:
    """GET ``path`` over a socket from the loopback address ``source``."""
    url = urlsplit(api.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30,
                                      source_address=(source, 0))
    try:
        conn.request("GET", path, headers={"Authorization": f"Token {token}"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_guessing_neighbour_in_the_same_64_does_not_lock_out_the_right_token() -> None:
    auth = ConsoleAuth(TOKEN)
    assert _request(auth, "fe80::1%eth0", TOKEN) == 200  # e.g. Home Assistant
    for i in range(auth_throttle.MAX_FAILURES):
        assert _request(auth, "fe80::66", f"guess{i}") == 403
    assert _request(auth, "fe80::66", TOKEN) == 429  # the guesser learns nothing
    assert _request(auth, "fe80::1%eth0", TOKEN) == 200
    assert _request(auth, "fe80::2", TOKEN) == 200  # a host that never sent it before, too
    assert _request(auth, "2001:db8:1:2::66", TOKEN) == 200


def test_a_guesser_changing_address_inside_its_64_is_bounded() -> None:
    now = [1000.0]
    throttle = TokenThrottle(clock=lambda: now[0])
    home = client_of({"REMOTE_ADDR": "2001:db8:1:2::1"})
    trusted = throttle.attempt(home)
    assert not isinstance(trusted, Refused)
    trusted.right()
    for i in range(auth_throttle.MAX_FAILURES_NET):
        assert not isinstance(throttle.attempt(client_of({"REMOTE_ADDR": f"2001:db8:1:2::{i + 100:x}"})), Refused)
    refused = throttle.attempt(client_of({"REMOTE_ADDR": "2001:db8:1:2:ffff::1"}))
    assert isinstance(refused, Refused) and refused.whose == "2001:db8:1:2::/64"
    assert refused.wait_s == pytest.approx(auth_throttle.FAILURE_WINDOW_S)
    assert not isinstance(throttle.attempt(home), Refused)  # it sent the right token
    assert not isinstance(throttle.attempt(client_of({"REMOTE_ADDR": "2001:db8:9::1"})), Refused)
    now[0] += auth_throttle.FAILURE_WINDOW_S
    assert not isinstance(throttle.attempt(client_of({"REMOTE_ADDR": "2001:db8:1:2:ffff::1"})), Refused)


def test_many_addresses_reach_a_ceiling_that_trusted_addresses_skip_but_never_their_own() -> None:
    now = [1000.0]
    throttle = TokenThrottle(clock=lambda: now[0])
    home = Client("192.0.2.1", "192.0.2.1")
    first = throttle.attempt(home)
    assert not isinstance(first, Refused)
    first.right()
    for i in range(auth_throttle.MAX_FAILURES_ALL):
        address = f"198.51.{i // 200}.{i % 200}"
        assert not isinstance(throttle.attempt(Client(address, address)), Refused)
    refused = throttle.attempt(Client("203.0.113.9", "203.0.113.9"))  # never failed: still waits
    assert isinstance(refused, Refused) and refused.whose == "all clients"
    for _ in range(auth_throttle.MAX_FAILURES):
        assert not isinstance(throttle.attempt(home), Refused)  # wrong tokens, not taken back
    mine = throttle.attempt(home)
    assert isinstance(mine, Refused) and mine.whose == "192.0.2.1"
    now[0] += auth_throttle.TRUSTED_S
    assert not throttle.trusted("192.0.2.1")


def test_the_trusted_addresses_are_bounded() -> None:
    throttle = TokenThrottle()
    for i in range(auth_throttle.MAX_TRUSTED + 5):
        address = f"10.0.{i // 250}.{i % 250}"
        attempt = throttle.attempt(Client(address, address))
        assert not isinstance(attempt, Refused)
        attempt.right()
    assert not throttle.trusted("10.0.0.0") and throttle.trusted("10.0.0.5")


def test_a_flood_of_addresses_does_not_lock_out_a_client_that_holds_the_token(
        api_factory: Callable[..., RunningApi], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_throttle, "MAX_CLIENTS", 64)  # small tables, one flood of 80
    monkeypatch.setattr(auth_throttle, "MAX_FAILURES_ALL", 32)
    api = api_factory(token=TOKEN)
    assert _get(api, "127.0.0.1", TOKEN) == 200
    answers = {_get(api, f"127.0.1.{i + 1}", f"guess{i}") for i in range(80)}
    assert answers == {403, 429}
    assert _get(api, "127.0.0.1", TOKEN) == 200
    assert _get(api, "127.0.0.1", TOKEN, "/console/parts") == 200
    assert _get(api, "127.0.1.200", TOKEN) == 429  # no right token yet: one more guess otherwise


def test_parallel_connections_of_one_client_get_no_extra_guesses(
        api_factory: Callable[..., RunningApi], monkeypatch: pytest.MonkeyPatch) -> None:
    parallel = auth_throttle.MAX_FAILURES + 5
    api = api_factory({"api": {"threads": parallel + 2}}, token=TOKEN)
    together = threading.Barrier(parallel, timeout=3)
    compared: list[bytes] = []
    real = console_auth.hmac.compare_digest

    def slow_compare(a: Any, b: Any) -> bool:
        if isinstance(a, bytes) and a.startswith(b"guess"):  # every guess meets the others here
            compared.append(a)
            try:
                together.wait()
            except threading.BrokenBarrierError:
                pass
        return bool(real(a, b))

    monkeypatch.setattr(console_auth.hmac, "compare_digest", slow_compare)
    with ThreadPoolExecutor(parallel) as pool:
        answers = list(pool.map(lambda i: _get(api, "127.0.0.1", f"guess{i}"), range(parallel)))
    assert sorted(answers) == [403] * auth_throttle.MAX_FAILURES + [429] * 5
    assert len(compared) == auth_throttle.MAX_FAILURES
    assert _get(api, "127.0.0.1", TOKEN) == 429


def test_a_throttled_answer_names_whose_count_is_full() -> None:
    auth = ConsoleAuth(TOKEN)
    for i in range(auth_throttle.MAX_FAILURES):
        _request(auth, "192.0.2.7", f"guess{i}")
    with pytest.raises(Throttled, match=r"from 192\.0\.2\.7; wait \d+ s") as e:
        auth.check({"REMOTE_ADDR": "192.0.2.7", "HTTP_AUTHORIZATION": f"Token {TOKEN}"})
    assert 1 <= e.value.retry_after_s <= auth_throttle.FAILURE_WINDOW_S


def test_the_client_of_a_request() -> None:
    assert client_of({"REMOTE_ADDR": "2001:db8:1:2:aaaa::1"}) == Client("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64")
    assert client_of({"REMOTE_ADDR": "fe80::1%eth0"}) == Client("fe80::1", "fe80::/64")
    assert client_of({"REMOTE_ADDR": "::ffff:192.0.2.1"}) == Client("192.0.2.1", "192.0.2.1")
    assert client_of({}) == Client("unknown", "unknown")


def test_each_lockout_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """An admin hears of a guesser: one warning when an address is locked out, naming it and
    the wait, none for the refused requests after it, and one again for its next lockout."""
    now = [1000.0]
    auth = ConsoleAuth(TOKEN, clock=lambda: now[0])
    auth.throttle = TokenThrottle(clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="edge_alpr.api.console_auth")

    def lockouts() -> list[str]:
        return [r.getMessage() for r in caplog.records if "too many wrong tokens" in r.getMessage()]

    for _ in range(3):
        for i in range(auth_throttle.MAX_FAILURES):
            _request(auth, "192.0.2.9", f"guess{i}")
        for _ in range(5):
            with pytest.raises(Throttled):
                auth.check({"REMOTE_ADDR": "192.0.2.9", "HTTP_AUTHORIZATION": f"Token {TOKEN}"})
        now[0] += auth_throttle.FAILURE_WINDOW_S + 1
    assert len(lockouts()) == 3, lockouts()
    assert "from 192.0.2.9: its token checks are refused for 60 s" in lockouts()[0]
    assert TOKEN not in caplog.text
