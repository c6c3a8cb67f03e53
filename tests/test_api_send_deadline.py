"""Clients that ask for a large answer and then do not read it, over real sockets against the real
server: every response has ``api.send_timeout_s``, longer only while the client keeps taking it at
``api.send_min_rate``, after which the connection is reset, the worker freed, the cut logged once
and counted, so that other clients are still answered; and a steady client slower than the whole
response's size per ``send_timeout_s`` still gets all of it.

The large answer is every watch list at once (``GET /v1/watchlists/``, ~8 MB): on loopback the
kernel takes a megabyte or two of a response at once, so a smaller one would not hold a worker.
Without the deadline a client that never reads held its worker for the socket's timeout (10 s)
and one that reads a little at a time for as long as the whole response took it.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.test_api_hardening import address

THREADS = 2
SEND_TIMEOUT_S = 1.0
LISTS = 6  # of 10,000 plates with 80-character labels: ~1.4 MB each
SERVED_WITHIN_S = SEND_TIMEOUT_S + 3.0  # a normal request, while every worker's client stalls


class Staller(threading.Thread):
    """Asks for every watch list with a tiny receive window, then reads nothing (``gulp`` 0) or
    ``gulp`` bytes every ``gap`` s, until the server resets the connection; then again, until
    ``stop`` is set.  ``cuts`` holds how long each connection lasted."""

    def __init__(self, addr: tuple[str, int], gulp: int = 0, gap: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.addr, self.gulp, self.gap = addr, gulp, gap
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.cuts: list[float] = []

    def run(self) -> None:
        while not self.stop.is_set():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024 if self.gulp else 1024)
                sock.connect(self.addr)
                started = time.monotonic()
                sock.sendall(b"GET /v1/watchlists/?camera=AB123CD HTTP/1.1\r\nHost: localhost\r\n\r\n")
                self.connected.set()
                if self._stall(sock):
                    self.cuts.append(time.monotonic() - started)

    def _stall(self, sock: socket.socket) -> bool:
        """True once the server reset the connection, False when told to stop first."""
        sock.setblocking(False)
        while not self.stop.wait(self.gap):
            if not self.gulp:  # never reads: only asks whether the connection was reset
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNRESET:
                    return True
                continue
            try:
                if not sock.recv(self.gulp):
                    return False  # the whole response was read: not a stall
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return True
        return False


@pytest.fixture
def stallers() -> Iterator[list[Staller]]:
    started: list[Staller] = []
    yield started
    for s in started:
        s.stop.set()
    for s in started:
        s.join(10)


def cut_total(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "edge_alpr_http_responses_cut":
            return float(family.samples[0].value)
    raise AssertionError(f"no edge_alpr_http_responses_cut_total in {text!r}")


def fill_watchlists(url: str) -> None:
    """``LISTS`` watch lists of 10,000 plates: ``GET /v1/watchlists/`` is then ~8 MB."""
    plates = [{"plate": f"AB{i:05d}", "label": "x" * 80} for i in range(10_000)]
    for n in range(LISTS):
        assert requests.put(f"{url}/v1/watchlists/big{n}/", json={"plates": plates},
                            timeout=60).status_code == 200


def read_steadily(addr: tuple[str, int], rate: float) -> tuple[bytes, float]:
    """Every watch list, read at ``rate`` bytes/s until the server closes: the bytes, the seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.settimeout(30)
        sock.connect(addr)
        started = time.monotonic()
        sock.sendall(b"GET /v1/watchlists/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = bytearray()
        while chunk := sock.recv(32 * 1024):
            data += chunk
            time.sleep(max(0.0, started + len(data) / rate - time.monotonic()))
        return bytes(data), time.monotonic() - started


def test_a_steady_client_slower_than_send_timeout_s_gets_the_whole_response(api_factory: Any) -> None:
    """2 MB/s, above the minimum rate of 512 KB/s: ~8 MB take ~4 s, four times send_timeout_s."""
    api = api_factory({"api": {"threads": THREADS, "send_timeout_s": SEND_TIMEOUT_S,
                               "send_min_rate": 512 * 1024}})
    fill_watchlists(api.url)
    data, took = read_steadily(address(api), 2 * 1024 * 1024)
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    assert length is not None and len(body) == int(length.group(1)), (head, len(body))
    assert len(json.loads(body)["lists"]) == LISTS
    assert took > 2 * SEND_TIMEOUT_S


def test_clients_that_do_not_read_their_responses_do_not_hold_the_workers(
        api_factory: Any, stallers: list[Staller], caplog: pytest.LogCaptureFixture) -> None:
    # the staller that reads (256 KB/s) is a trickle at this minimum rate
    api = api_factory({"api": {"threads": THREADS, "send_timeout_s": SEND_TIMEOUT_S,
                               "send_min_rate": 64 * 1024 * 1024}})
    fill_watchlists(api.url)
    caplog.set_level(logging.WARNING, logger="edge_alpr.api.response_io")
    # one client per worker: one never reads, one reads 64 KB every 0.25 s (each of the
    # server's sends makes progress, so the socket's own timeout never fires)
    stallers.extend([Staller(address(api)), Staller(address(api), gulp=64 * 1024)])
    for s in stallers:
        s.start()
        assert s.connected.wait(10)
    answered = 0
    give_up = time.monotonic() + 30.0
    while min(len(s.cuts) for s in stallers) < 2:  # every staller cut twice, stalling again
        assert time.monotonic() < give_up, [s.cuts for s in stallers]
        started = time.monotonic()
        try:
            response = requests.get(f"{api.url}/info/", timeout=SERVED_WITHIN_S)
        except requests.Timeout:
            pytest.fail(f"GET /info/ waited {SERVED_WITHIN_S:g} s behind {THREADS} clients that do "
                        "not read their responses")
        assert response.status_code == 200
        assert time.monotonic() - started < SERVED_WITHIN_S
        answered += 1
        time.sleep(0.1)
    assert answered >= 3
    for s in stallers:
        s.stop.set()
        s.join(10)
    for s in stallers:
        assert max(s.cuts) < SEND_TIMEOUT_S + 3.0, s.cuts  # reset soon after the deadline
    cuts = sum(len(s.cuts) for s in stallers)
    warnings = [r.getMessage() for r in caplog.records if r.name == "edge_alpr.api.response_io"]
    # once per cut: a cut the client did not see before it stopped is logged too
    assert cuts <= len(warnings) <= cuts + THREADS, (cuts, warnings)
    assert all("GET /v1/watchlists/ " in w and "api.send_timeout_s" in w for w in warnings), warnings
    assert not any("AB123CD" in w for w in warnings), "a query (it may hold plates) was logged"
    assert cut_total(api.url) == len(warnings)
    whole = requests.get(f"{api.url}/v1/watchlists/", timeout=60)  # a client that reads: all of it
    assert whole.status_code == 200 and len(whole.json()["lists"]) == LISTS
