"""Raw TCP servers on loopback for tests of HTTP peers that misbehave on purpose (no http.server:
these peers answer at the byte level, trickle, refuse mid-body or never answer)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def accept_each(sock: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Run ``handle`` on each connection ``sock`` accepts, each in its own daemon thread, until
    ``sock`` is closed."""

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()


def read_head(conn: socket.socket) -> tuple[bytes, bytes] | None:
    """A request's head (up to its blank line) and what of its body came with it; None if the
    client closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


class RawServer:
    """A server on a free loopback port that reads each connection's request head and hands it,
    with what of the body came along, to ``answer``; the connection is closed after it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = self.sock.getsockname()[1]
        accept_each(self.sock, self._one)

    def _one(self, conn: socket.socket) -> None:
        with conn:
            request = read_head(conn)
            if request is not None:
                self.answer(conn, *request)

    def answer(self, conn: socket.socket, head: bytes, body: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()
