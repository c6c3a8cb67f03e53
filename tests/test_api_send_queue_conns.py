"""The sending thread's bookkeeping of connections, over real sockets: whom it resets to make room,
a descriptor number reused by the next connection, a connection reset while its worker handed it
back, and a failing close that must not leak the rest.

The queue is the server's own (``SendQueue``, ``ResponseOutput``); the sockets are real, with small
kernel buffers so that a few tens of KB already wait for the client (on loopback the kernel would
otherwise take megabytes of a response at once).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from edge_alpr.api.client_io import ClientLimits
from edge_alpr.api.response_io import ResponseCuts, ResponseOutput
from edge_alpr.api.response_queue import STALL_S
from edge_alpr.api.sender import SendQueue
from edge_alpr.api.server import ApiServer

SLOW_BYTES = 38_000  # per slow client: ~30 KB of it stays queued
BUFFER = 4096  # the kernel buffers of each socket pair


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def pair(opened: list[socket.socket]) -> tuple[socket.socket, socket.socket]:
    """The server's end and a client's that reads nothing unless told."""
    server, client = socket.socketpair()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
    opened += [server, client]
    return server, client


def output(sock: socket.socket, queue: SendQueue, cuts: ResponseCuts, name: str) -> ResponseOutput:
    out = ResponseOutput(sock, 10.0, 60.0, 16384.0, cuts, queue)
    out.begin(name, "GET /x")
    return out


def write_all(out: ResponseOutput, data: bytes) -> None:
    """As cheroot's writer does: again with the rest until all is taken."""
    view = memoryview(data)
    while view:
        view = view[out.write(view) or 0:]


def test_nobody_is_reset_when_the_resets_cannot_make_room(sockets: list[socket.socket]) -> None:
    """Two slow clients hold ~60 KB of a 100 KB queue; a 500 KB answer could not fit even with
    both reset.  Before, both were reset for nothing, then the large one too: 3 cuts."""
    queue, cuts = SendQueue(100_000), ResponseCuts()
    try:
        slow = []
        for n in range(2):
            out = output(pair(sockets)[0], queue, cuts, f"slow{n}")
            write_all(out, bytes(SLOW_BYTES))
            slow.append(out)
        assert queue.budget.used > SLOW_BYTES
        time.sleep(STALL_S + 0.2)  # both took nothing for longer than a stall
        big = output(pair(sockets)[0], queue, cuts, "big")
        with pytest.raises(TimeoutError):  # its own client never reads either: the worker gives up
            write_all(big, bytes(500_000))
        assert [out.cut for out in slow] == [False, False]
        assert cuts.count == 1
        # an answer the resets can make room for: only the longest stalled is reset
        other = output(pair(sockets)[0], queue, cuts, "other")
        write_all(other, bytes(100_000 - queue.budget.used + slow[0].queued_bytes))
        assert [out.cut for out in slow] == [True, False]
        assert cuts.count == 2
    finally:
        queue.close()


def test_a_connection_reset_by_its_worker_leaves_its_descriptor_to_the_next(
        sockets: list[socket.socket]) -> None:
    """A response written in pieces: the first queued and watched by the sender, the next finds the
    queue full and its client taking nothing, and the worker resets the connection, which cheroot
    then closes.  Before, the sender still watched that descriptor's number when the next
    connection got it: the next connection's answer was dropped ("the server is stopping")."""
    queue, cuts = SendQueue(200_000), ResponseCuts()
    try:
        first_sock, _ = pair(sockets)
        first = output(first_sock, queue, cuts, "first")
        write_all(first, bytes(150_000))
        time.sleep(0.3)  # the sender watches it
        with pytest.raises(TimeoutError):
            write_all(first, bytes(150_000))
        number = first_sock.fileno()
        first.close()  # cheroot's close of the reset connection: its streams, then its socket
        first_sock.close()
        with pytest.raises(OSError):
            os.fstat(number)  # free: the next connection may get it
        raw, client = pair(sockets)
        following = raw  # the kernel gives out the lowest free number: usually this one
        if raw.fileno() != number:
            following = socket.socket(fileno=os.dup2(raw.fileno(), number))
            sockets.append(following)
        second = output(following, queue, cuts, "second")
        write_all(second, bytes(100_000))
        assert second.queued
        client.settimeout(3.0)
        received = 0
        while received < 100_000:
            data = client.recv(65536)
            if not data:
                break
            received += len(data)
        assert received == 100_000 and not second.cut
        assert cuts.count == 1
    finally:
        queue.close()


def test_a_failing_close_leaves_the_other_connections_finished(sockets: list[socket.socket]) -> None:
    """What the workers left to do (close, or wait for the next request) runs for every connection
    even when one of them fails otherwise than with OSError (cheroot's selector closed while
    stopping raises ValueError): before, the rest of the batch was skipped, their sockets leaked."""
    queue, cuts = SendQueue(1_000_000), ResponseCuts()
    finished: list[str] = []

    def failing() -> None:
        raise ValueError("I/O operation on closed epoll object")

    for n in range(4):
        out = output(pair(sockets)[0], queue, cuts, f"c{n}")
        write_all(out, bytes(50_000))
        assert out.queued
        assert out.defer(failing if n == 0 else (lambda n=n: finished.append(f"c{n}")))
    time.sleep(0.3)  # watched by the sender
    queue.close()
    assert finished == ["c1", "c2", "c3"]


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


def test_a_connection_reset_while_handed_back_is_closed_not_kept_alive() -> None:
    """The worker finished a response the sender still had queued, and the sender reset the
    connection (the client took too little) just before the worker handed it back for the next
    request.  Before, it went back to keep-alive: its client waited 10 s (the idle timeout) on a
    truncated body instead of seeing the connection end at once."""
    server = ApiServer(hello, "127.0.0.1", 0, threads=1, shutdown_timeout_s=1.0,
                       limits=ClientLimits())
    server.start()
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.socket()
    try:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        client.connect(listener.getsockname())
        accepted, _ = listener.accept()
        cheroot = server._server
        conn = cheroot.ConnectionClass(cheroot, accepted)
        conn.output.begin("client", "GET /x")
        write_all(conn.output, bytes(4_000_000))
        assert conn.output.queued
        done, _ = conn.output.expire(time.monotonic() + 3600)  # past its deadline: reset
        assert done and conn.output.cut
        cheroot.put_conn(conn)  # the worker's hand-back, a moment too late
        client.settimeout(3.0)
        ended = False
        try:
            while client.recv(1 << 20):
                pass
            ended = True
        except ConnectionResetError:
            ended = True
        except TimeoutError:
            pass
        assert ended, "the reset connection was kept alive"
    finally:
        client.close()
        listener.close()
        server.stop(1.0)
