"""The production HTTP server (cheroot, threaded) and ``edge-alpr serve``.

cheroot gives a fixed pool of worker threads; the recognizer is thread-safe (each model
serialises the use of its interpreter with its own lock), so requests overlap their parsing,
decoding and I/O, and the models' runs of different requests and cameras interleave.
Shutdown is graceful: SIGTERM/SIGINT set a stop event, the server stops accepting, finishes
requests in flight within ``api.shutdown_timeout_s`` and the process exits well under the
2 s systemd budget.

Slow clients never hold a worker thread: a request's headers and body are gathered by
``GatedConnection`` from whatever the socket holds, and a connection whose request is not
complete goes back to cheroot's selector until more bytes arrive.  Only a complete request
reaches the app (see ``ClientLimits`` for the time and memory bounds).
"""

from __future__ import annotations

import _pyio
import http
import ipaddress
import json
import logging
import re
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.makefile import MakeFile

from ..config import Config, resolve_secret
from ..delivery.outbox import Outbox
from ..delivery.webhooks import Webhooks
from ..errors import ConfigError
from ..history import History, open_history
from ..lifecycle import keep_frame_memory, make_state_dir, stop_on_signals
from ..metrics import Metrics, history_samples, outbox_samples, watchlist_samples
from ..recognizer import Recognizer
from ..supervision import Supervisor
from ..usage import Usage
from ..watchlists import WatchLists
from .app import ApiContext, create_app
from .serve_loop import ServeWorker, SupervisedServer

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None, token_env: str) -> None:
    """Refuse to expose an unauthenticated API beyond this machine."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"refusing to listen on {host} without an API token: anyone on the network could "
            f"use it. Set {token_env}=<secret> (or the systemd credential api_token), or bind "
            "to 127.0.0.1.")


def api_token(env_name: str, credential: str) -> str | None:
    """The API token with surrounding whitespace removed; ``None`` when none is set.

    A token that is empty once stripped (``EDGE_ALPR_API_TOKEN="   "``) would pass the
    exposure check while no client could ever send it, so it is a ``ConfigError``.
    """
    raw = resolve_secret(env_name, credential)
    if raw is None:
        return None
    token = raw.strip()
    if not token:
        raise ConfigError(f"{env_name} (or the credential {credential}) is set but holds only "
                          "whitespace; set it to a secret, or unset it and bind to 127.0.0.1")
    return token


# --------------------------------------------------------------------------- slow clients

RATE_GRACE_S = 2.0  # before the minimum rate applies to a request's headers, then its body
_MAX_HEADER_BYTES = 64 * 1024
_RECV_BYTES = 256 * 1024
_EXPECT = re.compile(rb"(?im)^expect:[^\r\n]*\r\n")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})(?:;[^\r\n]*)?\r\n")


@dataclass(frozen=True)
class ClientLimits:
    """How long, how slowly and how much a client may send before its request is handled.

    ``header_timeout_s``: the request line and headers, in total (default 10 s).
    ``body_timeout_s``: the body, in total (default 60 s: a 10 MB upload needs ~1.4 Mbit/s).
    ``min_rate``: bytes/s; after the first ``RATE_GRACE_S`` of the headers, and again of the
    body, a client whose average falls below it is answered 408 and dropped (0 = off).
    ``max_body_bytes``: bodies up to this size are gathered before the app runs; larger ones
    go to the app at once (it answers 413).  ``buffer_bytes``: the bodies held for clients
    still sending, all together; past it a body is read by a worker, under the same deadlines.
    """

    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    min_rate: float = 4096.0
    max_body_bytes: int = 10 * 1024 * 1024
    buffer_bytes: int = 40 * 1024 * 1024


def deadline(start: float, total_s: float, received: int, min_rate: float) -> float:
    """When a request part begun at ``start`` must be complete, given ``received`` bytes so far."""
    end = start + total_s
    if min_rate > 0:
        end = min(end, start + RATE_GRACE_S + received / min_rate)
    return end


class _Budget:
    """Bytes set aside for bodies still arriving, over all connections of one server."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


