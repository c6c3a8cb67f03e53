"""Clients that ask for a large answer and never read it, over real sockets against the real server
with its default deadlines: the worker sends what the socket takes at once and the server's sending
thread the rest, so other clients are answered at once, not after the socket's timeout (10 s) per
worker; with the queue of unsent bytes full, connections that took nothing make room.

The large answer is every watch list at once (``GET /v1/watchlists/``, ~4 MB): on loopback the
kernel takes about 1.6 MB of a response for a client whose receive buffer is tiny, so a smaller
one would not wait for the client at all.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.test_api_hardening import address

LISTS = 3  # of 10,000 plates with 80-character labels: ~1.4 MB each
SERVED_WITHIN_S = 3.0  # a normal request among clients that never read (10 s per worker before)


@pytest.fixture
def never_reading() -> Iterator[list[socket.socket]]:
    """Sockets of clients that ask for every watch list and never read."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def ask_and_never_read(addr: tuple[str, int], opened: list[socket.socket], count: int) -> None:
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        opened.append(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        sock.connect(addr)
        sock.sendall(b"GET /v1/watchlists/ HTTP/1.1\r\nHost: localhost\r\n\r\n")


def fill_watchlists(url: str) -> None:
    plates = [{"plate": f"AB{i:05d}", "label": "x" * 80} for i in range(10_000)]
    for n in range(LISTS):
        assert requests.put(f"{url}/v1/watchlists/big{n}/", json={"plates": plates},
                            timeout=60).status_code == 200


def slowest_info(url: str, seconds: float) -> float:
    """The slowest of ``GET /info/`` asked again and again for ``seconds``."""
    slowest = 0.0
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            response = requests.get(f"{url}/info/", timeout=15)
        except requests.Timeout:
            pytest.fail("GET /info/ was not answered within 15 s among clients that never read")
        assert response.status_code == 200
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.1)
    return slowest


def test_clients_that_never_read_do_not_hold_the_workers(api_factory: Any,
                                                          never_reading: list[socket.socket]) -> None:
    """6 such clients for 4 workers: before, each held its worker for 10 s (the socket's timeout)."""
    api = api_factory({"api": {"threads": 4}})
    fill_watchlists(api.url)
    ask_and_never_read(address(api), never_reading, 6)
    time.sleep(1.0)  # their answers are built and sent as far as the sockets take them
    slowest = slowest_info(api.url, 4.0)
    assert slowest < SERVED_WITHIN_S, f"GET /info/ took {slowest:.1f} s"
    whole = requests.get(f"{api.url}/v1/watchlists/", timeout=60)  # a client that reads: all of it
    assert whole.status_code == 200 and len(whole.json()["lists"]) == LISTS


def test_a_full_queue_makes_room_by_resetting_clients_that_take_nothing(
        api_factory: Any, never_reading: list[socket.socket], caplog: pytest.LogCaptureFixture) -> None:
    """The unsent bytes of all responses are bounded (4 x max_upload_bytes: 8 MB here, about three
    of these answers): ten clients that never read cannot fill it and then the workers."""
    api = api_factory({"api": {"threads": 4, "max_upload_bytes": 2 * 1024 * 1024}})
    fill_watchlists(api.url)
    caplog.set_level(logging.WARNING, logger="edge_alpr.api.response_io")
    ask_and_never_read(address(api), never_reading, 10)
    time.sleep(0.5)
    slowest = slowest_info(api.url, 5.0)
    assert slowest < SERVED_WITHIN_S, f"GET /info/ took {slowest:.1f} s"
    whole = requests.get(f"{api.url}/v1/watchlists/", timeout=60)
    assert whole.status_code == 200 and len(whole.json()["lists"]) == LISTS
    warnings = [r.getMessage() for r in caplog.records if r.name == "edge_alpr.api.response_io"]
    assert any("queue of unsent responses was full" in w for w in warnings), warnings
