"""The production HTTP server (cheroot, threaded) and ``edge-alpr serve``.

cheroot gives a fixed pool of worker threads; the recognizer is thread-safe (each model
serialises the use of its interpreter with its own lock), so requests overlap their parsing,
decoding and I/O, and the models' runs of different requests and cameras interleave.
Shutdown is graceful: SIGTERM/SIGINT set a stop event, the server stops accepting, finishes
requests in flight within ``api.shutdown_timeout_s`` and the process exits well under the
2 s systemd budget.

Slow clients never hold a worker thread: a request's headers and body are gathered by
``gated.GatedConnection`` from whatever the socket holds, and a connection whose request is not
complete goes back to cheroot's selector until more bytes arrive.  Only a complete request
reaches the app (see ``client_io.ClientLimits`` for the time and memory bounds).
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..config import Config
from ..credentials import api_token, read_api_token, token_warning
from ..delivery.outbox import Outbox
from ..delivery.outbox_keeper import Keeper
from ..delivery.webhooks import Webhooks, metric_labels
from ..errors import ConfigError
from ..history.opening import open_history
from ..history.store import History
from ..lifecycle import keep_frame_memory, make_state_dir, stop_on_signals
from ..metrics import Metrics, history_samples, http_samples, outbox_samples, watchlist_samples
from ..models_folder import check_models_directory, load_recognizer
from ..recognizer import Recognizer
from ..statedir import opening_state
from ..supervision import Supervisor
from ..usage import Usage
from ..watchlists import WatchLists
from .announce import announce, announce_to, same_target
from .app import ApiContext, create_app
from .client_io import ClientLimits
from .gated import connection_class
from .gateway import GatedGateway
from .host_guard import HostGuard
from .listener import LISTEN_BACKLOG, api_listener, listen_fix
from .serve_loop import ServeWorker, SupervisedServer

log = logging.getLogger(__name__)


class ApiServer:
    """A cheroot server in a background thread; ``port`` is the bound one (0 picks a free one)."""

    def __init__(self, app: Any, host: str, port: int, threads: int,
                 shutdown_timeout_s: float, keepalive_linger_s: float = 0.0,
                 limits: ClientLimits | None = None, listener: socket.socket | None = None) -> None:
        # the worker pool's queue unbounded (cheroot's default, said here so that it stays): a
        # connection arriving while every worker is busy waits for one; with a bound, cheroot
        # would answer it a plain-text 503 of its own, not the API's JSON
        self._server = SupervisedServer((host, port), app, numthreads=threads, server_name="edge-alpr",
                                        accepted_queue_size=-1)
        # the kernel's queue of connections not yet accepted: cheroot's 5 drops the rest of a burst
        # (many cameras or clients connecting at once), and each dropped one retries only after 1 s
        self._server.request_queue_size = LISTEN_BACKLOG
        self._server.ConnectionClass = connection = connection_class(keepalive_linger_s, limits)
        self.cuts = connection.cuts  # responses cut off: the client did not take them in time
        self._server.gateway = GatedGateway
        self._server.shutdown_timeout = shutdown_timeout_s  # cheroot's stub says int; it takes seconds
        self._server.listener = listener  # bound already (listener.listen): adopted, not bound again
        self._stopping = threading.Event()
        self.worker = ServeWorker(self._server, self._stopping)  # supervised: see serve_loop.py

    def start(self) -> None:
        """Bind (unless given a listener) and start serving; raises ``ConfigError`` when the
        address is unusable."""
        try:
            self._server.prepare()
        except OSError as e:
            host, port = self._server.bind_addr[:2]
            raise ConfigError(f"cannot listen on {host}:{port} ({e}); {listen_fix(str(e), host, port)}") from e
        finally:
            self._server.release_listener()
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

    def close(self, timeout: float | None = None, last_look: Callable[[], None] | None = None) -> None:
        """Stop serving and delivering within ``timeout`` s in all (``shutdown_timeout_s``
        unless the caller's own budget has less left).

        One deadline for everything: a webhook target that hangs keeps its (daemon) worker
        busy until its own timeout, so each worker gets what is left, not a fresh wait.
        ``last_look``: called once nothing serves or delivers any more, before the outbox closes
        (``edge-alpr run`` counts what waits in it for its last line).
        """
        if self._closed:
            return
        self._closed = True
        end = time.monotonic() + (self.shutdown_timeout_s if timeout is None else timeout)
        self.stop.set()
        self.server.stop(max(0.0, end - time.monotonic()))
        busy = self.webhooks.join(max(0.0, end - time.monotonic()))
        if last_look is not None:
            last_look()
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
                        buffer_bytes=4 * api.max_upload_bytes, send_buffer_bytes=4 * api.max_upload_bytes,
                        send_timeout_s=api.send_timeout_s,
                        send_min_rate=api.send_min_rate,
                        max_connections_per_client=api.max_connections_per_client)


def build(cfg: Config, recognizer: Recognizer | None = None, outbox: Outbox | None = None,
          shared: tuple[History | None, WatchLists, Metrics] | None = None,
          supervisor: Supervisor | None = None, listener: socket.socket | None = None) -> ApiRuntime:
    """Bind the API's address (unless given its ``listener``), load models (unless given), open
    the state files and start webhooks and the server.

    ``shared``: the history, watch lists and metrics of ``edge-alpr run`` (which closes the history);
    without it they are opened here and the runtime closes the history.  ``supervisor``
    (``edge-alpr run``'s, else a new one) watches the server's and the webhooks' workers.  The
    address is bound first: a taken port is said at once, not after the models load.
    """
    own = listener is None
    if recognizer is None:  # a models folder that is not there is said before the port is taken
        check_models_directory(cfg)
    listener = listener or api_listener(cfg)  # refuses an address beyond this machine without a token
    try:
        return _build(cfg, listener, recognizer, outbox, shared, supervisor)
    except BaseException:
        if own:
            listener.close()
        raise


def _build(cfg: Config, listener: socket.socket, recognizer: Recognizer | None, outbox: Outbox | None,
           shared: tuple[History | None, WatchLists, Metrics] | None, supervisor: Supervisor | None) -> ApiRuntime:
    """``build``, once the address is bound."""
    found = read_api_token(cfg.api.token_env, cfg.api.token_credential)
    token = found.value if found else None
    weak = token_warning(found)
    if weak:  # said at each start, and by check-config; it still starts (an upgrade must not lock anyone out)
        log.warning("%s", weak)
    state = make_state_dir(cfg)
    recognizer = recognizer or load_recognizer(cfg)
    with opening_state(state, "state_dir"):
        usage = Usage(state / "usage.sqlite", cfg.usage.max_calls)
        outbox = outbox or Outbox(state / "outbox.sqlite", cfg.outbox.max_rows, cfg.outbox.max_age_s,
                                  max_bytes=cfg.outbox.max_bytes)
        history, watchlists, metrics = shared or (open_history(cfg.history, state),
                                                  WatchLists(cfg.watchlists, state), Metrics())
    stop = threading.Event()
    metrics.name_sinks(metric_labels(cfg.webhooks.targets))
    webhooks = Webhooks(cfg.webhooks, outbox, stop, wrap=metrics.counted)
    for collector in (partial(outbox_samples, outbox, metrics.sink_label),
                      partial(watchlist_samples, watchlists),
                      *([partial(history_samples, history)] if history is not None else [])):
        metrics.collect(collector)
    ctx = ApiContext(cfg.api, recognizer, usage, token, webhooks, history, cfg.history.api_reads,
                     watchlists, metrics=metrics, supervisor=supervisor or Supervisor())
    app = metrics.wsgi(create_app(ctx))
    if token is None:
        app = HostGuard(app, cfg.api.allowed_hosts)
    server = ApiServer(app, cfg.api.host, cfg.api.port, cfg.api.threads,
                       cfg.api.shutdown_timeout_s, cfg.api.keepalive_linger_s, limits_of(cfg), listener)
    try:
        server.start()
    except ConfigError:
        usage.close()
        if shared is None and history is not None:
            history.close()
        raise
    metrics.collect(partial(http_samples, server))
    ctx.supervisor.watch(lambda: [server.worker, *webhooks.workers.values()])
    try:
        webhooks.start()
    except BaseException:  # a thread that could not start, a Ctrl-C: stop what serves already
        stop.set()
        server.stop(cfg.api.shutdown_timeout_s)
        usage.close()
        if shared is None and history is not None:
            history.close()
        raise
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
    access = "token required" if secured else "no token: loopback only"
    url = f"http://{shown}:{runtime.server.port}/"
    # the address on stdout where a program reads it, and in the log line unless that line goes
    # to the same place (``serve 2>&1 | ...``): each reader sees it once
    printed = announce_to(sys.stdout)
    if printed and same_target(sys.stdout, sys.stderr):
        log.info("edge-alpr API up (state in %s, %s)", cfg.state_dir, access)
    else:
        log.info("edge-alpr API listening on %s (state in %s, %s)", url, cfg.state_dir, access)
    # the held events written, the reserve made (never raises) on a thread of its own: a SIGTERM
    # during a make (4 MiB fsynced on a slow card) is handled at once, and ends the make
    keeper = Keeper(runtime.outbox).start()
    try:
        if printed:
            announce(url)
        while not stop.wait(1.0):
            pass
    finally:
        keeper.end()
        runtime.close()
    return 0


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port (tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