class _Input(socket.SocketIO):
    """The raw stream under a connection's ``rfile``: gathered bytes first, then the socket.

    Socket reads made by a worker (a body over the buffer budget) keep the deadlines: each
    read waits at most until the part's deadline, and a read past it raises ``TimeoutError``
    once, then reads as end of file so that cheroot's clean-up cannot block either.
    """

    def __init__(self, sock: socket.socket, idle_timeout: float) -> None:
        super().__init__(sock, "rb")
        self.sock = sock
        self.idle_timeout = idle_timeout
        self.prefix = b""
        self.offset = 0
        self.broken = False
        self.policy: tuple[float, float, float] | None = None  # start, total_s, min_rate
        self.received = 0  # bytes of the current part, counted against the minimum rate

    def buffered(self) -> bool:
        return self.offset < len(self.prefix)

    def take_prefix(self) -> bytes:
        data = self.prefix[self.offset:]
        self.prefix, self.offset = b"", 0
        return data

    def readinto(self, b: Any) -> int | None:
        if self.offset < len(self.prefix):
            n = min(len(b), len(self.prefix) - self.offset)
            b[:n] = memoryview(self.prefix)[self.offset:self.offset + n]
            self.offset += n
            if self.offset == len(self.prefix):
                self.prefix, self.offset = b"", 0
            return n
        if self.broken:
            return 0
        if self.policy is not None:
            start, total_s, min_rate = self.policy
            left = deadline(start, total_s, self.received, min_rate) - time.monotonic()
            if left <= 0:
                self.broken = True
                raise TimeoutError("timed out")
            self.sock.settimeout(min(left, self.idle_timeout))
        try:
            got = super().readinto(b)
        except TimeoutError:
            self.broken = True
            raise
        self.received += got or 0
        return got


class _Reader(_pyio.BufferedReader):  # the pure-Python reader cheroot itself uses
    """cheroot's ``StreamReader`` over an ``_Input``; ``has_data`` also sees gathered bytes."""

    def __init__(self, raw: _Input, bufsize: int) -> None:
        super().__init__(raw, bufsize)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data: bytes = super().read(size)
        self.bytes_read += len(data)
        return data

    def has_data(self) -> bool:
        return len(self._read_buf) > self._read_pos or self.raw.buffered()

    def take_buffered(self) -> bytes:
        """Every byte read from the socket and not yet consumed, in order."""
        with self._read_lock:
            data = bytes(self._read_buf[self._read_pos:])
            self._reset_read_buf()
        return data + self.raw.take_prefix()


def _scan_chunks(data: bytearray | bytes, pos: int) -> tuple[int, bool, bool]:
    """Walk a chunked body from ``pos``: (where to resume, complete, malformed)."""
    while True:
        match = _CHUNK_SIZE.match(data, pos)
        if match is None:
            line_end = data.find(b"\r\n", pos)
            return pos, False, line_end >= 0 or len(data) - pos > 1024
        size = int(match.group(1), 16)
        if size == 0:
            trailer_end = data.find(b"\r\n\r\n", match.end() - 2)
            return pos, trailer_end >= 0, False
        end = match.end() + size
        if len(data) < end + 2:
            return pos, False, False
        if data[end:end + 2] != b"\r\n":
            return pos, False, True
        pos = end + 2


_READY, _PARK, _CLOSE = 0, 1, 2


