"""Webhook receivers that misbehave on purpose, over real loopback sockets: one that trickles
its status line, one that redirects the POST elsewhere, one whose redirect has a huge body,
one that throttles with ``Retry-After``.  Nothing may be lost, hang the delivery worker past
``timeout_s``, or fill memory.  (Refused, silent, resetting, 500 and bad-certificate receivers:
``test_delivery_failures.py``, ``test_shutdown.py``.)"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from raw_http import RawServer
from waiting import wait_for

from edge_alpr.delivery import failures, http_post
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.webhooks import Webhooks, sink_name
from edge_alpr.delivery.webhooks_config import WebhooksConfig, WebhookTarget

Behave = Callable[[socket.socket, bytes], None]


class Peer(RawServer):
    """A raw TCP receiver: reads each request whole (headers and Content-Length body), records
    its first line and time, then lets ``behave`` answer on the socket."""

    def __init__(self, behave: Behave) -> None:
        self.behave = behave
        self.requests: list[tuple[float, bytes]] = []
        self.sent = 0  # bytes ``behave`` wrote, where it counts them
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def answer(self, conn: socket.socket, head: bytes, body: bytes) -> None:
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            body += chunk
        self.requests.append((time.monotonic(), head.split(b"\r\n")[0]))
        try:
            self.behave(conn, body)
        except OSError:
            pass  # the client went away: what these peers expect


@pytest.fixture
def peers() -> Iterator[Callable[[Behave], Peer]]:
    made: list[Peer] = []

    def make(behave: Behave) -> Peer:
        made.append(Peer(behave))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


def _webhooks(tmp_path: Path, url: str, backoff_initial_s: float, backoff_max_s: float
              ) -> tuple[Webhooks, Outbox, threading.Event]:
    box = Outbox(tmp_path / "outbox.sqlite")
    stop = threading.Event()
    cfg = WebhooksConfig(targets=(WebhookTarget(url=url),), backoff_initial_s=backoff_initial_s,
                         backoff_max_s=backoff_max_s)
    hooks = Webhooks(cfg, box, stop)
    hooks.start()
    return hooks, box, stop


def test_a_receiver_trickling_its_status_line_is_a_timeout_of_the_whole_post(
        peers: Callable[[Behave], Peer]) -> None:
    def trickle(conn: socket.socket, body: bytes) -> None:
        conn.sendall(b"HTTP/1.1 2")
        while True:  # a byte every 0.1 s: each read is quick, the line never ends
            conn.sendall(b"0")
            time.sleep(0.1)

    peer = peers(trickle)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as raised:
        http_post.post(peer.url, b"{}", {"Content-Type": "application/json"}, timeout_s=0.5)
    took = time.monotonic() - started
    assert took < 1.5, f"the POST took {took:.1f} s with timeout_s 0.5"
    assert failures.sentence(raised.value, "127.0.0.1", peer.port, 0.5) == "timed out after 0.5 s"


def _redirect(code: int, location: str) -> Behave:
    def behave(conn: socket.socket, body: bytes) -> None:
        conn.sendall(f"HTTP/1.1 {code} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())

    return behave


@pytest.mark.parametrize("code", [302, 307])
def test_a_redirect_is_not_followed_and_the_event_stays_queued(
        tmp_path: Path, peers: Callable[[Behave], Peer], code: int) -> None:
    elsewhere = peers(lambda conn, body: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    moved = peers(_redirect(code, f"{elsewhere.url}?token=s3cret"))
    hooks, box, stop = _webhooks(tmp_path, moved.url, backoff_initial_s=0.05, backoff_max_s=0.1)
    try:
        hooks.publish({"id": "ev1", "results": []})
        assert wait_for(lambda: len(moved.requests) >= 2)
        state = hooks.workers[moved.url].state
        assert state.last_reason is not None
        assert state.last_reason.startswith(f"HTTP {code} (redirect to http://127.0.0.1:{elsewhere.port}/hook")
        assert "s3cret" not in state.last_reason and "not followed" in state.last_reason
        assert box.stats()["pending"][sink_name(WebhookTarget(url=moved.url))] == 1
    finally:
        stop.set()
        hooks.join(2)
        box.close()
    assert elsewhere.requests == []  # a 302 would have become a GET without the event, answered 200


def test_the_body_of_a_redirect_is_not_read(peers: Callable[[Behave], Peer]) -> None:
    size = 256 * 2**20
    chunk = b"\0" * 65536

    def flood(conn: socket.socket, body: bytes) -> None:
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: {size}\r\n\r\n".encode())
        for _ in range(size // len(chunk)):
            conn.sendall(chunk)
            peer.sent += len(chunk)

    peer = peers(flood)
    with pytest.raises(urllib.error.HTTPError) as raised:
        http_post.post(peer.url, b"{}", {}, timeout_s=5)
    assert raised.value.code == 302
    time.sleep(0.3)  # what the kernel's buffers still take in
    assert peer.sent < 32 * 2**20, f"{peer.sent} bytes of the redirect's body were taken in"


def test_retry_after_is_waited_for_up_to_backoff_max_s(
        tmp_path: Path, peers: Callable[[Behave], Peer]) -> None:
    peer = peers(lambda conn, body: conn.sendall(
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"))
    hooks, box, stop = _webhooks(tmp_path, peer.url, backoff_initial_s=0.05, backoff_max_s=5)
    try:
        hooks.publish({"id": "ev1", "results": []})
        assert wait_for(lambda: len(peer.requests) >= 3, 10)
        gaps = [b[0] - a[0] for a, b in zip(peer.requests, peer.requests[1:], strict=False)]
        assert all(gap >= 0.9 for gap in gaps), gaps
        assert box.stats()["pending"][sink_name(WebhookTarget(url=peer.url))] == 1
    finally:
        stop.set()
        hooks.join(2)
        box.close()
