"""The bottle app: routes of the Plate Recognizer SDK API, auth, rate limit and JSON errors.

Routes: ``POST /v1/plate-reader/``, ``GET /info/``, ``GET /v1/statistics/``.  Every error is
JSON ``{"detail": ...}`` with its status (400 bad input, 403 auth or quota, 404, 405, 408 too
slow, 413 too large, 429 rate limit, 503 with ``Retry-After`` when the image decoding budget is
taken); an unexpected exception is logged with its traceback and answered as a
JSON 500, which the tests treat as a bug.  The app holds no globals: everything it needs comes
in an ``ApiContext`` so that tests and ``service.py`` can build one with real parts.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import bottle

from .. import __version__, imaging
from ..config import ApiConfig
from ..delivery.webhooks import Webhooks
from ..engine.regions import ALL_REGIONS
from ..errors import InputError, StateError, Throttled
from ..history.store import History
from ..metrics import Metrics
from ..names import shown
from ..recognizer import RecognizeOptions, Recognizer
from ..stream.health import camera_health
from ..stream.loop import CameraLoop
from ..supervision import Supervisor
from ..usage import Usage
from ..watchlists import WatchLists
from . import console, console_status, events, monitor, watchlist_routes
from .body import BODY_UNREAD
from .console_auth import ConsoleAuth
from .fetch import FetchSlots, fetch_image
from .request import parse_read_request

log = logging.getLogger(__name__)

API_VERSION = 1  # the ``version`` field of the reference's responses
STATE_RETRY_AFTER_S = 30  # a full disk: seconds a client waits before trying again


class RateLimiter:
    """Token bucket over all clients: ``rate`` requests/s with bursts of ``burst``."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._stamp = float(burst), clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """0 when allowed, else the seconds until a request would be."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


@dataclass
class ApiContext:
    """The real parts the routes use; ``token`` None means no auth (loopback only)."""

    cfg: ApiConfig
    recognizer: Recognizer
    usage: Usage
    token: str | None = None
    webhooks: Webhooks | None = None
    history: History | None = None  # kept reads and camera events (GET /v1/events/)
    keep_reads: bool = False  # history.api_reads
    watchlists: WatchLists | None = None
    metrics: Metrics | None = None  # GET /metrics
    supervisor: Supervisor = field(default_factory=Supervisor)  # the workers /info/ reports


def _json(status: int, obj: Any, headers: dict[str, str] | None = None) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(json.dumps(obj), status=status,
                               headers={"Content-Type": "application/json", **(headers or {})})


def _detail(status: int, message: str, headers: dict[str, str] | None = None) -> bottle.HTTPResponse:
    return _json(status, {"detail": message}, headers)


def _format_time(stamp: datetime) -> str:
    """``stamp`` in UTC as ``2019-08-19T13:11:25.000000Z``, the year always of 4 digits (the C
    library's ``%Y`` wrote the year 999 as ``999-01-01...``, which no ISO 8601 reader takes)."""
    return stamp.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _no_raw_traceback() -> None:
    """Before each request: bottle writes an unhandled error's traceback to ``wsgi.errors``
    (cheroot's is stderr: the journal) beside the 500 that ``error_handler`` logs through the log,
    which hides credentials (``HidingFormatter``); that raw copy showed a camera URL's password
    the logged one hid, so it goes nowhere."""
    bottle.request.environ["wsgi.errors"] = io.StringIO()


def request_said() -> str:
    """The request's method and path for a log line, the path quoted as a client's values are
    (``names.shown``): it is the client's text, decoded, so a ``%0A`` in it would otherwise start
    a forged line in the journal."""
    return f"{bottle.request.method} {shown(bottle.request.path)}"