class GatedConnection(cheroot_server.HTTPConnection):
    """A connection that gathers each request whole before a worker runs it, and lingers.

    Gathering: a worker reads whatever the socket holds without blocking; while a request's
    headers (and a body up to ``limits.max_body_bytes``) are incomplete it waits a slice for
    more when no other connection is queued, else hands the connection back to cheroot's
    selector, which queues it again when bytes arrive.  A slowloris client so costs a few
    microseconds per byte instead of a worker thread.  The deadlines of ``ClientLimits`` hold
    there too: the selector expires a connection at its deadline (``last_used`` says so), and
    ``close`` then answers a JSON 408.

    Lingering: cheroot hands a kept-alive connection back to its selector thread after every
    request, and the selector hands the next request to a worker through a queue: two thread
    wake-ups per request, a measurable share of a 10 ms fast-mode read on a small board.  A
    camera or client posting frames in a loop sends its next request soon, so a worker with
    nothing else to do waits for it on the socket itself, up to ``linger_s``, in slices of
    ``slice_s``; it lets go as soon as the pool's queue holds another connection, so lingering
    never starves other clients by more than one slice.  After ``linger_s`` the connection
    goes back to the selector as before.
    """

    linger_s = 0.0  # set on the per-server subclass made by ``connection_class``
    slice_s = 0.002
    gather_slice_s = 0.01
    limits = ClientLimits()
    budget = _Budget(ClientLimits.buffer_bytes)

    def __init__(self, server: Any, sock: Any, makefile: Any = MakeFile) -> None:
        super().__init__(server, sock, makefile)
        self._input = _Input(sock, float(server.timeout))
        self.rfile = _Reader(self._input, self.rbufsize)
        self._last_used = 0.0
        self._handed_over = False
        self._exit_by = 0.0
        self._reserved = 0  # bytes of the buffer budget this request holds
        self._reset()

    def _reset(self) -> None:
        self._pending = bytearray()
        self._started = 0.0  # when the request's first byte arrived
        self._head_end = -1  # just past the blank line ending the headers; -1: not yet
        self._length = -1  # the declared body length; -1: none or chunked
        self._chunked = False
        self._scan = 0  # where the chunk walk resumes
        self._body_started = 0.0
        self._continue = False  # sent "100 Continue" for this request
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
        if not self._pending:
            return self._last_used
        due = time.time() + (self._deadline() - time.monotonic())
        return min(self._last_used, due - float(self.server.timeout))

    @last_used.setter
    def last_used(self, value: float) -> None:
        self._last_used = value

    def _deadline(self) -> float:
        limits = self.limits
        if self._head_end < 0:
            return deadline(self._started, limits.header_timeout_s, len(self._pending),
                            limits.min_rate)
        return deadline(self._body_started, limits.body_timeout_s,
                        len(self._pending) - self._head_end, limits.min_rate)

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
                if not self._input.broken:
                    self.socket.settimeout(self.server.timeout)
            if self._input.broken:
                return False
            if not self._next_request_arrives():
                return True

    def close(self) -> None:
        if self._pending and not self._answered:
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

    # ---------------------------------------------------------------------- gathering

    def _gather(self) -> int:
        if self._input.broken:
            return _CLOSE
        leftover = self.rfile.take_buffered()
        if leftover:
            self._received(leftover)
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
                if not self._pending:
                    return _CLOSE
                if self._head_end < 0:
                    self._refuse(400, "The request ended before its headers were complete.")
                    return _CLOSE
                self._dispatch()  # a short body: the app reads to its end and says so
                return _READY
            if not self.server.ready:
                if not self._pending:
                    return _CLOSE
                if not self._finish_before_exit():
                    self._refuse(503, "The server is shutting down; retry shortly.")
                    return _CLOSE
                continue
            if self._pending and time.monotonic() >= self._deadline():
                self._refuse(408, "The request did not arrive in time "
                             f"({'body' if self._head_end >= 0 else 'headers'} too slow).")
                return _CLOSE
            if not self._more_soon():
                return _PARK

    def _received(self, data: bytes) -> None:
        if not self._pending:
            self._started = time.monotonic()
        self._pending += data

    def _read_available(self) -> bool:
        """Append what the socket holds to the request; True at end of file."""
        sock = self.socket
        sock.settimeout(0.0)
        try:
            while len(self._pending) < self._wanted():
                try:
                    data = sock.recv(_RECV_BYTES)
                except (BlockingIOError, InterruptedError):
                    return False
                except OSError:
                    return True
                if not data:
                    return True
                self._received(data)
            return False
        finally:
            sock.settimeout(self.server.timeout)

    def _wanted(self) -> int:
        if self._head_end < 0:
            return _MAX_HEADER_BYTES + 1
        return self._head_end + self.limits.max_body_bytes + 1

    def _finish_before_exit(self) -> bool:
        """While shutting down: wait for more of a request already arriving, within the
        shutdown timeout; False when there is no time left."""
        now = time.monotonic()
        if self._exit_by == 0.0:
            self._exit_by = min(now + 0.9 * float(self.server.shutdown_timeout), self.server.stop_by)
        left = min(self._exit_by, self._deadline()) - now
        if left <= 0:
            return False
        poller = select.poll()
        try:
            poller.register(self.socket, select.POLLIN)
            poller.poll(left * 1000)
        except (OSError, ValueError):
            return False
        return True

    def _more_soon(self) -> bool:
        """Wait one slice for more bytes, unless another connection needs a worker."""
        if self.server.requests.qsize:
            return False
        poller = select.poll()
        try:
            poller.register(self.socket, select.POLLIN)
            return bool(poller.poll(self.gather_slice_s * 1000))
        except (OSError, ValueError):
            return False

    def _examine(self) -> int:
        """_READY to run the request, _PARK to wait for more, _CLOSE once refused."""
        if self._head_end < 0:
            end = self._pending.find(b"\r\n\r\n")
            if end < 0:
                if len(self._pending) > _MAX_HEADER_BYTES:
                    self._refuse(431, f"The request headers are over {_MAX_HEADER_BYTES} bytes.")
                    return _CLOSE
                return _PARK
            self._head_end = end + 4
            self._body_started = time.monotonic()
            self._read_framing(bytes(self._pending[:self._head_end]))
            self._scan = self._head_end
        body = len(self._pending) - self._head_end
        if self._chunked:
            self._scan, complete, malformed = _scan_chunks(self._pending, self._scan)
            if complete or malformed or body > self.limits.max_body_bytes:
                return _READY  # the app reads it and answers (400, 413)
        elif self._length <= 0 or self._length > self.limits.max_body_bytes or \
                body >= self._length:
            return _READY
        if body > self._reserved:
            if not self.budget.take(body - self._reserved):
                return _READY  # over the buffer budget: a worker reads the rest, same deadlines
            self._reserved = body
        self._send_continue()
        return _PARK

    def _read_framing(self, head: bytes) -> None:
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                value = value.strip()
                self._length = int(value) if value.isdigit() and len(value) < 16 else -1
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                self._chunked = True
        if self._chunked:
            self._length = -1

    def _send_continue(self) -> None:
        """Answer ``Expect: 100-continue`` while the body is gathered (once per request)."""
        if self._continue:
            return
        self._continue = True
        head = bytes(self._pending[:self._head_end])
        if not _EXPECT.search(head):
            return
        try:
            self.socket.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        except OSError:
            return
        # cheroot would send another on parsing; clients cope, but one is cleaner
        self._pending[:self._head_end] = _EXPECT.sub(b"", head)
        self._head_end = len(_EXPECT.sub(b"", head))
        self._scan = self._head_end + (self._scan - len(head))

    def _dispatch(self) -> None:
        """Hand the gathered bytes to cheroot's reader, with the body's deadline on the rest."""
        head_end = self._head_end if self._head_end >= 0 else len(self._pending)
        self._input.prefix = bytes(self._pending)
        self._input.offset = 0
        self._input.received = len(self._pending) - head_end
        self._input.policy = (self._body_started or time.monotonic(), self.limits.body_timeout_s,
                              self.limits.min_rate)
        self._reset()

    def _refuse(self, status: int, message: str) -> None:
        """Best effort: a JSON error to a client about to be dropped, without blocking."""
        self._answered = True
        body = json.dumps({"detail": message}).encode()
        reply = (f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
                 "Content-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        try:
            self.socket.settimeout(0.0)
            self.socket.send(reply)
        except OSError:
            pass

    # ---------------------------------------------------------------------- lingering

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
            try:
                readable, _, _ = select.select([self.socket], [], [], min(left, self.slice_s))
            except (OSError, ValueError):  # closed under us: the selector sorts it out
                return False
            if readable:
                return True
        return False


class _Gateway(wsgi.Gateway_10):
    """cheroot's WSGI 1.0 gateway, which also honours an app's ``Connection: close``.

    The app says so when it answers before reading a body to its end (a malformed chunk, a
    body cut short): the rest of the connection can no longer be framed, so it must end.
    """

    def start_response(self, status: Any, headers: Any, exc_info: Any = None) -> Any:
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
            self.req.close_connection = True
        return super().start_response(status, headers, exc_info)


def connection_class(linger_s: float, limits: ClientLimits | None = None
                     ) -> type[GatedConnection]:
    """A ``GatedConnection`` class for one server: its linger, limits and buffer budget."""
    limits = limits or ClientLimits()
    return type("GatedConnection", (GatedConnection,),
                {"linger_s": linger_s, "limits": limits, "budget": _Budget(limits.buffer_bytes)})


class ApiServer:
    """A cheroot server in a background thread; ``port`` is the bound one (0 picks a free one)."""

    def __init__(self, app: Any, host: str, port: int, threads: int,
                 shutdown_timeout_s: float, keepalive_linger_s: float = 0.0,
                 limits: ClientLimits | None = None) -> None:
        self._server = SupervisedServer((host, port), app, numthreads=threads, server_name="edge-alpr")
        self._server.ConnectionClass = connection_class(keepalive_linger_s, limits)
        self._server.gateway = _Gateway
        self._server.shutdown_timeout = shutdown_timeout_s  # cheroot's stub says int; it takes seconds
        self._stopping = threading.Event()
        self.worker = ServeWorker(self._server, self._stopping)  # supervised: see serve_loop.py

    def start(self) -> None:
        """Bind and start serving; raises ``ConfigError`` when the address is unusable."""
        try:
            self._server.prepare()
        except OSError as e:
            host, port = self._server.bind_addr[:2]
            raise ConfigError(f"cannot listen on {host}:{port} ({e}); pick another --port") from e
        self.worker.start()

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    def stop(self, timeout: float = 5.0) -> None:
        """Stop within about ``timeout`` s: a request still arriving gets what is left of it
        (cheroot's ``shutdown_timeout`` is that grace), so a client that stalls mid-request
        cannot hold the process past its stop budget."""
        self._stopping.set()
        grace = min(self._server.shutdown_timeout, timeout)  # seconds
        # from now: the selector takes up to half a second to hand parked requests to a worker
        self._server.stop_by = time.monotonic() + 0.9 * grace
        self._server.shutdown_timeout = grace
        self._server.stop()
        if self.worker.ident is not None:
            self.worker.join(timeout)


@dataclass
class ApiRuntime:
    """The API's parts built from a ``Config``; ``service.py`` can reuse this."""

    server: ApiServer
    usage: Usage
    outbox: Outbox
    webhooks: Webhooks
    stop: threading.Event = field(default_factory=threading.Event)
    shutdown_timeout_s: float = 1.5
    history: History | None = None  # closed here when ``build`` opened it (``edge-alpr serve``)
    _closed: bool = False

    def close(self, timeout: float | None = None) -> None:
        """Stop serving and delivering within ``timeout`` s in all (``shutdown_timeout_s``
        unless the caller's own budget has less left).

        One deadline for everything: a webhook target that hangs keeps its (daemon) worker
        busy until its own timeout, so each worker gets what is left, not a fresh wait.
        """
        if self._closed:
            return
        self._closed = True
        end = time.monotonic() + (self.shutdown_timeout_s if timeout is None else timeout)
        self.stop.set()
        self.server.stop(max(0.0, end - time.monotonic()))
        busy = self.webhooks.join(max(0.0, end - time.monotonic()))
        self.usage.close()
        if self.history is not None:
            self.history.close()
        if busy:  # still in a request to a hanging target: its next write must not meet a closed db
            log.warning("shutdown: %s still sending; the outbox closes with the process "
                        "(every event in it is already durable)", ", ".join(busy))
            return
        self.outbox.close()


def limits_of(cfg: Config) -> ClientLimits:
    """The ``ClientLimits`` of ``cfg.api``."""
    api = cfg.api
    return ClientLimits(header_timeout_s=api.header_timeout_s, body_timeout_s=api.body_timeout_s,
                        min_rate=api.min_rate, max_body_bytes=api.max_upload_bytes,
                        buffer_bytes=4 * api.max_upload_bytes)


def build(cfg: Config, recognizer: Recognizer | None = None, outbox: Outbox | None = None,
          shared: tuple[History | None, WatchLists, Metrics] | None = None,
          supervisor: Supervisor | None = None) -> ApiRuntime:
    """Load models (unless given), open the state files and start webhooks and the server.

    ``shared``: the history, watch lists and metrics of ``edge-alpr run`` (which closes the history);
    without it they are opened here and the runtime closes the history.  ``supervisor``
    (``edge-alpr run``'s, else a new one) watches the server's and the webhooks' workers.
    """
    token = api_token(cfg.api.token_env, cfg.api.token_credential)
    check_bind(cfg.api.host, token, cfg.api.token_env)
    state = make_state_dir(cfg.state_path)
    recognizer = recognizer or Recognizer.from_config(cfg.models)
    usage = Usage(state / "usage.sqlite", cfg.usage.max_calls)
    outbox = outbox or Outbox(state / "outbox.sqlite", cfg.outbox.max_rows, cfg.outbox.max_age_s,
                              max_bytes=cfg.outbox.max_bytes)
    stop = threading.Event()
    history, watchlists, metrics = shared or (open_history(cfg.history, state),
                                              WatchLists(cfg.watchlists, state), Metrics())
    webhooks = Webhooks(cfg.webhooks, outbox, stop, wrap=metrics.counted)
    for collector in (partial(outbox_samples, outbox), partial(watchlist_samples, watchlists),
                      *([partial(history_samples, history)] if history is not None else [])):
        metrics.collect(collector)
    ctx = ApiContext(cfg.api, recognizer, usage, token, webhooks, history, cfg.history.api_reads,
                     watchlists, metrics=metrics, supervisor=supervisor or Supervisor())
    server = ApiServer(metrics.wsgi(create_app(ctx)), cfg.api.host, cfg.api.port, cfg.api.threads,
                       cfg.api.shutdown_timeout_s, cfg.api.keepalive_linger_s, limits_of(cfg))
    try:
        server.start()
    except ConfigError:
        usage.close()
        if shared is None and history is not None:
            history.close()
        raise
    ctx.supervisor.watch(lambda: [server.worker, *webhooks.workers.values()])
    webhooks.start()
    return ApiRuntime(server, usage, outbox, webhooks, stop, cfg.api.shutdown_timeout_s,
                      history if shared is None else None)


def serve(cfg: Config) -> int:
    """Run the API until SIGTERM or SIGINT; the exit status for the CLI."""
    stop = stop_on_signals()
    keep_frame_memory()
    runtime = build(cfg)
    host = cfg.api.host
    shown = f"[{host}]" if ":" in host else host
    secured = api_token(cfg.api.token_env, cfg.api.token_credential) is not None
    log.info("edge-alpr API listening on http://%s:%d/ (state in %s, %s)", shown,
             runtime.server.port, cfg.state_dir,
             "token required" if secured else "no token: loopback only")
    print(f"listening on http://{shown}:{runtime.server.port}/", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        runtime.close()
    return 0


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port (tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
