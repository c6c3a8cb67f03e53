"""What the API server sends a client: each response within a deadline.

Why: a client that asks for a large answer (a watch list of 10,000 plates, every list at once,
the events CSV, a scene image) and then reads it slowly or not at all holds the worker thread
writing it: the kernel takes what fits in the socket's send buffer and each further ``send``
waits for the client to read.  The socket's timeout (cheroot's ``server.timeout``, 10 s) bounds
one wait only, so a client reading a little every few seconds held a worker for as long as the
response lasted, and one such client per worker left every other client unanswered.

``ResponseOutput`` sends what the socket takes at once and queues the rest for the server's
sending thread (``sender.py``), so the worker is free for the next client at once.  Each
response has a deadline from its first byte (``send_deadline``): ``ClientLimits.send_timeout_s``
at least, longer for a large response to a client that keeps taking it at ``send_min_rate`` or
faster (2 s plus the bytes sent so far at that rate), so that an 8 MB watch list or a large CSV
export reaches a steady client on a slow link (~100 KB/s over LTE or a VPN) while a trickle is
still cut; and the socket's timeout (cheroot's ``server.timeout``, 10 s) without a byte taken.
Past either, the connection is reset: the bytes not yet sent are dropped rather than left to
the kernel to trickle out, the event is logged and counted (``ResponseCuts``, read by
``/metrics`` as ``edge_alpr_http_responses_cut_total``); the log gets at most ``LOG_CUTS`` such
warnings a minute, then one line with the number left out, so many hostile clients cannot flood it.
"""

from __future__ import annotations

import _pyio
import logging
import select
import socket
import struct
import threading
import time
from typing import Any

from .client_io import RATE_GRACE_S
from .response_queue import STALL_S, QueuedOutput
from .sender import MAX_WAIT_S, SendQueue

log = logging.getLogger(__name__)

LOG_CUTS = 10  # warnings of cut responses a minute, at most
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
        self._minute = 0.0  # monotonic s: when the current minute of warnings began
        self._logged = self._unlogged = 0

    def add(self, now: float) -> int | None:
        """Count one cut (any thread, hence the lock: ``+=`` is not atomic); None when its
        warning is left out, else the number of cuts left out before it."""
        with self._lock:
            self.count += 1
            if now - self._minute >= 60.0:
                self._minute, self._logged = now, 0
            if self._logged >= LOG_CUTS:
                self._unlogged += 1
                return None
            self._logged += 1
            unlogged, self._unlogged = self._unlogged, 0
            return unlogged


