"""Why an HTTP camera's open failed, or its stream ended after one frame: asked of the camera.

An HTTP camera is asked nothing before the open but the TCP connection (``reach.probe``): a camera
serving one client at a time (many do) gave its only slot to a request made just before, so
OpenCV's open got a 503 and the camera never opened.  Only once OpenCV's open has failed, or a
stream ended after its one frame (once while it keeps ending so: ``drops.py``), is it asked for
the stream (``check``: a ``GET`` whose answer's head is read before hanging up), its slot free
then, the reconnect's backoff after it:
the answer names a wrong path, a missing or refused user and password, a camera whose one slot
another viewer holds (503), and a url that serves one picture (a camera's snapshot url), not a
stream (OpenCV read its one frame, found the "stream" ended and reconnected, a warning and a
line a second, each saying only that the camera ended the stream).
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit, urlunsplit

from ...errors import CameraError
from .reach import HEAD_END, MAX_HEADER_BYTES, Answer, NoAnswer, _connect, _log_in, _port, _response, _verdict

ONE_PICTURE = "the url serves one picture"  # how the hint for a snapshot url starts
STREAM = ""  # check's answer where the camera answered with its stream (None: the answer tells nothing)


def check(url: str, timeout: float) -> str | None:
    """Why an HTTP camera's open failed or its stream ended after one frame, asked within
    ``timeout`` s (a ``GET`` with the url's user and password where it wants them, each on a
    connection of its own, the first closed before the second opens: a camera serving one
    connection at a time answers the second); ``STREAM`` (falsy) where it answered with a stream
    (a multipart one's first part, its headers or picture, comes too: ``_first_part``), None where the answer says
    nothing either way.  Raises CameraError where the camera cannot be reached or does not answer."""
    parts = urlsplit(url)
    port = _port(parts) if parts.scheme.lower() == "http" and parts.hostname else None
    if port is None:
        return None
    deadline = time.monotonic() + timeout
    host = parts.hostname or ""
    netloc = (host if ":" not in host else f"[{host}]") + (f":{port}" if parts.port else "")
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))

    def ask(extra: str = "") -> Answer:
        with _connect(host, port, deadline, parts.scheme) as conn:
            try:
                conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {netloc}\r\nUser-Agent: edge-alpr\r\n"
                             f"Accept: */*\r\nConnection: close\r\n{extra}\r\n".encode())
                answer = _response(conn, deadline, body=False)
                if 200 <= answer.status < 300 and _kind(answer).startswith("multipart/"):
                    _first_part(conn, answer.body, deadline, timeout)
                return answer
            except OSError as e:  # reset
                raise CameraError(f"the connection to the camera failed while asking for its stream: {e}") from None

    logged = _log_in(ask(), parts, target, "GET", ask)
    if logged is None:
        return None
    answer, tried = logged
    kind = _kind(answer)
    if 200 <= answer.status < 300 and kind.startswith("image/"):
        return (f"{ONE_PICTURE} ({kind}) at a time, not a video stream: give source.url the camera's MJPEG "
                "or RTSP stream (its snapshot url is read one picture a reconnect)")
    return STREAM if 200 <= answer.status < 300 else _verdict(answer.status, parts, tried)


def _kind(answer: Answer) -> str:
    return answer.headers.get("content-type", "").partition(";")[0].strip().lower()


def _first_part(conn: socket.socket, got: bytes, deadline: float, timeout: float) -> None:
    """Wait, by ``deadline``, for the first part of a multipart stream after its head (``got``: the
    bytes after the head so far): its headers' end or a JPEG's start.  Why: a camera whose encoder
    froze answers ``200 multipart/x-mixed-replace`` and then sends nothing, so OpenCV's open of it
    held the open turn for its whole read_timeout at every retry (measured: 10 opens, the turn
    held 9.9 s of 12 with ``read_timeout: 1``) and said only that it could not open; raised as
    ``NoAnswer``, its retries are asked here first (``drops.py``).  Why not its first byte:
    mjpg-streamer and its forks write the first boundary line with the head, then wait for a
    frame, so a frozen one sent bytes and was opened by OpenCV at every retry."""
    while not HEAD_END.search(got) and b"\xff\xd8" not in got and len(got) <= MAX_HEADER_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        conn.settimeout(left)
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            break
        if not chunk:
            raise CameraError("the camera answered for its stream, then closed the connection before its first "
                              "picture")
        got += chunk
    else:
        return
    raise NoAnswer(f"the camera answered but sent no picture within {timeout:g} s (the read_timeout; its "
                   "encoder hung? restarting the camera usually clears it; a camera that takes longer to start "
                   "its stream needs a longer source.read_timeout)")
