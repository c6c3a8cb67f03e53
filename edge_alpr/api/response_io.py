"""What the API server sends a client: each response within a deadline.

Why: a client that asks for a large answer (a watch list of 10,000 plates, every list at once,
the events CSV, a scene image) and then reads it slowly or not at all holds the worker thread
writing it: the kernel takes what fits in the socket's send buffer and each further ``send``
waits for the client to read.  The socket's timeout (cheroot's ``server.timeout``, 10 s) bounds
one wait only, so a client reading a little every few seconds held a worker for as long as the
response lasted, and one such client per worker left every other client unanswered.

``ResponseOutput`` gives each response a deadline from its first byte (``send_deadline``):
``ClientLimits.send_timeout_s`` at least, and longer for a large response to a client that keeps
taking it at ``send_min_rate`` or faster (2 s plus the bytes sent so far at that rate), so that
an 8 MB watch list or a large CSV export reaches a steady client on a slow link (~100 KB/s over
LTE or a VPN) while a trickle is still cut.  Each wait for the client is also bounded by the
socket's timeout (cheroot's ``server.timeout``, 10 s).  Past either, the connection is reset: the
bytes not yet sent are dropped rather than left to the kernel to trickle out, the worker goes
back to the pool, the event is logged once and counted (``ResponseCuts``, read by ``/metrics``
as ``edge_alpr_http_responses_cut_total``).  Each cut costs its client a connection, and a
client that takes nothing is cut after the socket's timeout, so a hostile client's warnings
come at most ``api.threads`` per 10 s: it cannot flood the log.  (One that keeps up the minimum
rate is a client being served, and holds its worker as any download does.)
"""

from __future__ import annotations

import _pyio
import logging
import socket
import struct
import threading
import time
from typing import Any

from .client_io import RATE_GRACE_S

log = logging.getLogger(__name__)

_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets, dropping unsent bytes


def send_deadline(start: float, total_s: float, sent: int, min_rate: float) -> float:
    """When a response begun at ``start`` must be taken, ``sent`` bytes in: ``total_s`` after its
    first byte, or later while the client keeps up ``min_rate`` (0 = ``total_s`` in all).  The
    mirror of ``client_io.deadline``: there the rate shortens the time, here it lengthens it."""
    if min_rate <= 0:
        return start + total_s
    return start + max(total_s, RATE_GRACE_S + sent / min_rate)


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
        """Count one cut; from any worker thread, hence the lock (``+=`` is not atomic)."""
        with self._lock:
            self.count += 1


class ResponseOutput(socket.SocketIO):
    """The raw stream under a connection's ``wfile``: every send within the response's deadline
    (``send_deadline`` of ``total_s`` and ``min_rate``).

    A send past the deadline, or one that waits the socket's whole timeout for the client,
    raises ``TimeoutError("timed out")`` once (cheroot then ends the connection quietly: the
    warning is logged here, once), resets the connection and from then on discards what is
    written, so that cheroot's clean-up cannot block either.
    """

    def __init__(self, sock: socket.socket, idle_timeout: float, total_s: float, min_rate: float,
                 cuts: ResponseCuts) -> None:
        super().__init__(sock, "wb")
        self.sock = sock
        self.idle_timeout, self.total_s, self.min_rate, self.cuts = idle_timeout, total_s, min_rate, cuts
        self.started: float | None = None  # the current response's first byte; None: not yet
        self.sent = 0
        self.peer = self.request = ""  # for the log
        self.cut = False

    def begin(self, peer: str, request: str) -> None:
        """A new response, to ``peer``'s ``request`` (``request_label``): its clock starts at its
        first byte, so the time the app takes to answer is not counted against the client."""
        self.started, self.sent, self.peer, self.request = None, 0, peer, request

    def write(self, b: Any) -> int | None:
        """Send what the socket takes of ``b`` within the deadline and one wait; the bytes sent.

        Why each call recomputes the deadline: every byte the client took extends it (at
        ``min_rate``), and the wait is bounded by what is left of it, so a steady client is never
        cut and a stalled one is cut at the deadline or after one wait, whichever comes first.
        Once cut, everything is discarded (reported as written) so that the clean-up cannot block.
        """
        if self.cut:
            return memoryview(b).nbytes
        now = time.monotonic()
        if self.started is None:
            self.started = now
        left = send_deadline(self.started, self.total_s, self.sent, self.min_rate) - now
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
                    "to %s (%d bytes sent); a client gets api.send_timeout_s (%g s) for a response, "
                    "longer while it takes api.send_min_rate (%g bytes/s), and %g s for each wait; "
                    "raise api.send_timeout_s or lower api.send_min_rate if clients this slow are "
                    "expected", self.peer, elapsed, self.request or "its request", self.sent,
                    self.total_s, self.min_rate, self.idle_timeout)


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
