"""Is a network camera there?  Asked in Python before OpenCV's FFmpeg backend opens it.

Why: OpenCV opens FFmpeg captures one at a time, process-wide (a mutex in its FFmpeg backend),
and an open holds that mutex until it succeeds or its timeout ends.  A camera that is switched
off, unplugged or hung (its TCP connect or its first answer never comes) then held every other
camera's (re)connect back for ``read_timeout`` at each retry: measured with four such cameras
and ``read_timeout: 2``, a working camera on loopback took 7.6 s instead of its own 2 s to open, past
its capture thread's deadline, so its health said ``failed`` and the systemd watchdog stopped
being pinged.  Here each camera's own thread finds out, within its ``read_timeout`` and
without holding anything another camera needs, whether its host resolves, accepts a TCP
connection and, for RTSP, answers a ``DESCRIBE``; only a camera that answers goes on to
OpenCV.  The answer also names why a later open fails (a wrong path, user or password), which
OpenCV does not say.

An HTTP camera is asked nothing before the open but the TCP connection (``probe``); what it is
asked once its open failed is ``http_check.py``'s.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from ...errors import CameraError
from .camera_auth import authorization, challenges, stale

PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
MAX_HEADER_BYTES = 65536
HEAD_END = re.compile(rb"\r?\n\r?\n")  # the blank line after a head (or a part's headers)
ONE_CLIENT = "the camera serves no more clients"  # how the verdict on a 503 starts


def _resolve(host: str, port: int, timeout: float) -> list[tuple[int, tuple[str, int]]]:
    """getaddrinfo bounded by ``timeout``: the C library's own wait for a DNS server that does
    not answer is 5 s per try and server, not interruptible, so it runs in a thread of its own
    that is left to finish on its own when it is late."""
    found: list[tuple[int, tuple[str, int]]] = []
    failure: list[str] = []

    def lookup() -> None:
        try:
            for family, _, _, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
                found.append((family, (str(addr[0]), int(addr[1]))))
        except OSError as e:
            failure.append(str(e))

    thread = threading.Thread(target=lookup, name=f"resolve-{host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise CameraError(f"host name {host} not resolved within {timeout:g} s (is a DNS server reachable? "
                          "an IP address in the url needs none)")
    if failure or not found:
        raise CameraError(f"host name {host} does not resolve ({failure[0] if failure else 'no address'}); "
                          "check the url's host name, or give the camera's IP address")
    return found


def _connect(host: str, port: int, deadline: float, scheme: str) -> socket.socket:
    """A TCP connection to the camera by ``deadline``; raises CameraError naming why not, a
    refusal with the ``scheme``'s port to check (an HTTP camera's advice named RTSP's)."""
    last = ""
    for family, addr in _resolve(host, port, max(0.01, deadline - time.monotonic())):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            sock.connect(addr)
            return sock
        except TimeoutError:
            sock.close()
            last = f"no answer from {addr[0]} port {addr[1]} within the read_timeout (switched off, unplugged " \
                   "or firewalled?)"
        except OSError as e:
            sock.close()
            last = f"cannot connect to {addr[0]} port {addr[1]}: {e.strerror or e} (is the camera on, and " \
                   f"the url's port its {_service(scheme, port)}?)"
    raise CameraError(last)


def _service(scheme: str, port: int) -> str:
    """Which port a refused url should have named, in words: the RTSP, HTTPS or HTTP (MJPEG)
    port, with its usual number where the url gives another."""
    kind = scheme.lower()
    name = {"rtsp": "RTSP", "rtsps": "RTSPS", "http": "HTTP (MJPEG)", "https": "HTTPS"}.get(kind, kind.upper())
    usual = PORTS.get(kind)
    return f"{name} port" + (f", usually {usual}" if usual is not None and usual != port else "")


class NoAnswer(CameraError):
    """The camera accepted the connection but its answer did not come within the timeout (hung,
    or a link passing a few bytes a second): ``opencv.py`` asks such an HTTP camera before its
    retries take OpenCV's open turn (``drops.py``)."""


