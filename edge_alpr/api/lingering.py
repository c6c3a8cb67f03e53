"""A worker that waits on a kept-alive connection for its next request, while it is idle.

Why: cheroot hands a kept-alive connection back to its selector thread after every request, and
the selector hands the next request to a worker through a queue: two thread wake-ups per
request, a measurable share of a 10 ms fast-mode read on a small board.  A camera or client
posting frames in a loop sends its next request soon, so a worker with nothing else to do waits
for it on the socket itself, up to ``linger_s``, in slices of ``slice_s``; it lets go as soon as
the pool's queue holds another connection, so lingering never starves other clients by more than
one slice.  After ``linger_s`` the connection goes back to the selector as before.
``gated.GatedConnection`` is the server's connection; this is the part of it that lingers.
"""

from __future__ import annotations

import select
import time

from cheroot import server as cheroot_server


class LingeringConnection(cheroot_server.HTTPConnection):
    """A connection whose worker lingers for the next request; see the module docstring."""

    linger_s = 0.0  # set on the per-server subclass made by ``gated.connection_class``
    slice_s = 0.002

    def _next_request_arrives(self) -> bool:
        """Wait for readable data while no other connection needs this worker."""
        if self.server.requests.qsize:  # others first: a pipelining client queues like any other
            return False
        if self.rfile.has_data():
            return True
        deadline_at = time.monotonic() + self.linger_s
        while self.server.ready and self.server.requests.qsize == 0:
            left = deadline_at - time.monotonic()
            if left <= 0:
                return False
            readable = self._readable(min(left, self.slice_s))
            if readable is None:  # closed under us: the selector sorts it out
                return False
            if readable:
                return True
        return False

    def _readable(self, timeout_s: float) -> bool | None:
        """Whether bytes (or the client's close) arrive within ``timeout_s``; None when the
        socket is closed under us (gathering waits with it too).  ``poll``, not ``select``: ``select`` cannot take a
        descriptor of 1024 (FD_SETSIZE) or more, which a raised ``LimitNOFILE`` hands out, and
        unlike an epoll selector ``poll`` needs no descriptor of its own, of which there may be
        none left."""
        poller = select.poll()
        try:
            poller.register(self.socket, select.POLLIN)
            return bool(poller.poll(timeout_s * 1000))
        except (OSError, ValueError):
            return None
