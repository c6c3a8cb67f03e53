"""The WSGI gateway between cheroot and the app: where each request's body ends.

Why: on a kept-alive connection the next request starts where this one's body ends, so every
byte of the body must be read by a decoder that frames it the way a proxy in front does, or the
connection must end.  cheroot's own chunked decoder leaves the trailer section unread (it was
then parsed as the next request) and reads chunk sizes with ``int(x, 16)``, which also takes
``+5``, ``0x5`` or ``5_0``; ``StrictChunkedRFile`` reads only the RFC 9112 grammar and reads the
trailers too, bounded.  A body the app does not read (``GET /info/`` with a body, a refusal
before reading) is discarded from what already arrived; when the rest is still on its way, the
answer says ``Connection: close`` rather than keep a worker waiting for bytes nobody needs.
"""

from __future__ import annotations

import re
from typing import Any

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server
from cheroot import wsgi

from .client_io import CHUNK_SIZE, MAX_CHUNKS, MAX_TRAILER_BYTES, MAX_TRAILER_FIELDS
from .gated import GatedConnection
from .http_errors import DEFAULT_HEADERS

_MAX_SIZE_LINE = 1024  # a chunk-size line with its extensions
_TRAILER_FIELD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n\x00]*\r\n")
_DRAIN_BYTES = 256 * 1024


class StrictChunkedRFile(cheroot_server.ChunkedRFile):
    """cheroot's chunked ``wsgi.input`` with RFC 9112's chunk-size grammar and trailer section.

    A malformed size line, chunk end or trailer field, or a chunk past ``MAX_CHUNKS``, raises
    ``ValueError`` (the app answers 400 and closes the connection); a read past the body's
    deadline raises ``TimeoutError`` (408).  The chunks are counted here too: a body the server
    did not gather first (its shared buffer budget full) comes to the worker unscanned, and one
    byte a chunk would cost a Python call per byte.
    """

    chunks = 0  # chunks of data read so far

    def _fetch(self) -> None:
        if self.closed:
            return
        line = self.rfile.readline(_MAX_SIZE_LINE + 1)
        self.bytes_read += len(line)
        match = CHUNK_SIZE.fullmatch(line)
        if match is None:
            raise ValueError(f"bad chunk-size line {line[:40]!r}: hex digits, then CRLF")
        size = int(match.group(1), 16)
        if size == 0:
            self._read_trailers()
            self.closed = True
            return
        self.chunks += 1  # the chunks of data, as the server's scan counts them
        if self.chunks > MAX_CHUNKS:
            raise ValueError(f"the chunked body has over {MAX_CHUNKS} chunks; send it in chunks of kilobytes, "
                             "or with Content-Length")
        if self.maxlen and self.bytes_read + size > self.maxlen:
            raise cheroot_errors.MaxSizeExceeded("Request Entity Too Large", self.maxlen)
        chunk = self.rfile.read(size)
        self.bytes_read += len(chunk)
        self.buffer += chunk
        end = self.rfile.read(2)
        if len(chunk) < size or end != b"\r\n":
            raise ValueError(f"a chunk of {size} bytes is not followed by CRLF (got {end!r})")

    def _read_trailers(self) -> None:
        """Read and discard the trailer section: at most ``MAX_TRAILER_FIELDS`` well-formed
        fields in ``MAX_TRAILER_BYTES``, then an empty line."""
        total = fields = 0
        while True:
            line = self.rfile.readline(MAX_TRAILER_BYTES - total + 1)
            total += len(line)
            if line == b"\r\n":
                return
            if not line:
                raise ValueError("the body ended inside its trailer section")
            if total > MAX_TRAILER_BYTES:
                raise ValueError(f"the trailer section is over {MAX_TRAILER_BYTES} bytes")
            fields += 1
            if fields > MAX_TRAILER_FIELDS:
                raise ValueError(f"the trailer section has over {MAX_TRAILER_FIELDS} fields")
            if _TRAILER_FIELD.fullmatch(line) is None:
                raise ValueError(f"malformed trailer field {line[:40]!r}: name: value, then CRLF")


def body_unfinished(req: Any) -> bool:
    """Whether the request's body has bytes not yet read through its ``wsgi.input``."""
    rfile = req.rfile
    if isinstance(rfile, cheroot_server.ChunkedRFile):
        return not rfile.closed
    return int(getattr(rfile, "remaining", 0) or 0) > 0


def discard_arrived_body(req: Any) -> bool:
    """Read the rest of the body from the bytes already received, without waiting for the socket;
    True when it ended there (the connection can carry the next request)."""
    conn = req.conn
    if not isinstance(conn, GatedConnection):
        return False
    conn.gathered.buffered_only = True
    try:
        while req.rfile.read(_DRAIN_BYTES):
            pass
    except (BlockingIOError, ValueError, OSError, cheroot_errors.MaxSizeExceeded):
        return False
    finally:
        conn.gathered.buffered_only = False
    return True


class GatedGateway(wsgi.Gateway_10):
    """cheroot's WSGI 1.0 gateway, with the strict chunked decoder, which also honours an app's
    ``Connection: close`` and ends a connection whose body it could not read to its end.

    The app says ``Connection: close`` when it answers before reading a body to its end (a
    malformed chunk, a body cut short): the rest of the connection can no longer be framed.
    """

    def __init__(self, req: Any) -> None:
        if req.chunked_read:  # cheroot made its own decoder for this request; nothing read yet
            req.rfile = StrictChunkedRFile(req.conn.rfile, req.server.max_request_body_size)
        super().__init__(req)

    def start_response(self, status: Any, headers: Any, exc_info: Any = None) -> Any:
        """Also adds ``DEFAULT_HEADERS`` (``X-Content-Type-Options: nosniff``,
        ``Cross-Origin-Resource-Policy: same-origin``, ``Cache-Control: no-store``) to every
        answer that lacks them: here, below the app, they reach the host guard's and
        ``/metrics``' answers and bottle's error pages as well as the routes'."""
        named = {k.lower() for k, _ in headers}
        headers = [*headers, *(h for h in DEFAULT_HEADERS if h[0].lower() not in named)]
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
            self.req.close_connection = True
        elif body_unfinished(self.req) and not discard_arrived_body(self.req):
            self.req.close_connection = True
        return super().start_response(status, headers, exc_info)
