"""The production HTTP server (cheroot, threaded) and ``edge-alpr serve``.

cheroot gives a fixed pool of worker threads; the recognizer is thread-safe (it serialises
interpreter use with its own lock), so requests overlap their parsing, decoding and I/O.
Shutdown is graceful: SIGTERM/SIGINT set a stop event, the server stops accepting, finishes
requests in flight within ``api.shutdown_timeout_s`` and the process exits well under the
2 s systemd budget.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi

from ..config import Config, resolve_secret
from ..delivery.outbox import Outbox
from ..delivery.webhooks import Webhooks
from ..errors import ConfigError
from ..lifecycle import keep_frame_memory, make_state_dir, stop_on_signals
from ..recognizer import Recognizer
from ..usage import Usage
from .app import ApiContext, create_app

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


class LingeringConnection(cheroot_server.HTTPConnection):
    """A keep-alive connection whose next request is served by the same worker thread.

    Why: cheroot hands a kept-alive connection back to its selector thread after every
    request, and the selector hands the next request to a worker through a queue: two thread
    wake-ups per request, a measurable share of a 10 ms fast-mode read on a small board.  A
    camera or client posting frames in a loop sends its next request soon, so a worker with
    nothing else to do waits for it on the socket itself, up to ``linger_s``, in slices of
    ``slice_s``; it lets go as soon as the pool's queue holds another connection, so lingering
    never starves other clients by more than one slice.  After ``linger_s`` the connection
    goes back to the selector as before.
    """

    linger_s = 0.0  # set on the per-server subclass made by ``lingering``
    slice_s = 0.002

    def communicate(self) -> bool:
        while True:
            if not super().communicate():
                return False
            if not self._next_request_arrives():
                return True

    def _next_request_arrives(self) -> bool:
        """Wait for readable data while no other connection needs this worker."""
        if self.server.requests.qsize:  # others first: a pipelining client queues like any other
            return False
        if self.rfile.has_data():
            return True
        deadline = time.monotonic() + self.linger_s
        while self.server.ready and self.server.requests.qsize == 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                readable, _, _ = select.select([self.socket], [], [], min(left, self.slice_s))
            except (OSError, ValueError):  # closed under us: the selector sorts it out
                return False
            if readable:
                return True
        return False


def lingering(linger_s: float) -> type[LingeringConnection]:
    """A ``LingeringConnection`` class that waits up to ``linger_s`` for the next request."""
    return type("LingeringConnection", (LingeringConnection,), {"linger_s": linger_s})


class ApiServer:
    """A cheroot server in a background thread; ``port`` is the bound one (0 picks a free one)."""

    def __init__(self, app: Any, host: str, port: int, threads: int,
                 shutdown_timeout_s: float, keepalive_linger_s: float = 0.0) -> None:
        self._server = wsgi.Server((host, port), app, numthreads=threads, server_name="edge-alpr")
        self._server.ConnectionClass = lingering(keepalive_linger_s)
        self._server.shutdown_timeout = shutdown_timeout_s  # cheroot's stub says int; it takes seconds
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and start serving; raises ``ConfigError`` when the address is unusable."""
        try:
            self._server.prepare()
        except OSError as e:
            host, port = self._server.bind_addr[:2]
            raise ConfigError(f"cannot listen on {host}:{port} ({e}); pick another --port") from e
        self._thread = threading.Thread(target=self._server.serve, name="http", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    def stop(self) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(5)


@dataclass
class ApiRuntime:
    """The API's parts built from a ``Config``; ``service.py`` can reuse this."""

    server: ApiServer
    usage: Usage
    outbox: Outbox
    webhooks: Webhooks
    stop: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        self.stop.set()
        self.server.stop()
        self.webhooks.join(2.0)
        self.usage.close()
        self.outbox.close()


def build(cfg: Config, recognizer: Recognizer | None = None,
          outbox: Outbox | None = None) -> ApiRuntime:
    """Load models (unless given), open the state files and start webhooks and the server."""
    token = resolve_secret(cfg.api.token_env, cfg.api.token_credential)
    check_bind(cfg.api.host, token, cfg.api.token_env)
    state = make_state_dir(cfg.state_path)
    recognizer = recognizer or Recognizer.from_config(cfg.models)
    usage = Usage(state / "usage.sqlite", cfg.usage.max_calls)
    outbox = outbox or Outbox(state / "outbox.sqlite", cfg.outbox.max_rows, cfg.outbox.max_age_s)
    stop = threading.Event()
    webhooks = Webhooks(cfg.webhooks, outbox, stop)
    ctx = ApiContext(cfg.api, recognizer, usage, token, webhooks)
    server = ApiServer(create_app(ctx), cfg.api.host, cfg.api.port, cfg.api.threads,
                       cfg.api.shutdown_timeout_s, cfg.api.keepalive_linger_s)
    try:
        server.start()
    except ConfigError:
        usage.close()
        raise
    webhooks.start()
    return ApiRuntime(server, usage, outbox, webhooks, stop)


def serve(cfg: Config) -> int:
    """Run the API until SIGTERM or SIGINT; the exit status for the CLI."""
    stop = stop_on_signals()
    keep_frame_memory()
    runtime = build(cfg)
    host = cfg.api.host
    shown = f"[{host}]" if ":" in host else host
    secured = resolve_secret(cfg.api.token_env, cfg.api.token_credential) is not None
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
