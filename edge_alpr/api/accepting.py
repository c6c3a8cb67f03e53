"""Accepting connections when the process is out of file descriptors.

Why: cheroot's selector re-raises an ``accept()`` that fails with ``EMFILE`` (the process's
``RLIMIT_NOFILE`` reached: many cameras or clients, or one client opening connections until the
limit) out of its loop; its ``serve`` logs it and starts the loop again at once.  The listening
socket is still readable (connections wait in the kernel's queue), so that is a core spinning
on the same error, hundreds of thousands of log lines a minute, and, since the loop restarts
before it expires idle connections, the connections holding the descriptors are never closed:
no client is served again.

``PacedConnections`` stops watching the listening socket instead and watches it again as soon
as a connection closes (or after ``PAUSE_S`` when descriptors free up elsewhere); the
connections waiting in the kernel's queue are accepted then.  The log gets one warning per
episode naming the limit and the fix, and one line when it is over.
"""

from __future__ import annotations

import errno
import logging
import resource
import selectors
import threading
import time
from typing import Any

from cheroot import connections

from ..statedir import NOFILE_FIX
from .client_cap import ClientCap

log = logging.getLogger(__name__)

# accept() failing for want of a descriptor or of kernel memory: retried once one frees up
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
PAUSE_S = 0.5  # at most this long without accepting when no connection of ours closes
QUIET_S = 60.0  # an episode is over once accept() has not failed for this long


def exhausted_fix(code: int) -> str:
    """What ran out, and what to change, for an ``accept()`` failing with ``code``."""
    if code == errno.EMFILE:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        return f"this process has {soft} file descriptors open, its limit (RLIMIT_NOFILE); {NOFILE_FIX}"
    if code == errno.ENFILE:
        return ("the system's limit of open files (fs.file-max) is reached; raise it (sysctl "
                "fs.file-max) or find the process holding them")
    return "the kernel is out of memory for sockets; free memory or find the client holding many connections"


class PacedConnections(connections.ConnectionManager):
    """cheroot's ``ConnectionManager``, pausing its accepts while descriptors are exhausted,
    and closing at once a connection past its client's cap (``client_cap.py``)."""

    _selector: connections._ThreadsafeSelector  # cheroot's own (its stub leaves it out)

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self._listener: int = server.socket.fileno()
        self._lock = threading.Lock()
        self._paused_at: float | None = None  # monotonic s; None while the listening socket is watched
        self._closed = False
        self._episode_since: float | None = None
        self._last_failure = 0.0
        self._failures = 0
        limits = getattr(server.ConnectionClass, "limits", None)
        self.per_client = ClientCap(getattr(limits, "max_connections_per_client", 0))

    def _from_server_socket(self, server_socket: Any) -> Any:
        try:
            conn = super()._from_server_socket(server_socket)  # type: ignore[misc]
        except OSError as e:
            if e.errno not in EXHAUSTED:
                raise
            self._pause(e)
            return None
        if conn is None:
            return None
        address = getattr(conn, "remote_addr", None)
        if not self.per_client.admit(address):
            conn.close()
            return None
        conn.client_slot = address  # given back by ``closed``
        return conn

    def closed(self, conn: Any) -> None:
        """A connection closed (any thread): its client's count, and accepting if it waited."""
        with self._lock:
            address, conn.client_slot = getattr(conn, "client_slot", None), None
        if address:
            self.per_client.release(address)
        self.resume()

    def _pause(self, error: OSError) -> None:
        """Stop watching the listening socket (the selector's thread only); warn once an episode."""
        now = time.monotonic()
        self._failures += 1
        self._last_failure = now
        if self._episode_since is None:
            self._episode_since = now
            log.warning("http: cannot accept connections (%s): %s; new connections wait in the "
                        "kernel's queue and are accepted as others close", error.strerror or error,
                        exhausted_fix(error.errno or 0))
        with self._lock:
            if self._paused_at is None and not self._closed:
                self._selector.unregister(self._listener)
                self._paused_at = now

    def resume(self) -> None:
        """Watch the listening socket again (any thread): a descriptor may be free now."""
        with self._lock:
            if self._paused_at is None or self._closed or not self.server.ready:
                return
            try:
                self._selector.register(self._listener, selectors.EVENT_READ, data=self.server)
            except OSError:  # stopping meanwhile closed the listening socket: nothing to accept
                return
            self._paused_at = None

    def _expire(self, threshold: float) -> None:
        super()._expire(threshold)  # type: ignore[misc]  # its closes call ``resume``
        now = time.monotonic()
        paused = self._paused_at
        if paused is not None and now - paused >= PAUSE_S:
            self.resume()  # descriptors freed elsewhere (a file, a webhook's socket)
        self.per_client.tick()
        if self._episode_since is not None and now - self._last_failure >= QUIET_S:
            log.info("http: accepting connections again (%d attempts failed over %.0f s)",
                     self._failures, self._last_failure - self._episode_since)
            self._episode_since = None
            self._failures = 0

    def close(self) -> None:
        with self._lock:
            self._closed = True
        super().close()
