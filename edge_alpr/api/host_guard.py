"""A token-less server answers only requests addressed to this machine's own names.

Why: without a token the server listens on loopback and trusts whoever reaches it, which is
every program on the device, and also any web page a browser on the device opens: a page at
``http://attacker.example:8080`` can have its name re-resolved to 127.0.0.1 (DNS rebinding) and
then read the console, the event history and the API as if it were local.  The browser still
sends the page's own name in ``Host``, so refusing names that are not this machine's closes
that door.  Allowed: IP literals (a page at an IP is its own origin, nothing is re-resolved),
``localhost`` and ``*.localhost``, this machine's host name (with and without ``.local`` and
its domain), and the names in ``api.allowed_hosts`` (e.g. a reverse proxy's).  A request with
no ``Host`` (HTTP/1.0 tools) passes: every browser sends one.  With a token the guard is off:
the token decides.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def host_name(header: str) -> str:
    """The name of a ``Host`` header, lower case, without port or IPv6 brackets."""
    value = header.strip().lower().rstrip(".")
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:  # name:port (a bare IPv6 literal has several colons)
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def own_names() -> set[str]:
    """This machine's names as clients on it may type them."""
    names = {"localhost"}
    for name in (socket.gethostname(), socket.getfqdn()):
        name = name.strip().lower().rstrip(".")
        if name:
            short = name.split(".", 1)[0]
            names |= {name, short, f"{short}.local"}
    return names


def allowed(name: str, names: frozenset[str]) -> bool:
    """Whether a request addressed to ``name`` may be served without a token (``names``: the
    machine's own and the configured ones)."""
    if not name:
        return True
    try:
        ipaddress.ip_address(name.split("%", 1)[0])  # fe80::1%eth0 too
        return True
    except ValueError:
        pass
    return name.endswith(".localhost") or name in names


class HostGuard:
    """WSGI middleware: 403 with a JSON ``detail`` for a ``Host`` that is not this machine's."""

    def __init__(self, app: WsgiApp, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app  # the names are looked up once: getfqdn may ask DNS
        self.names = frozenset(own_names() | {h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip()})

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_HOST", "")
        name = host_name(header)
        if allowed(name, self.names):
            return self.app(environ, start_response)
        body = json.dumps({"detail": (
            f"Host {header!r} is not a name of this machine. A server without an API token "
            f"answers only requests to localhost, its IP addresses or its host name (a guard "
            f"against DNS rebinding). Add the name to api.allowed_hosts, or set an API token.")
        }).encode()
        start_response("403 Forbidden", [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(body)))])
        return [body]
