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
import re
import socket
from collections.abc import Callable, Iterable
from typing import Any

from ..names import shown

_PORT = re.compile(r":[0-9]{0,5}")
_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")  # DNS labels, as a browser sends them (IDNs as xn--)
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def host_name(header: str) -> str | None:
    """The name of a ``Host`` header, lower case, without port or IPv6 brackets; None for one
    that is no ``host[:port]`` (``[::1].evil.example``, ``127.0.0.1:80.evil.example``,
    ``localhost:80@evil.example``): read loosely, such a header would pass as the name before it.
    Browsers send no such header, but a proxy in front may pass on whatever a client sent."""
    value = header.strip().lower()
    if value.startswith("["):
        inside, close, rest = value[1:].partition("]")
        if not close or (rest and not _PORT.fullmatch(rest)) or not _is_ip(inside):
            return None
        return inside
    if value.count(":") > 1:  # a bare IPv6 literal has several colons
        return value if _is_ip(value) else None
    name, colon, port = value.partition(":")
    name = name.rstrip(".")
    if (colon and not _PORT.fullmatch(colon + port)) or (name and not _NAME.fullmatch(name)):
        return None
    return name


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])  # fe80::1%eth0 too
    except ValueError:
        return False
    return True


def own_names() -> set[str]:
    """This machine's names as clients on it may type them."""
    names = {"localhost"}
    for name in (socket.gethostname(), socket.getfqdn()):
        name = name.strip().lower().rstrip(".")
        if name:
            short = name.split(".", 1)[0]
            names |= {name, short, f"{short}.local"}
    return names


def allowed(name: str | None, names: frozenset[str]) -> bool:
    """Whether a request addressed to ``name`` (``host_name``'s) may be served without a token
    (``names``: the machine's own and the configured ones)."""
    if name is None:
        return False
    if not name or _is_ip(name):
        return True
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
            f"Host {shown(header)} is not a name of this machine. A server without an API token "
            f"answers only requests to localhost, its IP addresses or its host name (a guard "
            f"against DNS rebinding). Add the name to api.allowed_hosts, or set an API token.")
        }).encode()
        start_response("403 Forbidden", [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(body)))])
        return [body]
