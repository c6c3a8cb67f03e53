"""pytest fixtures for ``upload_url`` tests: a raw image server on loopback and an API that fetches.

Use with ``pytest_plugins = ["tests.image_server"]``.  ``image_server(behaviour)`` starts a raw
socket server (IPv4, or IPv6 with ``socket.AF_INET6``) that runs ``behaviour`` on each
connection (``send`` and ``ok`` build the common ones) and records what each connection asked
for; ``fetching_api`` is the real API server with ``upload_url`` enabled, a fetch bounded by
``TIMEOUT_S`` and ``MAX_BYTES``.  Why raw sockets: the tests need servers that misbehave on
purpose (drip, garbage, loops) and must see the exact request line a fetch sends.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import jpeg_bytes
from tests.raw_http import accept_each

READ = "/v1/plate-reader/"
JPEG = jpeg_bytes(64, 48)
TIMEOUT_S = 1.0  # api.upload_url.timeout_s of ``fetching_api``
MAX_BYTES = 200_000  # api.upload_url.max_bytes of ``fetching_api``

Behaviour = Callable[[socket.socket, str], None]  # (the connection, the server's base URL)


class ImageServer:
    """A raw HTTP server on loopback (IPv4 or IPv6) running ``behaviour`` per connection."""

    def __init__(self, behaviour: Behaviour, family: socket.AddressFamily = socket.AF_INET) -> None:
        self.behaviour = behaviour
        self.sock = socket.socket(family)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.sock.listen(16)
        host = "[::1]" if family == socket.AF_INET6 else "127.0.0.1"
        self.base = f"http://{host}:{self.sock.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self.requests: list[bytes] = []  # what each connection's first read got
        accept_each(self.sock, self._handle)

    def _handle(self, conn: socket.socket) -> None:
        self.connections.append(conn)
        conn.settimeout(5)
        try:
            self.requests.append(conn.recv(65536))  # the request (small: a GET)
            self.behaviour(conn, self.base)
        except OSError:
            pass  # the API gave up on us: what a test of a hostile server wants
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


def send(data: bytes | Callable[[str], bytes]) -> Behaviour:
    """Answer every request with ``data`` (or ``data(base URL)``), then close."""
    def behaviour(conn: socket.socket, base: str) -> None:
        conn.sendall(data(base) if callable(data) else data)
    return behaviour


def ok(body: bytes) -> bytes:
    """A 200 response carrying ``body``."""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


@pytest.fixture
def image_server() -> Iterator[Callable[..., ImageServer]]:
    """Start image servers: ``image_server(behaviour[, family])``; all closed after the test."""
    servers: list[ImageServer] = []

    def start(behaviour: Behaviour, family: socket.AddressFamily = socket.AF_INET) -> ImageServer:
        servers.append(ImageServer(behaviour, family))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def fetching_api(api_factory: Any) -> Any:
    """The real API server, fetching ``upload_url`` within ``TIMEOUT_S`` and ``MAX_BYTES``."""
    return api_factory({"api": {"upload_url": {"enabled": True, "timeout_s": TIMEOUT_S, "max_bytes": MAX_BYTES}}})
