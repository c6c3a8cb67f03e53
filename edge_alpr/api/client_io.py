"""What the API server reads from a client before its request is handled: bounds and buffers.

A request's headers and body are gathered from whatever the socket holds (``GatedInput``,
``GatedReader``), chunked bodies are scanned without decoding them (``scan_chunks``), the
bodies of all clients still sending share one byte budget (``BodyBudget``), and each part must
be complete by its ``deadline`` (``ClientLimits``).  ``gated.GatedConnection`` uses them.
"""

from __future__ import annotations

import _pyio
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

RATE_GRACE_S = 2.0  # before the minimum rate applies to a request's headers, then its body
MAX_HEADER_BYTES = 64 * 1024
RECV_BYTES = 256 * 1024
EXPECT_HEADER = re.compile(rb"(?im)^expect:[^\r\n]*\r\n")
BARE_LF = re.compile(rb"(?<!\r)\n")
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})(?:;[^\r\n]*)?\r\n")
# the trailer section after a chunked body's last chunk (RFC 9112 7.1.2): read and discarded
MAX_TRAILER_BYTES = 8 * 1024
# chunks of one chunked body: cheroot decodes each in Python (some 10 us), so a 10 MB body of
# 1-byte chunks held a worker for 25 s; clients send chunks of kilobytes (curl: 64 KB)
MAX_CHUNKS = 65536
MAX_TRAILER_FIELDS = 32


@dataclass(frozen=True)
class ClientLimits:
    """How long, how slowly and how much a client may send before its request is handled.

    ``header_timeout_s``: the request line and headers, in total (default 10 s).
    ``body_timeout_s``: the body, in total (default 60 s: a 10 MB upload needs ~1.4 Mbit/s).
    ``min_rate``: bytes/s; after the first ``RATE_GRACE_S`` of the headers, and again of the
    body, a client whose average falls below it is answered 408 and dropped (0 = off).
    ``max_body_bytes``: bodies up to this size are gathered before the app runs; larger ones
    go to the app at once (it answers 413).  ``buffer_bytes``: the bodies held for clients
    still sending, all together; past it a body is read by a worker, under the same deadlines.
    ``send_timeout_s``: the time a client has to take one response, at least, from its first byte;
    ``send_min_rate``: bytes/s, a large response's longer allowance (``response_io.send_deadline``);
    past the deadline the connection is reset and the worker freed.
    ``send_buffer_bytes``: the responses queued for clients that did not take them at once, all
    together (``sender.py``); past it a worker sends the rest itself, under the same deadlines.
    ``max_connections_per_client``: open connections one address may hold; more are closed as
    soon as they are accepted (``client_cap.py``; 0 = no cap).
    """

    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    min_rate: float = 4096.0
    max_body_bytes: int = 10 * 1024 * 1024
    buffer_bytes: int = 40 * 1024 * 1024
    send_timeout_s: float = 60.0
    send_min_rate: float = 16384.0
    max_connections_per_client: int = 64
    send_buffer_bytes: int = 40 * 1024 * 1024


def deadline(start: float, total_s: float, received: int, min_rate: float) -> float:
    """When a request part begun at ``start`` must be complete, given ``received`` bytes so far."""
    end = start + total_s
    if min_rate > 0:
        end = min(end, start + RATE_GRACE_S + received / min_rate)
    return end


class BodyBudget:
    """Bytes set aside for bodies still arriving, over all connections of one server."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


class GatedInput(socket.SocketIO):
    """The raw stream under a connection's ``rfile``: gathered bytes first, then the socket.

    Socket reads made by a worker (a body over the buffer budget) keep the deadlines: each
    read waits at most until the part's deadline, and a read past it raises ``TimeoutError``
    once, then reads as end of file so that cheroot's clean-up cannot block either.
    """

    def __init__(self, sock: socket.socket, idle_timeout: float) -> None:
        super().__init__(sock, "rb")
        self.sock = sock
        self.idle_timeout = idle_timeout
        self.prefix = b""
        self.offset = 0
        self.broken = False
        self.policy: tuple[float, float, float] | None = None  # start, total_s, min_rate
        self.received = 0  # bytes of the current part, counted against the minimum rate
        self.buffered_only = False  # True: a read that would wait for the socket raises BlockingIOError

    def buffered(self) -> bool:
        return self.offset < len(self.prefix)

    def take_prefix(self) -> bytes:
        data = self.prefix[self.offset:]
        self.prefix, self.offset = b"", 0
        return data

    def readinto(self, b: Any) -> int | None:
        if self.offset < len(self.prefix):
            n = min(len(b), len(self.prefix) - self.offset)
            b[:n] = memoryview(self.prefix)[self.offset:self.offset + n]
            self.offset += n
            if self.offset == len(self.prefix):
                self.prefix, self.offset = b"", 0
            return n
        if self.broken:
            return 0
        if self.buffered_only:
            raise BlockingIOError("no more bytes received yet")
        if self.policy is not None:
            start, total_s, min_rate = self.policy
            left = deadline(start, total_s, self.received, min_rate) - time.monotonic()
            if left <= 0:
                self.broken = True
                raise TimeoutError("timed out")
            self.sock.settimeout(min(left, self.idle_timeout))
        try:
            got = super().readinto(b)
        except TimeoutError:
            self.broken = True
            raise
        self.received += got or 0
        return got


class GatedReader(_pyio.BufferedReader):  # the pure-Python reader cheroot itself uses
    """cheroot's ``StreamReader`` over an ``GatedInput``; ``has_data`` also sees gathered bytes."""

    def __init__(self, raw: GatedInput, bufsize: int) -> None:
        super().__init__(raw, bufsize)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data: bytes = super().read(size)
        self.bytes_read += len(data)
        return data

    def has_data(self) -> bool:
        return len(self._read_buf) > self._read_pos or self.raw.buffered()

    def take_buffered(self) -> bytes:
        """Every byte read from the socket and not yet consumed, in order."""
        with self._read_lock:
            data = bytes(self._read_buf[self._read_pos:])
            self._reset_read_buf()
        return data + self.raw.take_prefix()


def scan_chunks(data: bytearray | bytes, pos: int, seen: int = 0) -> tuple[int, int, bool, bool]:
    """Walk a chunked body from ``pos``, ``seen`` chunks already walked: (where to resume, chunks
    walked, complete, malformed); the walk stops past ``MAX_CHUNKS`` chunks."""
    while True:
        match = CHUNK_SIZE.match(data, pos)
        if match is None:  # a size line that ended (also in a bare LF) and is not one
            line_end = data.find(b"\n", pos)
            return pos, seen, False, line_end >= 0 or len(data) - pos > 1024
        size = int(match.group(1), 16)
        if size == 0:  # then the trailer section, up to an empty line; its lines end in CRLF too
            trailer_end = data.find(b"\r\n\r\n", match.end() - 2)
            bare = BARE_LF.search(data, match.end(), trailer_end + 4 if trailer_end >= 0 else len(data))
            if bare is not None:
                return pos, seen, False, True
            return pos, seen, trailer_end >= 0, trailer_end < 0 and len(data) - match.end() > MAX_TRAILER_BYTES
        end = match.end() + size
        if len(data) < end + 2:
            return pos, seen, False, False
        if data[end:end + 2] != b"\r\n":
            return pos, seen, False, True
        pos, seen = end + 2, seen + 1
        if seen > MAX_CHUNKS:
            return pos, seen, False, False
