"""The queued part of a connection's responses: what its socket did not take at once.

``response_io.ResponseOutput`` queues it from the worker's thread; ``sender.SendQueue`` sends it
from its own (``push``), resets a connection past its deadline (``expire``) or, with the queue's
budget spent, one that took nothing for ``STALL_S`` (``evict``), and then runs what the worker
left to do with the connection (``defer``: its close, or its wait for the next request).  One
lock per connection orders the two threads: every send on the socket happens under it.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Callable

from .sender import SendQueue

STALL_S = 1.0  # a connection that took nothing for this long makes room when the queue is full

After = Callable[[], None]


class QueuedOutput:
    """A connection's queue of unsent response bytes and the sender's side of it (a mixin of
    ``ResponseOutput``, which gives ``sock``, the deadline's terms and ``_reset``)."""

    sock: socket.socket
    queue: SendQueue | None
    started: float | None
    sent: int
    cut: bool
    idle_timeout: float

    def _init_queue(self, queue: SendQueue | None) -> None:
        self.queue = queue
        self.lock = threading.Lock()
        self._drained = threading.Condition(self.lock)
        self._parts: deque[memoryview] = deque()  # queued, not yet taken by the socket
        self._queued = 0  # their bytes, held in the queue's budget
        self._held = False  # the sender watches this output
        self._progress_at = 0.0  # monotonic s: the socket last took a byte the sender sent
        self._after: After | None = None  # the worker's close or hand-back, deferred
        self._failure: OSError | None = None  # raised once by the worker's next write

    def _deadline(self, started: float) -> float:
        raise NotImplementedError

    def _reset(self, elapsed: float, why: str = "") -> None:
        raise NotImplementedError

    @property
    def queued(self) -> bool:
        """Whether bytes of a response still wait to be sent (the connection is the sender's)."""
        return bool(self._parts)

    @property
    def queued_bytes(self) -> int:
        """How many bytes resetting this connection would give back to the queue's budget."""
        return self._queued

    def _enqueue(self, view: memoryview, now: float) -> None:
        """Queue ``view`` (its bytes already in the budget; the lock held), without a copy when
        they are immutable."""
        immutable = view.readonly and isinstance(view.obj, bytes)
        self._parts.append(view if immutable else memoryview(bytes(view)))
        self._queued += view.nbytes
        if not self._held and self.queue is not None:
            self._held, self._progress_at = True, now
            if not self.queue.hold(self):  # the server is stopping: nobody will send it
                self._failure = ConnectionAbortedError("the server is stopping")
                self._drop()
                self._held = False

    def push(self, now: float) -> tuple[bool, After | None]:
        """Send what the socket takes of the queue (the sender's thread): whether it is empty
        now, and then what the worker left to do once it was (``defer``)."""
        with self.lock:
            try:
                while self._parts:
                    part = self._parts[0]
                    sent = self.sock.send(part)
                    if sent:
                        self._progress_at = now
                        self._take(sent)
                    if sent < part.nbytes:
                        return False, None
            except (BlockingIOError, InterruptedError):
                return False, None
            except OSError as e:  # the client closed or reset: nobody to send to
                self._failure = e
                self._drop()
            return True, self._hand_back()

    def _take(self, sent: int) -> None:
        part = self._parts[0]
        self.sent += sent
        self._queued -= sent
        if self.queue is not None:
            self.queue.budget.give(sent)
        if sent == part.nbytes:
            self._parts.popleft()
        else:
            self._parts[0] = part[sent:]

    def due(self) -> float:
        """When the sender resets this connection unless the client takes more."""
        started = self.started if self.started is not None else self._progress_at
        return min(self._deadline(started), self._progress_at + self.idle_timeout)

    def stalled_since(self) -> float:
        """When the socket last took a queued byte (monotonic s)."""
        return self._progress_at

    def expire(self, now: float, stall_s: float | None = None) -> tuple[bool, After | None]:
        """Reset the connection if its deadline passed, or (``stall_s``) it took nothing for that
        long: whether it was, and then what the worker left to do (``defer``)."""
        with self.lock:
            stalled = stall_s is not None and self._parts and now - self._progress_at >= stall_s
            if not (stalled or (self._parts and now >= self.due())):
                return False, None
            started = self.started if self.started is not None else self._progress_at
            why = (f"; it took nothing for {stall_s:g} s while the queue of unsent responses was "
                   "full" if stalled else "")
            self._reset(now - started, why)
            self._failure = TimeoutError("timed out")
            return True, self._hand_back()

    def abandon(self) -> After | None:
        """Drop the queue unsent (the server stops, or the socket closed under us)."""
        with self.lock:
            if self._parts:
                self._failure = self._failure or ConnectionAbortedError("the server is stopping")
            self._drop()
            return self._hand_back()

    def defer(self, action: After) -> bool:
        """Whether ``action`` (the worker's close, or its hand-back to the selector) waits for the
        queue: the sender runs it once the last byte is out or the connection was reset."""
        with self.lock:
            if not self._parts:
                return False
            self._after = action
            return True

    def _hand_back(self) -> After | None:
        self._held = False
        self._drained.notify_all()
        after, self._after = self._after, None
        return after

    def _drop(self) -> None:
        self.cut = True
        if self.queue is not None and self._queued:
            self.queue.budget.give(self._queued)
        self._parts.clear()
        self._queued = 0
