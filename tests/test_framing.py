"""What a request's gathered bytes say (``api/framing.py``), byte by byte, without a socket.

Why: the server hands a request to a worker only once it is whole, so these answers decide
whether a slow client holds a thread; the hostile-client tests (test_api_hardening.py and
friends) drive the same code through a real server.
"""

from __future__ import annotations

from edge_alpr.api.client_io import MAX_HEADER_BYTES, ClientLimits
from edge_alpr.api.framing import Gathered

LIMITS = ClientLimits(max_body_bytes=100)


def fed(*parts: bytes) -> Gathered:
    g = Gathered()
    for p in parts:
        g.add(p)
    return g


def test_headers_arriving_in_pieces_then_a_sized_body() -> None:
    g = fed(b"POST /v1/plate-reader/ HTTP/1.1\r\nContent-Le")
    assert g.headers_whole() is False and g.body == 0
    g.add(b"ngth: 5\r\n\r\nab")
    assert g.headers_whole() is True and g.length == 5 and g.body == 2
    assert not g.complete(LIMITS)
    g.add(b"cde")
    assert g.complete(LIMITS)


def test_requests_without_a_body_or_with_one_over_the_limit_go_to_the_app_at_once() -> None:
    g = fed(b"GET /info/ HTTP/1.1\r\n\r\n")
    assert g.headers_whole() and g.complete(LIMITS)
    g = fed(b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n")
    assert g.headers_whole() and g.complete(LIMITS)  # the app answers 413 without waiting for it
    g = fed(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999\r\n\r\n")
    assert g.headers_whole() and g.length == -1 and g.complete(LIMITS)


def test_chunked_bodies_are_whole_at_the_last_chunk_or_once_malformed() -> None:
    g = fed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n")
    assert g.headers_whole() and g.chunked and g.length == -1
    assert not g.complete(LIMITS)
    g.add(b"0\r\n\r\n")
    assert g.complete(LIMITS)
    g = fed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert g.headers_whole() and g.complete(LIMITS)  # malformed: the app answers 400


def test_headers_that_never_end_are_refused_past_the_limit() -> None:
    g = fed(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEADER_BYTES)
    assert g.headers_whole() is None
    assert fed(b"GET / HTTP/1.1\r\nX: aaaa").headers_whole() is False


def test_expect_continue_is_seen_and_dropped_keeping_the_body_in_place() -> None:
    g = fed(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nab")
    assert g.headers_whole() and g.expects_continue()
    g.drop_expect()
    assert bytes(g.pending) == b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab"
    assert g.body == 2 and not g.expects_continue()
    g.add(b"cd")
    assert g.complete(LIMITS)


def test_wanted_and_deadlines_follow_the_part_arriving() -> None:
    """The headers' deadline is the header timeout's, the body's the body timeout's (1 s against
    100 s here; no minimum rate, whose grace would cap both)."""
    limits = ClientLimits(max_body_bytes=100, header_timeout_s=1.0, body_timeout_s=100.0, min_rate=0.0)
    g = fed(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n")
    assert g.wanted(limits) == MAX_HEADER_BYTES + 1
    assert g.deadline(limits) == g.started + 1.0
    g.add(b"\r\n")
    assert g.headers_whole()
    assert g.wanted(limits) == g.head_end + 101
    assert g.deadline(limits) == g.body_started + 100.0
