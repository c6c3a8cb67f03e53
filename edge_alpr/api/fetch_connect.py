"""One ``upload_url`` fetch's deadline, and connections made within it: name lookup, TCP connect
and TLS handshake included.

Why: a socket timeout bounds one call only.  A connect timeout of ``timeout_s`` starts again for
each address of a name and for each redirect, a TLS handshake's timeout from where it begins,
and ``getaddrinfo`` takes no timeout at all: a slow or silent DNS server holds the caller for the
resolver's own timeouts (seconds per try, several tries).  So every step gets only what is left
of the fetch's one deadline, and the name is looked up in a helper thread the caller stops
waiting for at the deadline (a lookup cannot be interrupted; its thread ends when the resolver
gives up, and at most ``MAX_PENDING_LOOKUPS`` such threads exist at once).

A connection that reaches the API server itself is refused (a 400): the fetch would wait for
one of its own workers, and with every worker fetching from itself none is left to answer (40
such requests at once held 4 workers for their 5 s deadlines, round after round: 30 s in which
no other client was answered).  Each connection is checked, a redirect's too.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any

from ..errors import InputError

MAX_PENDING_LOOKUPS = 8
_LOOKUPS = threading.BoundedSemaphore(MAX_PENDING_LOOKUPS)

AddrInfo = tuple[Any, ...]  # one entry of ``socket.getaddrinfo``


class Deadline:
    """Shuts down every socket of one fetch when its time is up (a pending read then ends)."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._timers: list[threading.Timer] = []

    def left(self) -> float:
        """Seconds left; at the deadline ``expired`` is set and ``TimeoutError`` raised."""
        left = self.at - time.monotonic()
        if left <= 0:
            self.expired = True
            raise TimeoutError("the fetch's deadline has passed")
        return left

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def arm(self, sock: socket.socket) -> None:
        timer = threading.Timer(max(0.0, self.at - time.monotonic()), self._cut, (sock,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def _cut(self, sock: socket.socket) -> None:
        self.expired = True
        try:  # the plain socket's shutdown, also under TLS: the TLS layer is left to fail on EOF
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()


def resolve(host: str, port: int, deadline: Deadline) -> list[AddrInfo]:
    """``getaddrinfo`` for a TCP connection, given up at the deadline (``TimeoutError``)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # a literal address: no lookup, nothing to wait for
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    if not _LOOKUPS.acquire(timeout=deadline.left()):
        deadline.left()  # raises once the time is up
        raise TimeoutError("no lookup slot free")
    found: list[list[AddrInfo]] = []
    failed: list[OSError] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except OSError as e:
            failed.append(e)
        except UnicodeError as e:  # a name IDNA cannot encode (a label over 63 characters...)
            failed.append(OSError(f"{host!r} is not a host name: {e}"))
        finally:
            _LOOKUPS.release()
            done.set()

    threading.Thread(target=lookup, name="upload-url-lookup", daemon=True).start()
    if not done.wait(deadline.left()):
        deadline.left()
        raise TimeoutError(f"looking up {host!r} took too long")
    if failed:
        raise failed[0]
    return found[0]


def connect(address: tuple[str, int], deadline: Deadline, own_port: int | None = None) -> socket.socket:
    """A TCP connection to ``address`` (a name or an IP), tried address by address within the
    deadline; the socket's timeout is what is left, so a TLS handshake on it ends there too
    (since Python 3.5 a handshake's timeout is its whole duration).  ``InputError`` when it
    reached this machine's ``own_port``: the API server itself (``is_self``)."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in resolve(host, port, deadline):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(deadline.left())
            sock.connect(sockaddr)
            sock.settimeout(deadline.left())
        except OSError as e:  # TimeoutError included: the next address gets what is left
            sock.close()
            error = e
            continue
        if own_port is not None and is_self(sock, own_port):
            sock.close()
            raise InputError(f"upload_url leads to this server itself ({host}:{port}); a fetch "
                             "from itself waits for a worker of its own, every one of which may "
                             "be fetching: give the camera's snapshot URL, or send the image as upload")
        return sock
    raise error or OSError(f"no address found for {host!r}")


def is_self(sock: socket.socket, own_port: int) -> bool:
    """Whether a connected socket reached ``own_port`` on this machine: a loopback address, or
    the very address the connection leaves from (one of this machine's own)."""
    try:
        local, peer = sock.getsockname()[0], sock.getpeername()
    except OSError:
        return False
    if peer[1] != own_port:
        return False
    address = ipaddress.ip_address(str(peer[0]).split("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback) or peer[0] == local
