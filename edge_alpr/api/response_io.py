"""What the API server sends a client: each response within a deadline.

Why: a client that asks for a large answer (a watch list of 10,000 plates, every list at once,
the events CSV, a scene image) and then reads it slowly or not at all holds the worker thread
writing it: the kernel takes what fits in the socket's send buffer and each further ``send``
waits for the client to read.  The socket's timeout (cheroot's ``server.timeout``, 10 s) bounds
one wait only, so a client reading a little every few seconds held a worker for as long as the
response lasted, and one such client per worker left every other client unanswered.

``ResponseOutput`` gives each response ``ClientLimits.send_timeout_s`` in all, from its first
byte, besides the socket's timeout for each wait.  Past either, the connection is reset: the
bytes not yet sent are dropped rather than left to the kernel to trickle out, the worker goes
back to the pool, the event is logged once and counted (``ResponseCuts``, read by ``/metrics``
as ``edge_alpr_http_responses_cut_total``).  Each cut costs its client a connection and held a
worker for ``send_timeout_s`` at most, so the warnings come at most ``api.threads`` per
``send_timeout_s``: a hostile client cannot flood the log.
"""

from __future__ import annotations

import _pyio
import logging
import socket
import struct
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets, dropping unsent bytes


def request_label(head: bytes | bytearray) -> str:
    """The method and path of a request's first line, for the log: without the query, which may
    hold plates (``GET /v1/events/?plate=...``)."""
    line = bytes(head[:200]).split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    return " ".join(line[:2]).partition("?")[0]


class ResponseCuts:
    """Responses cut off because the client did not take them in time, over one server."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.count += 1


class ResponseOutput(socket.SocketIO):
    """The raw stream under a connection's ``wfile``: every send within the response's deadline.

    A send past the deadline, or one that waits the socket's whole timeout for the client,
    raises ``TimeoutError("timed out")`` once (cheroot then ends the connection quietly: the
    warning is logged here, once), resets the connection and from then on discards what is
    written, so that cheroot's clean-up cannot block either.
    """

    def __init__(self, sock: socket.socket, idle_timeout: float, total_s: float,
                 cuts: ResponseCuts) -> None:
        super().__init__(sock, "wb")
        self.sock = sock
        self.idle_timeout, self.total_s, self.cuts = idle_timeout, total_s, cuts
        self.started: float | None = None  # the current response's first byte; None: not yet
        self.sent = 0
        self.peer = self.request = ""  # for the log
        self.cut = False

    def begin(self, peer: str, request: str) -> None:
        """A new response, to ``peer``'s ``request`` (``request_label``): its clock starts at its
        first byte, so the time the app takes to answer is not counted against the client."""
        self.started, self.sent, self.peer, self.request = None, 0, peer, request

    def write(self, b: Any) -> int | None:
        if self.cut:
            return memoryview(b).nbytes
        now = time.monotonic()
        if self.started is None:
            self.started = now
        left = self.started + self.total_s - now
        try:
            if left <= 0:
                raise TimeoutError("timed out")
            self.sock.settimeout(min(left, self.idle_timeout))
            sent = super().write(b)
        except TimeoutError:
            self._reset(time.monotonic() - self.started)
            raise
        self.sent += sent or 0
        return sent

    def _reset(self, elapsed: float) -> None:
        self.cut = True
        self.cuts.add()
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        except OSError:  # already gone: nothing left to drop
            pass
        log.warning("http: reset the connection of %s after %.1f s: it did not take the response "
                    "to %s (%d bytes sent); a client gets api.send_timeout_s (%g s) for a response "
                    "and %g s for each wait; raise api.send_timeout_s if clients this slow are "
                    "expected", self.peer, elapsed, self.request or "its request", self.sent,
                    self.total_s, self.idle_timeout)


class ResponseWriter(_pyio.BufferedWriter):  # the pure-Python writer cheroot itself uses
    """cheroot's ``StreamWriter`` over a ``ResponseOutput``, sending from a view of the bytes.

    Why not cheroot's own: its writer copies everything not yet sent before each ``send``,
    which for a large response to a slow client (a send taking a few KB at a time) is
    megabytes copied per send.
    """

    def __init__(self, raw: ResponseOutput, bufsize: int) -> None:
        super().__init__(raw, bufsize)
        self.bytes_written = 0

    def write(self, b: Any) -> int:
        self._checkClosed("write to closed file")
        view = memoryview(b).cast("B")
        total = len(view)
        with self._write_lock:
            while view:
                view = view[self.raw.write(view) or 0:]
        self.bytes_written += total
        return total