class ResponseOutput(QueuedOutput, socket.SocketIO):
    """The raw stream under a connection's ``wfile``: what the socket takes at once is sent, the
    rest queued for the server's ``SendQueue`` (``sender.py``), which sends it within the
    response's deadline (``send_deadline`` of ``total_s`` and ``min_rate``) while the worker
    goes on.  Without a queue, or with its budget spent, the worker sends it itself, within the
    same deadline and one wait of ``idle_timeout`` per send.

    Past the deadline the connection is reset and the worker's write raises
    ``TimeoutError("timed out")`` once (cheroot then ends the connection quietly: the warning is
    logged here, once); from then on what is written is discarded, so that cheroot's clean-up
    cannot block either.
    """

    def __init__(self, sock: socket.socket, idle_timeout: float, total_s: float, min_rate: float,
                 cuts: ResponseCuts, queue: SendQueue | None = None) -> None:
        super().__init__(sock, "wb")
        self.sock = sock
        self.idle_timeout, self.total_s, self.min_rate, self.cuts = idle_timeout, total_s, min_rate, cuts
        self.started: float | None = None  # the current response's first byte; None: not yet
        self.sent = 0
        self.peer = self.request = ""  # for the log
        self.cut = False  # reset or failed: what is written is discarded
        self._init_queue(queue)

    def begin(self, peer: str, request: str) -> None:
        """A new response, to ``peer``'s ``request`` (``request_label``): its clock starts at its
        first byte, so the time the app takes to answer is not counted against the client."""
        self.started, self.sent, self.peer, self.request = None, 0, peer, request

    def write(self, b: Any) -> int | None:
        """Take ``b``: sent, queued or (without room in the queue) sent while the worker waits;
        the number of bytes taken (fewer than given only when the worker sends them itself).

        Why the worker sends only what the socket takes at once: a client that does not read
        would otherwise hold the worker until its deadline.  A queued part keeps a reference to
        the app's bytes (immutable), so queuing costs no copy of them.  With the queue's budget
        spent, connections that took nothing for ``STALL_S`` are reset to make room
        (``SendQueue.evict``), and the worker waits for its own client at most as long.
        """
        view = memoryview(b).cast("B")
        while True:
            with self.lock:
                taken = self._send_or_queue(view)
            if taken is not None:
                return taken
            if self.queue is not None and self.queue.evict(view.nbytes, self, STALL_S):
                continue
            self._wait_for_client()

    def _send_or_queue(self, view: memoryview) -> int | None:
        """``write``'s bytes taken without waiting (the lock held); None when none were: the
        socket took nothing and the queue has no room."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        if self.cut:
            return view.nbytes
        now = time.monotonic()
        if self.started is None:
            self.started = now
        sent = 0
        if not self._parts:
            sent = self._send_now(view)
            self.sent += sent
            if sent == view.nbytes:
                return sent
            view = view[sent:]
        if self.queue is not None and self.queue.budget.take(view.nbytes):
            self._enqueue(view, now)
            return sent + view.nbytes
        return sent or None  # some sent: the writer calls again with the rest

    def _send_now(self, view: memoryview) -> int:
        self.sock.settimeout(0.0)
        try:
            return self.sock.send(view)
        except (BlockingIOError, InterruptedError):
            return 0

    def _wait_for_client(self) -> None:
        """Wait (the worker's thread) until the client takes a byte: within the response's
        deadline and ``STALL_S`` while the queue is full (``idle_timeout`` without a queue),
        else reset the connection and raise ``TimeoutError``."""
        with self.lock:
            now = time.monotonic()
            started = self.started if self.started is not None else now
            left = self._deadline(started) - now
            wait = min(left, STALL_S if self.queue is not None else self.idle_timeout)
            if left > 0 and self._parts:  # this response's own queue first
                self._drained.wait(min(wait, MAX_WAIT_S))
                if not self._parts or time.monotonic() - self._progress_at < STALL_S:
                    return
        if left > 0 and not self._parts and self._writable(wait):  # not holding the lock: a
            return  # worker making room (``evict``) may look at this connection meanwhile
        with self.lock:
            if self.cut:
                return
            self._reset(time.monotonic() - started, f"; it took nothing for {wait:.1f} s while "
                        "the queue of unsent responses was full" if left > 0 and self.queue else "")
            held = self._held
            self._hand_back()
        if held and self.queue is not None:  # the sender watches it: not once its number is reused
            self.queue.forget(self)
        raise TimeoutError("timed out")

    def _writable(self, timeout_s: float) -> bool:
        poller = select.poll()
        try:
            poller.register(self.sock, select.POLLOUT)
            return bool(poller.poll(timeout_s * 1000))
        except (OSError, ValueError):
            return True  # closed: the next send says how

    def _deadline(self, started: float) -> float:
        return send_deadline(started, self.total_s, self.sent, self.min_rate)

    def _reset(self, elapsed: float, why: str = "") -> None:
        """Reset the connection, dropping what is unsent; logged once (the lock held)."""
        self._drop()
        unlogged = self.cuts.add(time.monotonic())
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        except OSError:  # already gone: nothing left to drop
            pass
        if unlogged is None:
            return
        log.warning("http: reset the connection of %s after %.1f s: it did not take the response "
                    "to %s (%d bytes sent)%s; a client gets api.send_timeout_s (%g s) for a response, "
                    "longer while it takes api.send_min_rate (%g bytes/s), and %g s for each wait; "
                    "raise api.send_timeout_s or lower api.send_min_rate if clients this slow are "
                    "expected%s", self.peer, elapsed, self.request or "its request", self.sent, why,
                    self.total_s, self.min_rate, self.idle_timeout,
                    f" ({unlogged} more cut before this, not logged)" if unlogged else "")


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
