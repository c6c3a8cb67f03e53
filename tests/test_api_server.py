"""The production server's keep-alive lingering, over real sockets.

A worker waits on its kept-alive connection for the next request (``api.keepalive_linger_s``),
but must never make another client wait for it, nor hold up shutdown.  The server below
lingers for 30 s -- far beyond the config's cap -- so that a server that starved other
clients or ignored shutdown would take 30 s, where a correct one takes milliseconds.  The
bounds asserted are generous (seconds), so these are liveness checks, not timings.  And a
connection that arrives while every worker is busy waits for one, never refused.
"""

from __future__ import annotations

import http.client
import logging
import os
import resource
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from waiting import wait_for

from edge_alpr.api.client_io import ClientLimits
from edge_alpr.api.server import ApiServer

LONG_LINGER_S = 30.0
FD_SETSIZE = 1024  # the descriptors select() can watch: 0..1023


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A minimal WSGI app: the test is about connection handling, not the routes."""
    if environ["PATH_INFO"].startswith("/slow"):
        time.sleep(0.01)
    body = f"{environ['PATH_INFO']} {threading.get_ident()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def one_worker() -> Iterator[ApiServer]:
    server = ApiServer(hello, "127.0.0.1", 0, threads=1, shutdown_timeout_s=1.0,
                       keepalive_linger_s=LONG_LINGER_S)
    server.start()
    yield server
    server.stop()


def get(conn: http.client.HTTPConnection, path: str) -> str:
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200
    return response.read().decode()


def test_kept_alive_requests_are_served_by_the_lingering_worker(one_worker: ApiServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", one_worker.port, timeout=10)
    replies = [get(conn, f"/r{i}") for i in range(5)]
    assert [r.split()[0] for r in replies] == [f"/r{i}" for i in range(5)]
    assert len({r.split()[1] for r in replies}) == 1  # one worker thread served them all
    conn.close()


def test_a_lingering_worker_yields_to_another_client(one_worker: ApiServer) -> None:
    first = http.client.HTTPConnection("127.0.0.1", one_worker.port, timeout=60)
    second = http.client.HTTPConnection("127.0.0.1", one_worker.port, timeout=60)
    get(first, "/a")  # the only worker now lingers on ``first`` for up to 30 s
    started = time.monotonic()
    for i in range(3):  # and the two clients keep taking turns
        assert get(second, f"/b{i}").startswith(f"/b{i}")
        assert get(first, f"/a{i}").startswith(f"/a{i}")
    assert time.monotonic() - started < 10, "a client waited for another client's linger"
    first.close()
    second.close()


def test_stop_does_not_wait_for_a_lingering_worker() -> None:
    server = ApiServer(hello, "127.0.0.1", 0, threads=1, shutdown_timeout_s=1.0,
                       keepalive_linger_s=LONG_LINGER_S)
    server.start()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    get(conn, "/x")
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5, "shutdown waited for a lingering keep-alive connection"
    conn.close()


def test_a_pipelining_client_queues_behind_others(one_worker: ApiServer) -> None:
    pipelined = socket.create_connection(("127.0.0.1", one_worker.port), timeout=30)
    pipelined.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" * 200)  # 2 s of work queued
    time.sleep(0.05)
    other = http.client.HTTPConnection("127.0.0.1", one_worker.port, timeout=30)
    started = time.monotonic()
    assert get(other, "/b").startswith("/b")
    assert time.monotonic() - started < 1.0, "a pipelining client kept the only worker to itself"
    other.close()
    pipelined.close()


def test_requests_beyond_the_busy_workers_wait_in_the_queue_not_refused() -> None:
    """cheroot answers a plain-text 503 (not the API's JSON) to a connection its worker pool's
    queue has no room for; the server leaves that queue unbounded, so a connection arriving
    while every worker is busy waits for one, and is answered by the app."""
    release = threading.Event()

    def busy(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        release.wait(30)
        return hello(environ, start_response)

    server = ApiServer(busy, "127.0.0.1", 0, threads=1, shutdown_timeout_s=1.0)
    server.start()
    clients = []
    try:
        for i in range(8):  # one holds the only worker, seven wait
            client = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            client.sendall(f"GET /r{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            clients.append(client)
        pool = server._server.requests
        started = time.monotonic()
        while pool.qsize < len(clients) - 1 and time.monotonic() - started < 10:
            time.sleep(0.01)
        assert pool.qsize == len(clients) - 1, "the connections did not all wait in the queue"
        for client in clients:  # and none was answered meanwhile
            client.setblocking(False)
            with pytest.raises(BlockingIOError):
                client.recv(1)
            client.setblocking(True)
        release.set()
        for client in clients:
            reply = b""
            while chunk := client.recv(65536):
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 200 "), reply
    finally:
        release.set()
        for client in clients:
            client.close()
        server.stop()


def test_a_burst_of_connections_is_queued_by_the_kernel_not_dropped() -> None:
    """cheroot listens with a backlog of 5: the sixth connection of a burst that arrives before the
    accept loop runs is dropped by the kernel, and its client's retry comes a second later."""
    server = ApiServer(hello, "127.0.0.1", 0, threads=1, shutdown_timeout_s=1.0)
    server.start()
    try:
        # the listening socket's backlog, as the kernel reports it (Send-Q of a LISTEN socket)
        ss = shutil.which("ss")
        if ss is None:
            pytest.skip("ss (apt-get install iproute2) reads a listening socket's backlog")
        out = subprocess.run([ss, "-ltnH", f"sport = :{server.port}"], capture_output=True, text=True,
                             check=True).stdout.split()
        assert out[0] == "LISTEN" and int(out[2]) >= 64, out
    finally:
        server.stop()


@pytest.fixture
def descriptors_past_fd_setsize() -> Iterator[int]:
    """This process's lowest free descriptor pushed past 1024 (FD_SETSIZE, the most ``select``
    can watch), as a service with a raised ``LimitNOFILE`` and many clients or files has it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FD_SETSIZE + 512
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard RLIMIT_NOFILE ({hard}) is under {wanted}: ulimit -Hn {wanted}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held: list[int] = []
    try:
        while not held or held[-1] < FD_SETSIZE + 64:
            held.append(os.open(os.devnull, os.O_RDONLY))
        yield held[-1] + 1
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_lingering_on_a_descriptor_past_fd_setsize(descriptors_past_fd_setsize: int) -> None:
    """A connection whose descriptor ``select`` cannot watch still lingers: its kept-alive
    requests are all served by the worker that waits on it.  (Without lingering, each goes back
    through the selector to the pool's queue, whose idle workers take turns.)"""
    server = ApiServer(hello, "127.0.0.1", 0, threads=4, shutdown_timeout_s=1.0,
                       keepalive_linger_s=LONG_LINGER_S)
    server.start()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.connect()
        assert conn.sock is not None and conn.sock.fileno() >= FD_SETSIZE
        replies = [get(conn, f"/r{i}") for i in range(8)]
        assert [r.split()[0] for r in replies] == [f"/r{i}" for i in range(8)]
        assert len({r.split()[1] for r in replies}) == 1, "a kept-alive connection did not linger"
    finally:
        conn.close()
        server.stop()


def _served(port: int) -> bool:
    """Whether a new connection gets an answer (False when it is closed unanswered)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        return get(conn, "/new").startswith("/new")
    except (ConnectionError, http.client.RemoteDisconnected):
        return False
    finally:
        conn.close()


def test_one_client_cannot_hold_every_connection(caplog: pytest.LogCaptureFixture) -> None:
    """Past ``api.max_connections_per_client``, a new connection from the same address is closed
    as soon as it is accepted (else each would hold a descriptor until it expired); those it
    holds are still served, and one closing lets the next in.  One warning for the episode."""
    caplog.set_level(logging.INFO, logger="edge_alpr.api")
    server = ApiServer(hello, "127.0.0.1", 0, threads=2, shutdown_timeout_s=1.0,
                       limits=ClientLimits(max_connections_per_client=4))
    server.start()
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(4)]
    try:
        for _ in range(3):
            extra = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            try:
                assert extra.recv(1) == b"", "a connection past the cap was kept"
            except ConnectionResetError:
                pass
            finally:
                extra.close()
        held[0].sendall(b"GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held[0].recv(65536).startswith(b"HTTP/1.1 200 "), "a connection within the cap was not served"
        held.pop(1).close()
        assert wait_for(lambda: _served(server.port), 10), "a closed connection did not free its client's slot"
    finally:
        for sock in held:
            sock.close()
        server.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "127.0.0.1" in warnings[0] and "api.max_connections_per_client" in warnings[0], warnings
