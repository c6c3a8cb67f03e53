"""A chunked body of over ``MAX_CHUNKS`` chunks is refused however it reaches the app.

The server gathers a body before a worker takes it, and refuses one of too many chunks there,
unread; when the bodies held for clients fill their shared budget (``buffer_bytes``), a request
goes to a worker at once, and its ``wsgi.input`` decodes the chunks as they come: it counts them
too, so one byte a chunk cannot cost a Python call per byte of a body of megabytes.  Real parts:
the server over a socket, with a WSGI app that reads the body as the API's routes do (a
``ValueError`` from ``wsgi.input`` is the routes' 400)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from edge_alpr.api.client_io import MAX_CHUNKS, ClientLimits
from edge_alpr.api.server import ApiServer


def reader(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Answers the body's length, or 400 with the reason it could not be read."""
    try:
        out, status = f"got {len(environ['wsgi.input'].read())}".encode(), "200 OK"
    except ValueError as e:
        out, status = str(e).encode(), "400 Bad Request"
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(out))),
                            ("Connection", "close")])
    return [out]


@pytest.fixture
def small_budget() -> Iterator[ApiServer]:
    """A server whose bodies held for clients may take 64 KiB in all."""
    server = ApiServer(reader, "127.0.0.1", 0, threads=2, shutdown_timeout_s=1.0,
                       limits=ClientLimits(buffer_bytes=64 * 1024))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def post_chunks(port: int, chunks: int) -> bytes:
    """A POST of ``chunks`` one-byte chunks, sent whole; the answer."""
    body = b"1\r\nx\r\n" * chunks + b"0\r\n\r\n"
    head = b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    return answer


def test_a_body_past_the_shared_budget_is_refused_past_the_chunk_limit(small_budget: ApiServer) -> None:
    """Over 64 KiB of one-byte chunks: past the budget, so the worker decodes them, and stops
    past the limit."""
    answer = post_chunks(small_budget.port, MAX_CHUNKS + 10)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert f"over {MAX_CHUNKS} chunks".encode() in answer, answer[:300]


def test_a_body_of_as_many_chunks_as_allowed_is_read(small_budget: ApiServer) -> None:
    answer = post_chunks(small_budget.port, MAX_CHUNKS)
    assert answer.startswith(b"HTTP/1.1 200") and f"got {MAX_CHUNKS}".encode() in answer, answer[:300]
