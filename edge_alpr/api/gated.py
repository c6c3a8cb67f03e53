"""The server's connection: slow clients never hold a worker thread.

``GatedConnection`` gathers a request's headers and body from whatever the socket holds and
hands a connection whose request is not complete back to cheroot's selector until more bytes
arrive; only a complete request reaches the app (``client_io.ClientLimits`` has the bounds).
Its answer is sent by the server's sending thread once the socket does not take it at once
(``sender.py``), within ``send_timeout_s`` (``response_io``); meanwhile the worker goes on.
Between requests of a kept-alive connection the worker lingers for the next (``lingering``).
"""

from __future__ import annotations

import select
import socket
import time
from typing import Any

from cheroot.makefile import MakeFile

from .client_io import MAX_HEADER_BYTES, RECV_BYTES, BodyBudget, ClientLimits, GatedInput, GatedReader
from .framing import Gathered
from .http_errors import JsonErrorRequest, error_reply
from .lingering import LingeringConnection
from .response_io import ResponseCuts, ResponseOutput, ResponseWriter, request_label

# what gathering decided: the request is whole (run it), wait for more bytes (back to the selector), close
_READY, _PARK, _CLOSE = 0, 1, 2


class GatedConnection(LingeringConnection):
    """A connection that gathers each request whole before a worker runs it, and lingers.

    Gathering: a worker reads whatever the socket holds without blocking; while a request's
    headers (and a body up to ``limits.max_body_bytes``) are incomplete it waits a slice for
    more when no other connection is queued, else hands the connection back to cheroot's
    selector, which queues it again when bytes arrive.  A slowloris client so costs a few
    microseconds per byte instead of a worker thread.  The deadlines of ``ClientLimits`` hold
    there too: the selector expires a connection at its deadline (``last_used`` says so), and
    ``close`` then answers a JSON 408.

    Lingering (``LingeringConnection``): after each answer the worker waits on the socket for
    the next request while it has nothing else to do.
    """

    RequestHandlerClass = JsonErrorRequest
    gather_slice_s = 0.01
    limits = ClientLimits()
    budget = BodyBudget(ClientLimits.buffer_bytes)
    cuts = ResponseCuts()
    client_slot: str | None = None  # the address this connection counts for (``client_cap``)

    def __init__(self, server: Any, sock: Any, makefile: Any = MakeFile) -> None:
        super().__init__(server, sock, makefile)
        self._input = GatedInput(sock, float(server.timeout))
        self.rfile = GatedReader(self._input, self.rbufsize)
        self._output = ResponseOutput(sock, float(server.timeout), self.limits.send_timeout_s,
                                      self.limits.send_min_rate, self.cuts, getattr(server, "sender", None))
        self.wfile = ResponseWriter(self._output, self.wbufsize)  # each response within its deadline
        self._last_used = 0.0
        self._handed_over = False
        self._exit_by = 0.0
        self._reserved = 0  # bytes of the buffer budget this request holds
        self._reset()

    @property
    def gathered(self) -> GatedInput:
        """The raw stream under ``rfile``: the gathered bytes, then the socket."""
        return self._input

    def _reset(self) -> None:
        self._req = Gathered()  # the next request's bytes, as they arrive
        self._answered = False
        self._release()

    def _release(self) -> None:
        if self._reserved:
            self.budget.give(self._reserved)
        self._reserved = 0

    # cheroot's selector closes a parked connection whose ``last_used`` is older than
    # ``server.timeout``; while a request is being gathered, that is its deadline.
    @property
    def last_used(self) -> float:
        if not self._req.pending:
            return self._last_used
        due = time.time() + (self._req.deadline(self.limits) - time.monotonic())
        return min(self._last_used, due - float(self.server.timeout))

    @last_used.setter
    def last_used(self, value: float) -> None:
        self._last_used = value

    def communicate(self) -> bool:
        while True:
            step = self._gather()
            if step != _READY:
                return step == _PARK
            try:
                if not super().communicate():
                    return False
            finally:
                self._input.policy = None
                if not self._input.broken and not self._output.queued:  # else the sender's socket
                    self.socket.settimeout(self.server.timeout)
            if self._input.broken or self._output.cut:
                return False
            if self._output.queued:  # the next request waits for this response to be sent
                return True
            if not self._next_request_arrives():
                return True

    def peer_gone(self) -> bool:
        """Whether the client has closed a connection holding nothing of a request: its socket
        reads end of file (or an error), and nothing is gathered or buffered.  Never waits: the
        selector's thread asks (a socket's own timeout would make ``recv`` wait for data first)."""
        if self._req.pending or self.rfile.has_data():
            return False
        poller = select.poll()
        try:
            poller.register(self.socket, select.POLLIN)
            if not poller.poll(0):
                return False  # nothing yet: a new connection before its request
            return self.socket.recv(1, socket.MSG_PEEK) == b""  # readable: returns at once
        except (BlockingIOError, InterruptedError, TimeoutError, ValueError):
            return False
        except OSError:  # reset by the client
            return True

    @property
    def output(self) -> ResponseOutput:
        """The raw stream under ``wfile``: what of the responses is still queued."""
        return self._output

    def close(self) -> None:
        if self._output.defer(self.close):  # again once the response is sent (sender.py)
            return
        if self._req.pending and not self._answered:
            if not self.server.ready and not self._handed_over:
                # Shutdown closes parked connections before it stops the workers: a request
                # already arriving is finished by a worker instead (``_gather`` waits for it).
                self._handed_over = True
                self.server.requests.put(self)
                return
            self._refuse(408, "The request did not arrive in time: the headers must "  # expired
                         f"arrive within {self.limits.header_timeout_s:g} s and the body "
                         f"within {self.limits.body_timeout_s:g} s, at "
                         f"{self.limits.min_rate:g} bytes/s or more.")
        self._release()
        super().close()
        closed = getattr(self.server, "connection_closed", None)
        if closed is not None:  # a descriptor is free, and its client's slot
            closed(self)

    # ---------------------------------------------------------------------- gathering

    def _gather(self) -> int:
        if self._input.broken:
            return _CLOSE
        leftover = self.rfile.take_buffered()
        if leftover:
            self._req.add(leftover)
        eof = False
        while True:
            if not eof:
                eof = self._read_available()
            verdict = self._examine()
            if verdict == _READY:
                self._dispatch()
                return _READY
            if verdict != _PARK:
                return _CLOSE
            if eof:
                if not self._req.pending:
                    return _CLOSE
                if self._req.head_end < 0:
                    self._refuse(400, "The request ended before its headers were complete.")
                    return _CLOSE
                self._dispatch()  # a short body: the app reads to its end and says so
                return _READY
            if not self.server.ready:
                if not self._req.pending:
                    return _CLOSE
                if not self._finish_before_exit():
                    self._refuse(503, "The server is shutting down; retry shortly.")
                    return _CLOSE
                continue
            if self._req.pending and time.monotonic() >= self._req.deadline(self.limits):
                self._refuse(408, "The request did not arrive in time "
                             f"({'body' if self._req.head_end >= 0 else 'headers'} too slow).")
                return _CLOSE
            if not self._more_soon():
                return _PARK

    def _read_available(self) -> bool:
        """Append what the socket holds to the request; True at end of file."""
        sock = self.socket
        sock.settimeout(0.0)
        try:
            while len(self._req.pending) < self._req.wanted(self.limits):
                try:
                    data = sock.recv(RECV_BYTES)
                except (BlockingIOError, InterruptedError):
                    return False
                except OSError:
                    return True
                if not data:
                    return True
                self._req.add(data)
            return False
        finally:
            sock.settimeout(self.server.timeout)

    def _finish_before_exit(self) -> bool:
        """While shutting down: wait for more of a request already arriving, within the
        shutdown timeout; False when there is no time left."""
        now = time.monotonic()
        if self._exit_by == 0.0:
            self._exit_by = min(now + 0.9 * float(self.server.shutdown_timeout), self.server.stop_by)
        left = min(self._exit_by, self._req.deadline(self.limits)) - now
        if left <= 0:
            return False
        return self._readable(left) is not None

    def _more_soon(self) -> bool:
        """Wait one slice for more bytes, unless another connection needs a worker."""
        if self.server.requests.qsize:
            return False
        return bool(self._readable(self.gather_slice_s))

    def _examine(self) -> int:
        """_READY to run the request, _PARK to wait for more, _CLOSE once refused."""
        headers = self._req.headers_whole()
        if headers is None:
            self._refuse(431, f"The request headers are over {MAX_HEADER_BYTES} bytes.")
            return _CLOSE
        if not headers:
            return _PARK
        complete = self._req.complete(self.limits)  # finds a chunked body of too many chunks too
        if self._req.malformed:  # framing that cheroot and a proxy in front could read apart
            self._refuse(400, self._req.malformed)
            return _CLOSE
        if complete:
            if self._req.length > self.limits.max_body_bytes and not self._req.continued:
                # refused unread (413): no "100 Continue" (cheroot's) inviting a body nobody reads
                self._req.continued = True
                self._req.drop_expect()
            return _READY  # the app reads it and answers (400, 413)
        body = self._req.body
        if body > self._reserved:
            if not self.budget.take(body - self._reserved):
                return _READY  # over the buffer budget: a worker reads the rest, same deadlines
            self._reserved = body
        self._send_continue()
        return _PARK

    def _send_continue(self) -> None:
        """Answer ``Expect: 100-continue`` while the body is gathered (once per request)."""
        if self._req.continued:
            return
        self._req.continued = True
        if not self._req.expects_continue():
            return
        try:
            self.socket.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        except OSError:
            return
        self._req.drop_expect()

    def _dispatch(self) -> None:
        """Hand the gathered bytes to cheroot's reader, with the body's deadline on the rest."""
        req = self._req
        head_end = req.head_end if req.head_end >= 0 else len(req.pending)
        self._input.prefix = bytes(req.pending)
        self._input.offset = 0
        self._input.received = len(req.pending) - head_end
        self._input.policy = (req.body_started or time.monotonic(), self.limits.body_timeout_s,
                              self.limits.min_rate)
        self._output.begin(f"{self.remote_addr}:{self.remote_port}", request_label(req.pending))
        self._reset()

    def _refuse(self, status: int, message: str) -> None:
        """Best effort: a JSON error to a client about to be dropped, without blocking."""
        self._answered = True
        try:
            self.socket.settimeout(0.0)
            self.socket.send(error_reply(status, message))
        except OSError:
            pass


def connection_class(linger_s: float, limits: ClientLimits | None = None
                     ) -> type[GatedConnection]:
    """A ``GatedConnection`` class for one server: its linger, limits, buffer budget and count of
    responses cut off."""
    limits = limits or ClientLimits()
    return type("GatedConnection", (GatedConnection,),
                {"linger_s": linger_s, "limits": limits, "budget": BodyBudget(limits.buffer_bytes),
                 "cuts": ResponseCuts()})
