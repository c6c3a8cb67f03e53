"""One request's bytes as a connection gathers them: where the headers end, how the body is
framed, and whether the request is whole.

Why apart from ``gated``: the connection (``gated.GatedConnection``) decides when to read, wait,
park or refuse, with a socket, deadlines and a worker pool; what the bytes so far say about the
request is plain parsing, the same for every connection.
"""

from __future__ import annotations

import time

from .client_io import EXPECT_HEADER, MAX_HEADER_BYTES, ClientLimits, deadline, scan_chunks


class Gathered:
    """The bytes of one request so far (``pending``) and what they say about it."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.started = 0.0  # when the request's first byte arrived
        self.head_end = -1  # just past the blank line ending the headers; -1: not yet
        self.length = -1  # the declared body length; -1: none or chunked
        self.chunked = False
        self.scan = 0  # where the chunk walk resumes
        self.body_started = 0.0  # when the headers were found whole
        self.continued = False  # "100 Continue" was considered for this request

    def add(self, data: bytes) -> None:
        """Bytes read from the socket."""
        if not self.pending:
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
            self.scan, whole, malformed = scan_chunks(self.pending, self.scan)
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
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                value = value.strip()
                self.length = int(value) if value.isdigit() and len(value) < 16 else -1
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                self.chunked = True
        if self.chunked:
            self.length = -1
