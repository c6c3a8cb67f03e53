"""One thread that sends the rest of the responses a client's socket did not take at once.

Why: a worker writing a response waits whenever the client's receive window is full, and a
client that asks for a large answer (every watch list at once, a long events CSV, a scene image
over a slow link) and never reads held its worker for the socket's whole timeout (10 s): six
such clients delayed every other client of a 4-worker server by 10 s.  Now the worker sends
what the socket takes without waiting and queues the rest (``response_io.ResponseOutput``); this
thread sends it as the client reads, while the worker goes on to the next request.  A connection
whose response is queued is neither read from nor closed until its queue is sent: its next
request waits, and the worker's ``close`` runs here once the last byte is out.

The bounds stay the response's own (``response_io.send_deadline``: ``api.send_timeout_s``, longer
at ``api.send_min_rate``; and the socket's timeout, 10 s, without a byte taken): past them the
connection is reset, logged once and counted, as before.  The queued bytes of all connections
together are bounded (``SendQueue.budget``, ``ClientLimits.send_buffer_bytes``): past it a
worker waits for its client as it did before, so memory stays bounded with any number of
clients that do not read (a queued response is a reference to the app's bytes, not a copy).
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .client_io import BodyBudget

After = Callable[[], None]

log = logging.getLogger(__name__)

SEND_BUFFER_BYTES = 40 * 1024 * 1024  # queued bytes of all responses, by default
MAX_WAIT_S = 0.5  # the thread looks at its deadlines at least this often, and at its stop event


class Queued(Protocol):
    """What the sender needs of a connection's output (``response_queue.QueuedOutput``)."""

    sock: socket.socket

    @property
    def queued(self) -> bool: ...

    @property
    def queued_bytes(self) -> int: ...

    def push(self, now: float) -> tuple[bool, After | None]: ...

    def due(self) -> float: ...

    def stalled_since(self) -> float: ...

    def expire(self, now: float, stall_s: float | None = None) -> tuple[bool, After | None]: ...

    def abandon(self) -> After | None: ...


class SendQueue:
    """The sending thread of one server, and the byte budget of everything it holds."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = BodyBudget(budget_bytes)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._new: list[Queued] = []
        self._evicted: list[tuple[Queued, After | None]] = []  # reset by ``evict``: to release
        self._held: dict[int, Queued] = {}  # by descriptor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="http-sender", daemon=True)
        self._thread.start()

    def hold(self, output: Queued) -> bool:
        """Send ``output``'s queue from now on (any thread; the output's lock held); False when
        stopping: nobody will send it."""
        with self._lock:
            if self._stop.is_set():
                return False
            self._new.append(output)
        self._wake()
        return True

    def evict(self, need: int, asking: Queued, stall_s: float) -> bool:
        """Make room for ``need`` bytes (a worker's thread, no output's lock held): reset the
        connections that took nothing for ``stall_s``, longest stalled first, until there is
        room; whether there is (or may be) room now.  Their closes run on the sending thread.

        Nobody is reset when resetting every stalled connection would still leave too little
        room (a response larger than the whole queue): the asking worker then sends it itself,
        and the slow clients keep their answers instead of being cut for nothing."""
        with self._lock:
            held = [o for o in (*self._held.values(), *self._new) if o is not asking]
        now = time.monotonic()
        stalled = sorted((o for o in held if now - o.stalled_since() >= stall_s),
                         key=lambda o: o.stalled_since())
        room = self.budget.limit - self.budget.used
        if room >= need:
            return True  # freed meanwhile: the worker tries again
        chosen: list[Queued] = []
        for output in stalled:
            if room >= need:
                break
            room += output.queued_bytes
            chosen.append(output)
        if room < need:
            return False
        evicted = False
        for output in chosen:
            done, after = output.expire(now, stall_s)
            if done:
                evicted = True
                with self._lock:
                    self._evicted.append((output, after))
        if evicted:
            self._wake()
        return evicted

    def forget(self, output: Queued) -> None:
        """``output``'s connection was reset by its own worker (``_wait_for_client``; any
        thread): stop watching it now, before its descriptor's number is reused."""
        with self._lock:
            self._evicted.append((output, None))
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:  # full of wake-ups already, or closed while stopping: it looks anyway
            pass

    def close(self, timeout: float = 1.0) -> None:
        """Stop sending: what is still queued is dropped and its connections closed."""
        self._stop.set()
        self._wake()
        self._thread.join(timeout)
        with self._lock:
            left = [*self._held.values(), *self._new]
            evicted = [after for _, after in self._evicted]
            self._held.clear()
            self._new.clear()
            self._evicted.clear()
        for output in left:
            self._finish(output.abandon())
        for after in evicted:
            self._finish(after)
        if not self._thread.is_alive():
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    # ------------------------------------------------------------------ the sending thread

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._turn()
            except Exception:  # a bug here must not end the sending: said once per turn, then on
                log.exception("http: the response sender failed; it goes on")
                time.sleep(0.1)

    def _turn(self) -> None:
        with self._lock:
            held = list(self._held.values())
        now = time.monotonic()
        wait = min([MAX_WAIT_S, *(output.due() - now for output in held if output.queued)])
        for key, _ in self._selector.select(max(0.0, wait)):
            if key.fileobj is self._wake_r:
                self._drain_wakeups()
                continue
            output: Queued = key.data
            done, after = output.push(time.monotonic())
            if done:
                self._release(output)
                self._finish(after)
        with self._lock:
            evicted, self._evicted = self._evicted, []
            held = list(self._held.values())
        now = time.monotonic()
        for output in held:
            if not output.queued:  # reset by its worker (``_wait_for_client``): nothing to send
                evicted.append((output, None))
            elif now >= output.due():
                done, after = output.expire(now)
                if done:
                    evicted.append((output, after))
        for output, after in evicted:  # released before ``_adopt``: a new connection may have
            self._release(output)  # the descriptor number of one closed since
            self._finish(after)
        self._adopt()

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _adopt(self) -> None:
        """Watch the outputs handed over since the last turn (this thread only registers)."""
        with self._lock:
            new, self._new = self._new, []
        for output in new:
            try:
                fd = output.sock.fileno()
                with self._lock:
                    stale = self._held.get(fd)
                if stale is not None and stale is not output:  # closed since: its number is reused
                    self._release(stale)
                    self._finish(stale.abandon())
                self._selector.register(fd, selectors.EVENT_WRITE, output)
            except (OSError, ValueError, KeyError):  # closed under us: nothing left to send
                self._finish(output.abandon())
                continue
            with self._lock:
                self._held[fd] = output

    def _release(self, output: Queued) -> None:
        """Stop watching ``output``: before its connection closes, so that its descriptor's
        number, reused by the next connection, is not still registered."""
        with self._lock:
            fds = [fd for fd, held in self._held.items() if held is output]
            for fd in fds:
                del self._held[fd]
        for fd in fds:
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass

    @staticmethod
    def _finish(after: After | None) -> None:
        """What the worker left to do once the response was sent (close, or wait for the next
        request); a failure there is the connection's, not the sender's: logged once, and the
        other connections of the batch are finished all the same (their sockets and slots)."""
        if after is None:
            return
        try:
            after()
        except OSError as e:
            log.debug("http: finishing a sent connection: %s", e)
        except Exception:  # e.g. ValueError from cheroot's selector, closed while stopping
            log.exception("http: finishing a sent connection failed; the others go on")
