"""``GET /metrics``: the process's metrics in the Prometheus text format (``edge_alpr.metrics``).

Behind the API's auth like every route: a Prometheus on another machine sends the token
(``authorization: {type: Token, credentials: <key>}`` in its scrape config).
"""

from __future__ import annotations

from collections.abc import Callable

import bottle

from ..metrics import Metrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def install(app: bottle.Bottle, guarded: Callable[[Callable[..., bottle.HTTPResponse]],
                                                   Callable[..., bottle.HTTPResponse]],
            metrics: Metrics | None) -> None:
    """Add ``GET /metrics`` to ``app`` (when the process keeps metrics)."""
    if metrics is None:
        return

    @guarded
    def scrape() -> bottle.HTTPResponse:
        return bottle.HTTPResponse(metrics.render(), status=200,
                                   headers={"Content-Type": CONTENT_TYPE})

    for path in ("/metrics", "/metrics/"):
        app.route(path, "GET", scrape)
