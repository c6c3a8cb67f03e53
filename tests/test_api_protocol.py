"""HTTP/1.1 framing and protocol edge cases against the real server over a raw socket.

Ambiguous body framing (conflicting or non-numeric Content-Length, Content-Length beside
Transfer-Encoding, an unknown transfer coding) is refused at once with a JSON 400 and the
connection closed, so a request hidden in the body is never run (request smuggling); so are
header lines readers split apart (obsolete folding, a space before the colon) and chunked on
HTTP/1.0, and a chunked body with bare LF line ends is refused at once.  Requests
cheroot itself refuses (a lower-case method, an absolute-form URI, a bad request line, a bare LF
line end, HTTP/2's preface) are answered in the API's JSON error format too.  A kept-alive
client sending chunked uploads is not answered a stray 408 while it is idle between them.
Pipelined uploads and ``Expect: 100-continue`` are answered in order.  A chunked body ends
after its trailer section, read and discarded (malformed or oversized trailers, and chunk sizes
only ``int(x, 16)`` reads, are a JSON 400 that closes the connection); a body the app does not
read is discarded from what arrived, or the connection ends after the answer.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from tests.conftest import jpeg_bytes
from tests.test_api_hardening import address, json_detail, read_response, rest_until_closed

READ = "/v1/plate-reader/"
JPEG = jpeg_bytes(64, 48)
BOUNDARY = "xyzBOUNDARY"
BODY = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.jpg\"\r\n\r\n".encode()
        + JPEG + f"\r\n--{BOUNDARY}--\r\n".encode())
SMUGGLED = b"GET /info/ HTTP/1.1\r\nHost: localhost\r\n\r\n"


def _post(extra: bytes = b"") -> bytes:
    return (f"POST {READ} HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n").encode() + extra


def _chunked(body: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                    for i in range(0, len(body), 1000)) + b"0\r\n\r\n"


def _exchange(api: Any, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data``, return everything the server says until it closes the connection."""
    with socket.create_connection(address(api), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                return out
            out += chunk
    raise AssertionError(f"the server kept the connection open after {out[:300]!r}")


def _one_json_error(reply: bytes, status: int) -> str:
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert reply.count(b"HTTP/1.1 ") == 1, reply  # nothing after it: a smuggled request never ran
    return json_detail(int(lines[0].split()[1]), headers, body, status)


SMUGGLING = {
    "two Content-Length values": b"Content-Length: 5\r\nContent-Length: 44\r\n\r\nhello",
    "a Content-Length list": b"Content-Length: 5, 5\r\n\r\nhello",
    "a signed Content-Length": b"Content-Length: +5\r\n\r\nhello",
    "Content-Length and chunked": b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "an unknown transfer coding": b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "two transfer codings": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(SMUGGLING))
def test_ambiguous_framing_is_a_json_400_and_nothing_behind_it_runs(api: Any, case: str) -> None:
    started = time.monotonic()
    reply = _exchange(api, _post(SMUGGLING[case]) + SMUGGLED)
    detail = _one_json_error(reply, 400)
    assert "Content-Length" in detail or "Transfer-Encoding" in detail, detail
    assert time.monotonic() - started < 1.5


# header lines and chunk lines two readers split apart: (request, a word the detail names)
SPLIT_APART = {
    "a folded Content-Length": (_post(b"X-A: 1\r\n Content-Length: %d\r\n\r\n" % len(SMUGGLED)), "folding"),
    "a folded Content-Length value": (_post(b"Content-Length: 5\r\n 0\r\n\r\nhello"), "folding"),
    "a folded first header line": (b"GET /info/ HTTP/1.1\r\n Host: localhost\r\n\r\n", "folding"),
    "a space before the colon": (_post(b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"), "colon"),
    "chunked on HTTP/1.0": (b"POST /v1/plate-reader/ HTTP/1.0\r\nHost: localhost\r\nConnection: Keep-Alive\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(SMUGGLED), "HTTP/1.0"),
    "chunked and a length, a body not chunked": (_post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                                                       b"hello"), "Content-Length and Transfer-Encoding"),
}


@pytest.mark.parametrize("case", sorted(SPLIT_APART))
def test_lines_two_readers_split_apart_are_a_json_400_at_once_and_nothing_behind_runs(api: Any, case: str
                                                                                      ) -> None:
    """Obsolete line folding (cheroot replaces the header before with it, or fails on the first
    line), a space before the colon and chunked on HTTP/1.0 (cheroot ignores it there): a proxy in
    front may read each differently, so the request hidden behind would run (RFC 9112 5.1, 5.2,
    6.1)."""
    request, word = SPLIT_APART[case]
    started = time.monotonic()
    detail = _one_json_error(_exchange(api, request + SMUGGLED), 400)
    assert word.lower() in detail.lower(), detail
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("chunks, word", [(b"5\nhello\n0\n\n", "chunk-size"),
                                          (b"5\r\nhello\r\n0\r\n\n", "trailer")])
def test_a_chunked_body_with_bare_lf_line_ends_is_a_json_400_at_once(api: Any, chunks: bytes, word: str) -> None:
    """A client that ends its chunk lines in a bare LF and waits for the answer is told at once,
    not answered 408 once its body is overdue."""
    started = time.monotonic()
    detail = _one_json_error(_exchange(api, _post(b"Transfer-Encoding: chunked\r\n\r\n") + chunks), 400)
    assert word in detail, detail
    assert time.monotonic() - started < 1.5


REFUSED_BY_THE_PARSER = {
    "a lower-case method": (b"get /info/ HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
    "an absolute-form URI": (b"GET http://localhost/info/ HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
    "a request line without version": (b"GET /info/\r\n\r\n", 400),
    "a request line with a fourth word": (b"GET /info/ HTTP/1.1 x\r\nHost: localhost\r\n\r\n", 400),
    "a header line without colon": (b"GET /info/ HTTP/1.1\r\nHost: localhost\r\nX\r\n\r\n", 400),
    "bare LF line ends": (b"GET /info/ HTTP/1.1\nHost: localhost\n\n", 400),
    "CONNECT": (b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n", 405),
    "the HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
}


@pytest.mark.parametrize("case", sorted(REFUSED_BY_THE_PARSER))
def test_requests_the_parser_refuses_get_json_errors_at_once(api: Any, case: str) -> None:
    request, status = REFUSED_BY_THE_PARSER[case]
    started = time.monotonic()
    _one_json_error(_exchange(api, request), status)
    assert time.monotonic() - started < 1.5


def test_a_kept_alive_chunked_uploader_idle_between_uploads_gets_no_stray_408(api: Any) -> None:
    """cheroot leaves a chunked body's last CRLF unread; it must not start a request that
    times out while the client is idle (the client would read that 408 as its next answer)."""
    with socket.create_connection(address(api), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(_post(b"Transfer-Encoding: chunked\r\n\r\n") + _chunked(BODY))
            status, _, body = read_response(sock, 10)
            assert status == 201, body
            sock.settimeout(3.0)  # past the 2 s grace of the minimum rate
            with pytest.raises(TimeoutError):
                extra = sock.recv(65536)
                pytest.fail(f"unasked for: {extra!r}")


def test_pipelined_uploads_and_expect_continue_are_answered_in_order(api: Any) -> None:
    post = _post(b"Content-Length: %d\r\n\r\n" % len(BODY)) + BODY
    with socket.create_connection(address(api), timeout=10) as sock:
        sock.sendall(post * 3)
        for _ in range(3):
            status, _, body = read_response(sock, 10)
            assert status == 201, body
        sock.sendall(_post(b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(BODY)))
        sock.settimeout(5)
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(BODY)
        status, _, body = read_response(sock, 10)
        assert status == 201, body


def test_an_upload_over_the_limit_expecting_continue_gets_the_413_without_a_100_first(api: Any) -> None:
    """``Expect: 100-continue`` with a Content-Length over ``api.max_upload_bytes``: the answer is
    the 413 alone; a ``100 Continue`` before it would invite a body that is refused unread."""
    reply = _exchange(api, _post(b"Expect: 100-continue\r\nContent-Length: 50000000\r\n\r\n"))
    assert "api.max_upload_bytes" in _one_json_error(reply, 413)
    assert b" 100 " not in reply.split(b"\r\n", 1)[0], reply[:60]


GET_INFO = b"GET /info/ HTTP/1.1\r\nHost: localhost\r\n\r\n"


def _with_trailers(trailers: bytes) -> bytes:
    """A chunked upload whose last chunk is followed by ``trailers`` (each line with its CRLF)."""
    return _post(b"Transfer-Encoding: chunked\r\n\r\n") + _chunked(BODY)[:-2] + trailers + b"\r\n"


def test_trailers_after_a_chunked_upload_are_read_and_the_next_request_answered(api: Any) -> None:
    """Trailer fields end the chunked body (RFC 9112 7.1.2): they are read and discarded, so the
    pipelined request behind them is the next one run, on the same connection."""
    with socket.create_connection(address(api), timeout=10) as sock:
        sock.sendall(_with_trailers(b"X-Checksum: 1234\r\nX-Camera:  gate\r\n") + GET_INFO)
        status, _, body = read_response(sock, 10)
        assert status == 201, body
        status, headers, body = read_response(sock, 10)
        assert status == 200 and headers.get("connection") != "close", (status, body)
        sock.sendall(GET_INFO)  # still open: the trailers were not taken for a request
        assert read_response(sock, 10)[0] == 200


MALFORMED_TRAILERS = {
    "a request line": b"GET /v1/statistics/ HTTP/1.1\r\nHost: localhost\r\n",
    "a field without colon": b"X-Checksum 1234\r\n",
    "a folded field": b"X-A: 1\r\n  folded\r\n",
    "a bare LF": b"X-A: 1\n",
    "too many fields": b"X-A: 1\r\n" * 65,
    "too many bytes": b"X-A: " + b"a" * 9000 + b"\r\n",
}


@pytest.mark.parametrize("case", sorted(MALFORMED_TRAILERS))
def test_malformed_trailers_are_a_json_400_and_nothing_behind_them_runs(api: Any, case: str) -> None:
    started = time.monotonic()
    detail = _one_json_error(_exchange(api, _with_trailers(MALFORMED_TRAILERS[case]) + SMUGGLED), 400)
    assert "trailer" in detail.lower(), detail
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("size", ["+5", "0x5", "5_0", " 5", "-1"])
def test_a_chunk_size_python_reads_but_http_does_not_is_a_json_400(api: Any, size: str) -> None:
    """Only hex digits (RFC 9112 7.1): ``int(x, 16)`` also takes signs, prefixes and
    underscores, and two readers that disagree on a chunk's size disagree on the next request."""
    reply = _exchange(api, _post(b"Transfer-Encoding: chunked\r\n\r\n") + size.encode() + b"\r\nhello\r\n0\r\n\r\n"
                      + SMUGGLED)
    _one_json_error(reply, 400)


def test_a_chunked_body_the_app_does_not_read_is_not_taken_for_the_next_request(api: Any) -> None:
    """``GET /info/`` ignores its body; the body (chunk sizes, trailers) must not be parsed as a
    request: with the body here whole, the pipelined request behind it is answered."""
    with socket.create_connection(address(api), timeout=10) as sock:
        sock.sendall(b"GET /info/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n0\r\nX-A: 1\r\n\r\n" + GET_INFO)
        for _ in range(2):
            status, _, body = read_response(sock, 10)
            assert status == 200, body


def test_an_unread_body_still_arriving_ends_the_connection_after_the_answer(api: Any) -> None:
    """A body the app does not read and that has not all arrived (over ``max_upload_bytes``, so
    the app runs before it is gathered): the answer comes at once, with ``Connection: close``,
    instead of a worker waiting for the rest (and, past the body's deadline, no answer)."""
    with socket.create_connection(address(api), timeout=10) as sock:
        sock.sendall(b"GET /info/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50000000\r\n\r\n" + b"x" * 1000)
        started = time.monotonic()
        status, headers, body = read_response(sock, 10)
        assert status == 200 and headers.get("connection") == "close", (status, headers, body)
        assert time.monotonic() - started < 1.5
        assert rest_until_closed(sock) == b""


def test_a_body_of_hundreds_of_thousands_of_tiny_chunks_is_refused_unread(api: Any) -> None:
    """A chunked body costs its reader per chunk (cheroot decodes each in Python): 200,000
    chunks of one byte (1.2 MB) held a worker for some 3 s, a 10 MB body for 25.  Refused as
    it is gathered, with a 400 saying how to send it; nothing behind it runs."""
    tiny = b"1\r\nx\r\n" * 200_000 + b"0\r\n\r\n"
    said = _one_json_error(_exchange(api, _post(b"Transfer-Encoding: chunked\r\n\r\n") + tiny + SMUGGLED), 400)
    assert "chunks" in said and "Content-Length" in said, said
    # chunks of a kilobyte, as clients send them, still make an upload
    reply = _exchange(api, _post(b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n") + _chunked(BODY))
    assert reply.startswith(b"HTTP/1.1 201 "), reply[:300]


@pytest.mark.parametrize("line", [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                                  b"GET /info/ HTTP/3.0\r\nHost: localhost\r\n\r\n",
                                  b"GET /info/ HTTP/0.9\r\nHost: localhost\r\n\r\n"])
def test_an_http_version_not_spoken_is_named_with_the_one_to_send(api: Any, line: bytes) -> None:
    """An HTTP/2 client with prior knowledge (its preface) or a made-up version: the answer says
    which version to send, not cheroot's "Cannot fulfill request"."""
    said = _one_json_error(_exchange(api, line), 505)
    assert "send the request as HTTP/1.1" in said, said
