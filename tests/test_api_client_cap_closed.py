"""A connection its client has closed stops counting against the client's cap at once, though
every worker is busy.

Why: a client posting one image per connection (``requests.post`` without a session, a camera's
firmware) closes each after its answer and opens the next.  The server learns of the close when
the selector finds the kept-alive connection readable; queued for a worker behind the requests
in hand, it still counted against ``api.max_connections_per_client`` while its client opened the
next, and 40 such clients on one address had a third of their connections closed unanswered.
Real parts: the production server over loopback sockets; the app holds its one worker on an
event, so that "every worker busy" is a state of the test, not a race.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from waiting import wait_for

from edge_alpr.api.client_io import ClientLimits
from edge_alpr.api.server import ApiServer

CAP = 4


def test_a_closed_connection_frees_its_slot_while_the_workers_are_busy() -> None:
    entered, release = threading.Event(), threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/hold":
            entered.set()
            release.wait(30)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    server = ApiServer(app, "127.0.0.1", 0, threads=1, shutdown_timeout_s=1.0,
                       limits=ClientLimits(max_connections_per_client=CAP))
    server.start()
    opened: list[socket.socket] = []

    def connect(path: str) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        opened.append(sock)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return sock

    def admitted() -> bool:
        """A new connection is kept (its request waits for the worker), not closed at once."""
        sock = connect("/next")
        sock.settimeout(0.5)
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            return True  # kept: it waits for the busy worker
        except ConnectionResetError:
            closed = True
        assert closed, "answered while the only worker is held"
        opened.remove(sock)
        sock.close()
        return False

    try:
        done = [connect("/done") for _ in range(2)]  # answered, then kept alive by the client
        for sock in done:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        hold = connect("/hold")
        assert entered.wait(10), "the worker did not take the held request"
        for sock in done:  # the client is through with them: 2 of its CAP slots free
            opened.remove(sock)
            sock.close()
        waiting = []
        for _ in range(CAP - 1):  # the held one and CAP - 1 new ones
            assert wait_for(admitted, 10), "a connection the client closed still held its slot"
            waiting.append(opened[-1])
        release.set()
        for sock in [hold, *waiting]:
            sock.settimeout(10)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 "), "a kept connection was not served"
    finally:
        release.set()
        for sock in opened:
            sock.close()
        server.stop()
