"""One request's bytes as a connection gathers them: where the headers end, how the body is
framed, and whether the request is whole.

Why apart from ``gated``: the connection (``gated.GatedConnection``) decides when to read, wait,
park or refuse, with a socket, deadlines and a worker pool; what the bytes so far say about the
request is plain parsing, the same for every connection.
"""

from __future__ import annotations

import time

from .client_io import EXPECT_HEADER, MAX_CHUNKS, MAX_HEADER_BYTES, ClientLimits, deadline, scan_chunks


class Gathered:
    """The bytes of one request so far (``pending``) and what they say about it."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.started = 0.0  # when the request's first byte arrived
        self.head_end = -1  # just past the blank line ending the headers; -1: not yet
        self.length = -1  # the declared body length; -1: none or chunked
        self.chunked = False
        self.scan = 0  # where the chunk walk resumes
        self.chunks = 0  # the chunks walked so far
        self.body_started = 0.0  # when the headers were found whole
        self.continued = False  # "100 Continue" was considered for this request
        self.malformed: str | None = None  # why the headers cannot be framed safely: a 400

    def add(self, data: bytes) -> None:
        """Bytes read from the socket.  Empty lines before a request are dropped (RFC 9112
        2.2): cheroot leaves a chunked body's final CRLF unread, and a kept-alive connection
        holding it must not count as a request arriving (it would be answered 408)."""
        if not self.pending:
            data = data.lstrip(b"\r\n")
            if not data:
                return
            self.started = time.monotonic()
        self.pending += data

    @property
    def body(self) -> int:
        """Body bytes gathered so far (0 while the headers are incomplete)."""
        return len(self.pending) - self.head_end if self.head_end >= 0 else 0

    def wanted(self, limits: ClientLimits) -> int:
        """How many bytes are worth holding: the longest allowed headers, then headers and body."""
        if self.head_end < 0:
            return MAX_HEADER_BYTES + 1
        return self.head_end + limits.max_body_bytes + 1

    def deadline(self, limits: ClientLimits) -> float:
        """When the part now arriving (headers, else body) is due, on the monotonic clock."""
        if self.head_end < 0:
            return deadline(self.started, limits.header_timeout_s, len(self.pending), limits.min_rate)
        return deadline(self.body_started, limits.body_timeout_s, self.body, limits.min_rate)

    def headers_whole(self) -> bool | None:
        """True once the headers are whole (their framing then read), False while they are not,
        None when they run past ``MAX_HEADER_BYTES`` without ending."""
        if self.head_end >= 0:
            return True
        end = self.pending.find(b"\r\n\r\n")
        if end < 0:
            if self.pending.find(b"\n\n") >= 0:  # no header line ends in a bare LF
                self.malformed = "The request's lines must end with CRLF (\\r\\n), not a bare LF."
                return True
            return None if len(self.pending) > MAX_HEADER_BYTES else False
        self.head_end = end + 4
        self.body_started = time.monotonic()
        self._read_framing(bytes(self.pending[:self.head_end]))
        self.scan = self.head_end
        return True

    def complete(self, limits: ClientLimits) -> bool:
        """Whether a worker should take the request now (headers whole): its body is all here, or
        the app will refuse it on reading (malformed chunks, a body over the limit: 400, 413)."""
        body = self.body
        if self.chunked:
            self.scan, self.chunks, whole, malformed = scan_chunks(self.pending, self.scan, self.chunks)
            if self.chunks > MAX_CHUNKS:  # refused unread (``malformed``): decoding is the cost
                self.malformed = (f"The chunked body has over {MAX_CHUNKS} chunks; send it in chunks "
                                  "of kilobytes, or with Content-Length.")
                return False
            return whole or malformed or body > limits.max_body_bytes
        return self.length <= 0 or self.length > limits.max_body_bytes or body >= self.length

    def expects_continue(self) -> bool:
        """Whether the headers ask for ``100 Continue`` before the body."""
        return EXPECT_HEADER.search(bytes(self.pending[:self.head_end])) is not None

    def drop_expect(self) -> None:
        """Remove the ``Expect`` header once ``100 Continue`` was sent for it (cheroot would send
        another on parsing; clients cope, but one is cleaner)."""
        head = bytes(self.pending[:self.head_end])
        stripped = EXPECT_HEADER.sub(b"", head)
        self.pending[:self.head_end] = stripped
        self.head_end = len(stripped)
        self.scan = self.head_end + (self.scan - len(head))

    def _read_framing(self, head: bytes) -> None:
        """The body's framing; ``malformed`` when two readers could frame it differently
        (request smuggling: RFC 9112 6.3): conflicting or non-numeric Content-Length headers,
        Content-Length beside Transfer-Encoding, a transfer coding other than chunked, a transfer
        coding on an HTTP/1.0 request, or header lines readers split apart (``_line_fault``)."""
        lengths: set[bytes] = set()
        codings: list[bytes] = []
        lines = head.split(b"\r\n")
        for line in lines[1:]:
            if not line:
                continue
            fault = _line_fault(line)
            if fault:
                self.malformed = fault
                return
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                lengths.add(value.strip())
            elif name == b"transfer-encoding":
                codings += [c.strip().lower() for c in value.split(b",") if c.strip()]
        if len(lengths) > 1:
            self.malformed = "The request has conflicting Content-Length headers."
        elif lengths:
            value = next(iter(lengths))
            if not value.isdigit():
                self.malformed = f"Content-Length {value.decode('latin-1')[:40]!r} is not a number."
            self.length = int(value) if value.isdigit() and len(value) < 16 else -1
        if codings and codings != [b"chunked"]:
            self.malformed = (f"Transfer-Encoding {b', '.join(codings).decode('latin-1')[:80]!r} is not "
                              "supported; send the body as is (with Content-Length) or chunked.")
        elif codings and lengths:
            self.malformed = "The request has both Content-Length and Transfer-Encoding; send one."
        elif codings and _before_http11(lines[0]):
            # HTTP/1.0 has no transfer codings: cheroot ignores the header there and would take
            # the chunked body for the next request (RFC 9112 6.1: the framing is faulty)
            self.malformed = ("Transfer-Encoding is not allowed on an HTTP/1.0 request; send the body "
                              "with Content-Length, or as HTTP/1.1.")
        if codings:
            self.chunked, self.length = True, -1


def _before_http11(request_line: bytes) -> bool:
    """Whether the request line names a version before HTTP/1.1, read as cheroot reads it."""
    version = request_line.strip().rpartition(b" ")[2]
    major, _, minor = version[5:].partition(b".")
    try:
        return version.startswith(b"HTTP/") and (int(major), int(minor)) < (1, 1)
    except ValueError:  # cheroot refuses the request line itself
        return False


def _line_fault(line: bytes) -> str | None:
    """Why a header line cannot be read the same way by every reader, or None.

    A line starting with a space or tab continues the one before (obsolete line folding): cheroot
    replaces that header's value with it, or fails (a 500) when it is the first, while a proxy
    may read it as a header of its own (``Content-Length``).  Whitespace before the colon
    (``Content-Length : 5``) is read as the header by some and as another name by others.  RFC
    9112 5.1 and 5.2 let a server refuse both with a 400.
    """
    if line[:1] in (b" ", b"\t"):
        return ("The request uses obsolete line folding (a header line starting with a space or "
                f"tab: {line.decode('latin-1').strip()[:40]!r}); send each header on one line.")
    name, colon, _ = line.partition(b":")
    if colon and name != name.rstrip(b" \t"):
        return (f"The header name {name.decode('latin-1')[:40]!r} ends in whitespace; no space is "
                "allowed between a header's name and its colon.")
    return None