def create_app(ctx: ApiContext) -> bottle.Bottle:
    """Build the WSGI app over ``ctx``."""
    app = bottle.Bottle(catchall=True)
    app.add_hook("before_request", _no_raw_traceback)
    limiter = RateLimiter(ctx.cfg.rate_limit, ctx.cfg.rate_burst) if ctx.cfg.rate_limit else None
    budget = imaging.PixelBudget(ctx.cfg.decode_budget_pixels)
    fetches = FetchSlots(ctx.cfg.threads)  # upload_url: at most half the workers at once
    auth = ConsoleAuth(ctx.token)  # the token header, or the console's session cookie

    def guarded(handler: Callable[..., bottle.HTTPResponse]) -> Callable[..., bottle.HTTPResponse]:
        def wrapper(**route_args: str) -> bottle.HTTPResponse:
            try:
                auth.check(bottle.request.environ)
                return handler(**route_args)
            except StateError as e:  # a full disk before a read was counted: said, not a traceback
                log.error("%s: %s", request_said(), e)
                return _detail(503, str(e), {"Retry-After": str(STATE_RETRY_AFTER_S)})
            except InputError as e:
                headers = {"Retry-After": "1"} if e.status == 503 else {}
                if isinstance(e, Throttled):
                    headers["Retry-After"] = str(e.retry_after_s)
                if bottle.request.environ.get(BODY_UNREAD):
                    headers["Connection"] = "close"  # the rest of the body can't be framed
                return _detail(e.status, str(e), headers)
        return wrapper

    @guarded
    def plate_reader() -> bottle.HTTPResponse:
        if limiter is not None:
            wait = limiter.acquire()
            if wait:
                seconds = max(1, round(wait))
                raise _detail(429, f"Request was throttled. Expected available in {seconds} "
                                   "second(s).", {"Retry-After": str(seconds)})
        req = parse_read_request(bottle.request, ctx.cfg.max_upload_bytes)
        port = bottle.request.environ.get("SERVER_PORT", "")
        data = req.image if req.image is not None else fetch_image(
            req.upload_url or "", ctx.cfg.upload_url, int(port) if port.isdigit() else None, fetches)
        started = time.perf_counter()
        options = RecognizeOptions.from_request_config(req.config, req.regions)
        with imaging.decoding(data, ctx.cfg.max_pixels, budget) as image:
            snapshot = ctx.usage.take()
            inferring = time.perf_counter()
            results = ctx.recognizer.recognize(image, options)
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            if ctx.metrics is not None:
                ctx.metrics.observe("edge_alpr_inference_seconds", {"source": "api"},
                                    time.perf_counter() - inferring)
                ctx.metrics.observe("edge_alpr_plate_reader_seconds", {}, elapsed_ms / 1000.0)
            stamp = req.timestamp or datetime.now(timezone.utc)
            # this device's clock (not the client's): a step of it seen later moves the queued and kept times
            clock = None if req.timestamp else stamp.timestamp() - time.monotonic()
            found = events.read_results(ctx.history, ctx.keep_reads, ctx.watchlists, results,
                                        image, req.camera_id, stamp, clock)
            del image
        body: dict[str, Any] = {
            "processing_time": round(elapsed_ms, 3),
            "results": found,
            "filename": req.filename,
            "version": API_VERSION,
            "camera_id": req.camera_id,
            "timestamp": _format_time(stamp),
        }
        if ctx.webhooks is not None:  # a side effect of the read, as the reference's webhooks are
            try:
                ctx.webhooks.publish(body, data, clock)
            except StateError as e:  # a full disk: the event is lost to the webhooks (counted), not the
                # read, which is done and counted: a 503 would throw it away, and the client's retry count twice
                log.error("%s: %s", request_said(), e)
        body["usage"] = snapshot.short()
        return _json(201, body)

    @guarded
    def info() -> bottle.HTTPResponse:
        snapshot = ctx.usage.snapshot()
        return _json(200, {
            "version": __version__,
            "license_key": ctx.cfg.license_key,
            "total_calls": snapshot.limit,  # the period's limit, as /v1/statistics/ (the reference's meaning)
            "lifetime_calls": snapshot.lifetime_calls,
            "usage": snapshot.short(),
            "webhooks": ctx.webhooks.status() if ctx.webhooks is not None else [],
            "mqtt": next((s for s in console_status.sinks(ctx) if s["sink"] == "MQTT"), None),
            "models": ctx.recognizer.info(),
            "workers": ctx.supervisor.describe(),
            "cameras": [camera_health(w) for w in ctx.supervisor.workers() if isinstance(w, CameraLoop)],
            "regions": sorted(ALL_REGIONS),  # the codes ``regions`` takes: an unknown one's 400 says so
        })

    @guarded
    def statistics() -> bottle.HTTPResponse:
        return _json(200, ctx.usage.snapshot().statistics())

    for path in ("/v1/plate-reader/", "/v1/plate-reader"):
        app.route(path, "POST", plate_reader)
    for path in ("/info/", "/info"):
        app.route(path, "GET", info)
    for path in ("/v1/statistics/", "/v1/statistics"):
        app.route(path, "GET", statistics)
    events.install(app, guarded, ctx.history)
    watchlist_routes.install(app, guarded, ctx.watchlists)
    monitor.install(app, guarded, ctx.metrics)
    console.install(app, guarded, ctx, auth)

    def error_handler(error: bottle.HTTPError) -> str:
        if error.status_code >= 500:
            log.error("unhandled error in %s: %s\n%s", request_said(), error.exception, error.traceback)
            message = "Internal error; see the server log."
        elif error.status_code == 404:
            message = "Not found. The endpoints are POST /v1/plate-reader/, GET /info/, " \
                      "GET /v1/statistics/, GET /v1/events/, /v1/watchlists/ and the console at /."
        elif error.status_code == 405:
            allowed = error.headers.get("Allow", "")  # bottle's 405 lists the path's methods
            message = f"Method {shown(bottle.request.method, 20)} not allowed" + \
                (f" here; this path takes {allowed}." if allowed else ".")
        else:
            message = str(error.body) or error.status_line
        bottle.response.content_type = "application/json"
        return json.dumps({"detail": message})

    app.default_error_handler = error_handler
    return app
