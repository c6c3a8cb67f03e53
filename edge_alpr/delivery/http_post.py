"""One webhook POST that a hostile or broken receiver can neither stall, nor redirect, nor flood.

Why not ``urllib.request.urlopen`` as it is: its ``timeout`` bounds each socket read, not the
request, so a receiver that trickles its status line or headers a byte at a time holds the
delivery worker for as long as it likes (the worker then looks stalled, and the watchdog ends
the service); and it follows redirects: a 301, 302 or 303 turns the POST into a GET without its
body, which the new location answers 200, so the event is acknowledged as delivered and lost,
possibly at another host, and a redirect's body is read whole into memory first (a 2 GB body:
2 GB of memory).  Here:

* ``timeout_s`` bounds the whole exchange, from the connection to the response's headers: at
  the deadline the socket is shut down, which ends any read or write blocked on it, and the
  failure is a ``TimeoutError``; a 2xx's body is read for what is left of that time, at most
  ``BODY_READ_BYTES`` of it (a receiver that said 2xx has the event; its body is not needed).
* A user and password in the url (``http://user:pass@host/hook``, as Node-RED's and many
  receivers' Basic authentication is set up) are sent as an ``Authorization: Basic`` header:
  urllib would take ``user:pass@host`` for the host name and fail to resolve it.
* A 3xx is a failure like a 4xx or 5xx (retried with backoff): its ``HTTPError`` names the
  location, so that the log says where the target moved and the admin sets that URL.  A
  redirect's body is never read.
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from http.client import HTTPMessage
from typing import IO, Any

from ..credentials import hide_credentials

BODY_READ_BYTES = 1024  # of a 2xx's body: it is not needed, and a receiver may send gigabytes


class Deadline:
    """Shuts down the sockets of one request when its time is up (a ``threading.Timer``)."""

    def __init__(self, timeout_s: float) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline.  A duplicate of it is kept: TLS detaches the
        socket it wraps, while a shutdown through any duplicate ends the one connection."""
        copy = sock.dup()
        with self._lock:
            self._sockets.append(copy)
            fired = self.fired
        if fired:
            self._shut(copy)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # closed meanwhile by the peer: nothing left to end
            pass

    def cancel(self) -> None:
        """The request is over: stop the timer and let the duplicates go."""
        self._timer.cancel()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


class _Watched(http.client.HTTPConnection):
    """A connection whose socket ``deadline`` watches from the moment it connects."""

    deadline: Deadline | None = None

    def connect(self) -> None:
        super().connect()
        if self.deadline is not None:
            self.deadline.watch(self.sock)


class _WatchedTls(http.client.HTTPSConnection, _Watched):
    """The same over TLS: watched before the handshake (``HTTPSConnection.connect`` wraps the
    socket that ``_Watched.connect`` made)."""


def _maker(kind: type[_Watched], deadline: Deadline) -> Any:
    """``do_open``'s connection class: ``kind`` with ``deadline`` set."""

    def make(host: str, **kwargs: Any) -> _Watched:
        conn = kind(host, **kwargs)
        conn.deadline = deadline
        return conn

    return make


class _Http(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_maker(_Watched, self.deadline), req)


class _Https(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_maker(_WatchedTls, self.deadline), req)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Every 3xx is an ``HTTPError`` naming its location; its body is not read."""

    def http_error_302(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                       headers: HTTPMessage) -> None:
        location = headers.get("Location") or headers.get("URI") or "nowhere"
        raise urllib.error.HTTPError(
            req.full_url, code, f"redirect to {hide_credentials(location)[:200]}, not followed: "
            "set the target's url to where it points", headers, fp)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> None:
    """POST ``body`` to ``url``; returns once it answered 2xx within ``timeout_s`` in all.
    Raises ``urllib.error.HTTPError`` for any other status (3xx included), ``TimeoutError``
    when the deadline passed first, else the connection's own ``OSError``."""
    url, auth = _without_user(url)
    deadline = Deadline(timeout_s)
    opener = urllib.request.build_opener(_Http(deadline), _Https(deadline), _NoRedirects())
    request = urllib.request.Request(url, data=body, method="POST", headers={**auth, **headers})
    try:
        try:
            response = opener.open(request, timeout=timeout_s)
        except urllib.error.HTTPError as e:
            e.close()  # its body is not read (a receiver may send gigabytes); status and headers stay
            raise
        except (OSError, http.client.HTTPException) as e:
            if deadline.fired:
                raise TimeoutError(f"no answer within {timeout_s:g} s") from e
            raise
        with response:
            try:
                response.read(BODY_READ_BYTES)
            except (OSError, http.client.HTTPException):
                pass  # answered 2xx: delivered, whatever its body does
    finally:
        deadline.cancel()


def _without_user(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its user and password, and the Basic ``Authorization`` header they make
    (percent-escapes undone: ``p%40ss`` is the password ``p@ss``); no header without a user."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, {}
    host = parts.netloc.rpartition("@")[2]
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), {"Authorization": f"Basic {token}"}
