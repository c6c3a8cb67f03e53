"""The API's listening socket, bound before the models load, and what to do when it cannot be.

Why first: loading the models takes seconds on a Pi and prints the runtime's own lines; a port
that another program holds, or an address that is not this machine's, is then said after all
that, as a failed start.  Bound first, it is one error at once, with nothing to stop again.  The
socket is made as cheroot makes its own (``prepare_socket``: address reuse, no delay, dual-stack
``::``) and handed to the server, which adopts it (``serve_loop.SupervisedServer.bind``).
"""

from __future__ import annotations

import errno
import os
import re
import socket
from typing import Any

from cheroot import wsgi

from ..config import DEFAULTS, Config
from ..credentials import is_loopback, open_bind_fix, read_api_token
from ..errors import ConfigError
from .port_owner import port_in_use

LISTEN_BACKLOG = 128  # the kernel caps it at net.core.somaxconn (4096 on current kernels)


def check_bind(host: str, token: str | None, token_env: str) -> None:
    """Refuse to expose an unauthenticated API beyond this machine."""
    if not is_loopback(host) and not token:
        raise ConfigError(f"refusing to listen on {host} (api.host, or --host) without an API token: "
                          + open_bind_fix(token_env))


PLACEHOLDERS = {"host": "ADDRESS", "port": "N"}
VIA_MAKE = "EDGE_ALPR_VIA_MAKE"  # the Makefile's run and serve set it to 1 for what they start


def given_as(command: str, *names: str) -> str:
    """How to give ``names`` (``host``, ``port``) on the command line: ``--port N``, and also
    ``make run PORT=N`` when the Makefile's ``run`` or ``serve`` started this process (they
    export ``VIA_MAKE``; make's own ``MAKELEVEL`` reaches anything any make starts, ``make test``'s
    tests and a build's tools too).  ``make run`` passes ``PORT=`` on as ``--port``, so someone who
    typed it would not know what to do with ``--port`` alone; started any other way, make is not
    named."""
    flags = " ".join(f"--{name} {PLACEHOLDERS[name]}" for name in names)
    if os.environ.get(VIA_MAKE) != "1":
        return flags
    return f"{flags}, make {command} " + " ".join(f"{name.upper()}={PLACEHOLDERS[name]}" for name in names)


def listen_fix(why: str, host: str, port: int, config: str = "the config", command: str = "serve") -> str:
    """What to change when the listening socket cannot be made (the text of each bind's error):
    the port for a port in use or reserved, the host for an address that is not this machine's.
    ``serve`` and ``run`` (``command``) both take ``--host``/``--port`` over ``api.host``/``api.port``
    of ``config`` (the file's name, where there is one)."""
    if f"[Errno {errno.EADDRINUSE}]" in why:
        return (f"{port_in_use(port)}; stop it or pick another port ({given_as(command, 'port')}, "
                f"or api.port in {config})")
    if f"[Errno {errno.EACCES}]" in why and 0 < port < 1024:
        return (f"ports below 1024 need root; pick a port of 1024 or more ({given_as(command, 'port')}, "
                f"or api.port in {config})")
    if f"[Errno {errno.EADDRNOTAVAIL}]" not in why and not re.search(r"\[Errno -\d+\]", why):  # not a host's
        return (f"check the address and port ({given_as(command, 'host', 'port')}, "
                f"or api.host/api.port in {config})")
    return (f"{host!r} is not an address of this machine: use 127.0.0.1, 0.0.0.0 (every address, with a "
            f"token) or one of its own ({given_as(command, 'host')}, or api.host in {config})")


def listen(host: str, port: int, config: str = "the config", command: str = "serve") -> socket.socket:
    """A socket bound to ``host``:``port`` and listening, made as cheroot would (the first of the
    host's addresses that binds; for ``localhost`` 127.0.0.1 before ::1, so that the address the
    defaults and the README use answers too); else a ``ConfigError`` naming the address and the fix (in
    ``config``, the file's name where there is one; ``command``: ``run`` or ``serve``, for the fix)."""
    addresses: list[tuple[int, int, int, Any]]
    try:
        found = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
        addresses = [(family, kind, proto, address) for family, kind, proto, _, address in found]
    except socket.gaierror:  # as cheroot: try it as written, which says why it is no address
        six = ":" in host
        addresses = [(socket.AF_INET6 if six else socket.AF_INET, socket.SOCK_STREAM, 0,
                      (host, port, 0, 0) if six else (host, port))]
    if host == "localhost":  # Debian's /etc/hosts names ::1 first: bound there, 127.0.0.1 was refused
        addresses.sort(key=lambda a: a[0] != socket.AF_INET)
    errors = []
    for family, kind, proto, address in addresses:
        sock = None
        try:  # making the socket may fail too (IPv6 off in the kernel, out of descriptors)
            sock = wsgi.Server.prepare_socket(address, family, kind, proto, True, None)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
            return sock
        except OSError as e:
            if sock is not None:
                sock.close()
            errors.append(str(e))
    why = "; ".join(dict.fromkeys(errors))  # each error once: localhost's two addresses may agree
    raise ConfigError(f"cannot listen on {host}:{port} ({why}); {listen_fix(why, host, port, config, command)}")


def api_listener(cfg: Config, command: str = "serve") -> socket.socket:
    """``cfg.api``'s listening socket, after the token check: an address beyond this machine
    needs a token before anything binds it.  ``command`` (``run`` or ``serve``) is named in the fix."""
    found = read_api_token(cfg.api.token_env, cfg.api.token_credential)
    check_bind(cfg.api.host, found.value if found else None, cfg.api.token_env)
    return listen(cfg.api.host, cfg.api.port, "the config" if cfg.source == DEFAULTS else cfg.source, command)
