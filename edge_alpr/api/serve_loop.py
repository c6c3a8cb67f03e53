"""The API server's thread as a supervised worker (``supervision.py``).

Why: cheroot's serve loop survives an exception in one of its turns by writing it to stderr,
where nobody counts it; a worker pool stuck in requests answers nothing while the process
looks healthy.  Here the errors cheroot reports go to the log once (with the traceback) and
are counted as the worker's crashes (``/info/``, MQTT health), and a request starting or
finishing is the server's progress: while requests wait for a worker and none started or
finished within the deadline, the server counts as stalled and the systemd watchdog is no
longer pinged.  A start counts too because an idle server is beaten only when something asks
(the watchdog, MQTT's health): without either, the first burst after a minute of quiet (a
console's page, its scripts and crops) had requests waiting and no finish for a minute, and the
page's own summary called the server stalled.
"""

from __future__ import annotations

import logging
import math
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from cheroot import wsgi

from ..credentials import hide_credentials
from ..supervision import Worker
from .accepting import PacedConnections
from .sender import SEND_BUFFER_BYTES, SendQueue

log = logging.getLogger(__name__)

REQUEST_DEADLINE_S = 60.0  # requests queued and none started or finished for this long: the server is stalled


class ServeWorker(Worker):
    """Runs the cheroot server's ``serve`` (again after an unexpected exception, with backoff)."""

    def __init__(self, server: SupervisedServer, stop: threading.Event) -> None:
        super().__init__("http", stop, deadline_s=REQUEST_DEADLINE_S)
        self.server = server
        server.worker = self

    def work(self) -> None:
        self.server.serve()

    def overdue(self, now: float | None = None) -> float:
        """Late only while requests wait for a worker (an idle server has nothing to finish)."""
        if not self.server.requests.qsize:
            self.beat()
            return 0.0
        return super().overdue(now)

    def count(self, message: str, error: BaseException | None) -> None:
        """One error cheroot caught and went on from: counted and logged once."""
        self.crashes += 1
        self.last_error = hide_credentials(message if error is None else f"{message}: {type(error).__name__}: {error}")
        log.error("http: %s (%d so far)", self.last_error, self.crashes, exc_info=error)


class SupervisedServer(wsgi.Server):
    """cheroot's WSGI server whose error reports reach its ``ServeWorker`` (not stderr)."""

    worker: ServeWorker | None = None
    _connections: Any  # cheroot's, made by ``prepare``
    stop_by = math.inf  # while stopping: when a request still arriving is refused (monotonic s)
    listener: socket.socket | None = None  # bound before the models loaded (listener.py): adopted by bind
    sender: SendQueue | None = None  # sends what a client's socket did not take at once (``prepare``)

    def __init__(self, bind_addr: Any, app: Callable[..., Iterable[bytes]], **kwargs: Any) -> None:
        super().__init__(bind_addr, self._progress(app), **kwargs)

    def _progress(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """``app``, with each request started and finished counted as progress."""

        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if self.worker is not None:
                self.worker.beat()  # a thread took a request: workers stuck in theirs take none
            try:
                return app(environ, start_response)
            finally:
                if self.worker is not None:
                    self.worker.beat()

        return wrapped

    def bind(self, family: int, type: int, proto: int = 0) -> socket.socket:  # cheroot's parameter names
        """cheroot's ``prepare`` binds the first of the host's addresses it can: the listener
        bound earlier for the same host and port, where there is one (once)."""
        if self.listener is None:
            return super().bind(family, type, proto)
        sock, self.listener = self.listener, None
        self.socket = sock
        self.bind_addr = self.resolve_real_bind_addr(sock)
        return sock

    def release_listener(self) -> None:
        """Close the early listener if ``prepare`` did not adopt it (systemd's socket, fd 3, where
        ``$LISTEN_PID`` is set; a failed start): it must not hold the port unanswered."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def prepare(self) -> None:
        """Bind, listen and start the workers, with accepts that pause while the process is out
        of file descriptors (``accepting.py``) instead of spinning on the error."""
        super().prepare()
        limits = getattr(self.ConnectionClass, "limits", None)
        self.sender = SendQueue(getattr(limits, "send_buffer_bytes", SEND_BUFFER_BYTES))
        plain = self._connections
        self._connections = PacedConnections(self)
        plain._selector.close()  # its own epoll descriptor; the listening socket is the server's

    def process_conn(self, conn: Any) -> None:
        """Queue a connection the selector found readable (or a new one) for a worker; one whose
        client has closed is closed here instead.  Why: behind requests in the queue it would
        still count against its client's ``max_connections_per_client`` while the client opens
        the next: 40 clients posting one image per connection (``requests.post`` without a
        session) from one address had a third of their connections closed unanswered."""
        gone = getattr(conn, "peer_gone", None)
        if gone is not None and gone():
            conn.close()
            return
        super().process_conn(conn)

    def put_conn(self, conn: Any) -> None:
        """Back to the selector for its next request, once its response is sent (``sender.py``):
        until then the connection is the sender's."""
        output = getattr(conn, "output", None)
        if output is None:
            super().put_conn(conn)
        elif not output.defer(lambda: self._put_now(conn)):
            self._put_now(conn)  # sent, or reset since the worker looked: not kept alive then

    def _put_now(self, conn: Any) -> None:
        if conn.output.cut:  # reset (the client did not take it in time), or the client went away:
            conn.close()  # its client waits on a truncated body, not for the idle timeout
            return
        conn.socket.settimeout(self.timeout)  # the sender's socket was non-blocking
        super().put_conn(conn)

    def stop(self) -> None:
        """cheroot's stop (the workers finish within the shutdown timeout), then the responses
        still queued are dropped and their connections closed."""
        super().stop()
        if self.sender is not None:
            self.sender.close()

    def connection_closed(self, conn: Any) -> None:
        """A connection closed (any thread): its client may open another, and accepting resumes
        if it waited for a descriptor."""
        manager = getattr(self, "_connections", None)
        if isinstance(manager, PacedConnections):
            manager.closed(conn)

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        error = sys.exc_info()[1] if traceback else None
        if level >= logging.ERROR and self.worker is not None:
            self.worker.count(msg, error)
        else:
            log.log(level, "http: %s", msg, exc_info=error)