def _late(got: int) -> CameraError:
    if not got:
        return NoAnswer("the camera accepted the connection but did not answer within the read_timeout (hung?)")
    return NoAnswer(f"the camera answered too slowly: {got} bytes of its answer within the read_timeout "
                       "(a link passing a few bytes a second, or a camera in trouble?)")


def _recv(sock: socket.socket, deadline: float, got: int) -> bytes:
    """Up to 4 kB before ``deadline``, ``got`` bytes of the answer so far.  Why the deadline
    bounds the whole answer, not each wait for bytes: a camera or link passing a few bytes a
    second took as long as it liked, each ``recv`` within its own timeout (measured: 3.3 s with
    ``read_timeout: 2`` at 200 bytes/s; any time at all for an answer long enough)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _late(got)
    sock.settimeout(left)
    try:
        return sock.recv(4096)
    except TimeoutError as e:
        raise _late(got) from e


class Answer(NamedTuple):
    """One RTSP or HTTP response's head: its status, headers (lower-case names, the last of
    each) and every ``WWW-Authenticate`` challenge (a camera may send several headers)."""

    status: int
    headers: dict[str, str]
    challenges: list[tuple[str, dict[str, str]]]
    body: bytes = b""  # what came after the head in the same reads (a stream's first bytes)
    protocol: str = ""  # "HTTP" or "RTSP", as the status line says


def _response(sock: socket.socket, deadline: float, body: bool = True, first: bool = True) -> Answer:
    """One RTSP or HTTP response's head, all by ``deadline``; its body is skipped (read past
    with ``body``: the next RTSP answer follows it).  The ``first`` on its connection is no
    answer (``_stranger``) unless it starts as HTTP or RTSP (a later one may follow the rest of
    a body that was longer than its Content-Length said)."""
    data = b""
    while not (end := HEAD_END.search(data)):  # LF alone ends lines too, as FFmpeg reads them
        chunk = _recv(sock, deadline, len(data))
        if not chunk:
            raise CameraError("the camera closed the connection without answering")
        data += chunk
        if first and not (b"HTTP/".startswith(data[:5]) or b"RTSP/".startswith(data[:5])):
            raise _stranger(data)
        if len(data) > MAX_HEADER_BYTES:  # no camera's: said as such, not as a stream without pictures
            raise CameraError(f"the camera's answer has no end to its head within {MAX_HEADER_BYTES // 1024} KB "
                              "(something else on the url's port?)")
    head, rest = (data[:end.start()], data[end.end():]) if end else (data, b"")
    lines = re.split(r"\r?\n", head.decode("latin-1"))
    match = re.match(r"(?:RTSP|HTTP)/\d\.\d (\d{3})", lines[0])
    fields = [(k.strip().lower(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:])]
    headers = dict(fields)
    length = headers.get("content-length", "")
    digits = length.isascii() and length.isdigit() and len(length) < 10  # not "²", nor 5,000 digits
    while body and digits and len(rest) < min(int(length), MAX_HEADER_BYTES):
        chunk = _recv(sock, deadline, len(head) + len(rest))
        if not chunk:
            break
        rest += chunk
    offered = challenges([v for k, v in fields if k == "www-authenticate"])
    return Answer(int(match.group(1)) if match else 0, headers, offered, rest, match.group(0)[:4] if match else "")


def _stranger(data: bytes) -> CameraError:
    """The url's port answers, but neither HTTP nor RTSP (an SSH or telnet banner, TLS): it was
    said to answer "too slowly", waiting for a head that never comes."""
    line = data.split(b"\n", 1)[0].rstrip(b"\r")[:60].decode("latin-1")
    shown = "".join(c if c.isprintable() else "?" for c in line)
    return CameraError(f"the url's port answers neither HTTP nor RTSP ({shown!r}): is it the camera's port for "
                       "its stream (another service, or TLS: https/rtsps)?")


def asks(url: str) -> bool:
    """Whether ``probe`` would ask anything of ``url`` (a network camera's scheme and host): a
    file, a device or a GStreamer pipeline is opened at once."""
    parts = urlsplit(url)
    return parts.scheme.lower() in PORTS and bool(parts.hostname)


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port or PORTS[parts.scheme.lower()]
    except ValueError:
        return None  # FFmpeg says what is wrong with it


def probe(url: str, timeout: float) -> str | None:
    """Raise CameraError unless ``url``'s host resolves, connects and (RTSP) answers, each
    within ``timeout`` s in all; else return why an open may still fail (the camera's answer to
    DESCRIBE: 404, 401), or None.  HTTP is asked nothing (see the module: ``check`` is asked
    after a failed open); other schemes than rtsp/rtsps/http/https pass unasked."""
    parts = urlsplit(url)
    port = _port(parts) if parts.scheme.lower() in PORTS and parts.hostname else None
    if port is None:
        return None
    deadline = time.monotonic() + timeout
    with _connect(parts.hostname or "", port, deadline, parts.scheme) as sock:
        if parts.scheme.lower() != "rtsp":
            return None  # TLS is FFmpeg's; an HTTP camera's one slot is OpenCV's
        try:
            return _describe(sock, parts, port, deadline)
        except OSError as e:  # reset
            raise CameraError(f"the connection to the camera failed while asking for its stream: {e}") from None


def _verdict(status: int, parts: SplitResult, tried: bool) -> str | None:
    """What an answer to the request for the stream says is wrong with the url (``tried``: with
    the url's user and password)."""
    if status == 401 and tried:
        return "the camera refused the url's user and password (401 Unauthorized); correct them"
    if status == 401:
        return ("the camera wants a user and password (401 Unauthorized); put them in the url: "
                f"{parts.scheme}://USER:PASSWORD@host/...")
    if status == 404:
        return f"the camera has no stream at {parts.path or '/'} (404 Not Found); correct the url's path"
    if status == 503:
        return (f"{ONE_CLIENT} (503 Service Unavailable): another viewer (a browser, a recorder) holds its "
                "stream; close that, or give source.url the camera's second stream")
    return None


def _describe(sock: socket.socket, parts: SplitResult, port: int, deadline: float) -> str | None:
    """Ask for the stream (DESCRIBE, with the url's user and password when it wants them, on
    the same connection)."""
    host = parts.hostname or ""
    netloc = host if ":" not in host else f"[{host}]"
    uri = urlunsplit((parts.scheme, f"{netloc}:{port}" if parts.port else netloc, parts.path or "/",
                      parts.query, ""))

    def ask(cseq: int, extra: str = "") -> Answer:
        sock.sendall(f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: {cseq}\r\nAccept: application/sdp\r\n"
                     f"User-Agent: edge-alpr\r\n{extra}\r\n".encode())
        return _response(sock, deadline, first=cseq == 1)

    first = ask(1)
    if first.protocol == "HTTP":  # told by its first answer: no password sent to it, none asked on a closed one
        return (f"the url's port answers HTTP, not RTSP ({first.status}): is it the camera's RTSP port "
                "(usually 554)? or, for its HTTP stream, a url of http://")
    logged = _log_in(first, parts, uri, "DESCRIBE", lambda extra: ask(2, extra))
    return None if logged is None else _verdict(logged[0].status, parts, logged[1])


def _log_in(answer: Answer, parts: SplitResult, uri: str, method: str,
            again: Callable[[str], Answer]) -> tuple[Answer, bool] | None:
    """The answer to the request for the stream, asked ``again`` with the url's user and password
    where the first ``answer`` wants them, and whether they were sent; None where nothing can be
    said about the password (a challenge this answer cannot meet, or a nonce that had expired:
    ``stale=true`` says the password itself was taken)."""
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    tried = answer.status == 401 and bool(user)
    if tried:
        auth = authorization(answer.challenges, user, password, uri, method)
        if auth is None:
            return None
        answer = again(f"Authorization: {auth}\r\n")
        if answer.status == 401 and stale(answer.challenges):
            return None
    return answer, tried
