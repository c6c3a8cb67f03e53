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

import re
import socket
import time
from urllib.parse import urlsplit, urlunsplit

from ...errors import CameraError
from .reach import HEAD_END, MAX_HEADER_BYTES, Answer, NoAnswer, _connect, _log_in, _port, _response, _verdict

ONE_PICTURE = "the url serves one picture"  # how the hint for a snapshot url starts
OTHER_PICTURES = "the stream's parts are typed"  # how the hint for an MJPEG stream of PNGs (or others) starts
# FFmpeg's MJPEG stream reader (mpjpeg) rejects every part typed otherwise, image/jpg and image/pjpeg too
# (measured: 0 frames in 3 s of a stream of JPEG pictures typed image/jpg, 31 typed image/jpeg)
JPEG_TYPES = ("image/jpeg",)
HUNG = ("the camera answered but sent no picture within %g s (the read_timeout), nor in %g s more (its encoder "
        "hung? restarting the camera usually clears it; a camera that takes longer to start its stream needs a "
        "longer source.read_timeout)")
STREAM = ""  # check's answer where the camera answered with its stream (None: the answer tells nothing)


class SlowStart(CameraError):
    """The camera's first picture (its start, or a whole part) came ``took`` s after the request,
    after the read_timeout (``_first_part``): OpenCV's open, bounded by it, failed for that alone."""

    def __init__(self, took: float, message: str) -> None:
        super().__init__(message)
        self.took = took


class LateStart:
    """How long OpenCV's opens of an HTTP camera may take: its read_timeout, or twice it once
    ``check`` saw its first picture come later (``SlowStart``).  Why not for good: an open given
    twice the read_timeout that runs it out is a hung camera's (a picture begun and never ended,
    or a camera slow once, hung now), and each retry given that much held the process-wide open
    turn twice as long; so it is taken for hung, its opens given the read_timeout again, and a
    later check gives the longer open back only for a whole picture (``doubted``) till it opens."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.open_s: float | None = None  # what OpenCV's open is given; None: the read_timeout
        self.doubted = False  # an open given twice the read_timeout failed, none has opened since

    def checked(self, e: CameraError) -> None:
        """``check`` raised ``e``: a late first picture earns the longer open (lost at its open's
        failure, ``failed``)."""
        if isinstance(e, SlowStart):
            self.open_s = 2 * self.timeout

    def failed(self, took: float) -> str | None:
        """An open failed after ``took`` s: why, where it had been given twice the read_timeout
        and ran it out (hung); else None.  Why not every failure of such an open: one refused at
        once (a 503 while another viewer holds a one-client camera's slot, a 401, a reset) is no
        hung camera's, and goes the usual way (asked why, ``check``), its longer open kept; taken
        for hung, it was told its encoder hung and its stream came back only after an open given
        the read_timeout failed again and a check saw its picture late (measured, 503 for 4 s,
        first picture after 1.5 s, ``read_timeout: 1``: frames again 5.4 s after the slot was
        freed, where they now come 1.9 s after)."""
        if self.open_s is None or took < 0.9 * self.open_s:
            return None
        self.open_s, self.doubted = None, True
        return (f"no picture within {2 * self.timeout:g} s, twice source.read_timeout, given to its open since its "
                "first picture had come late: taken for hung (its encoder hung? restarting the camera usually "
                "clears it), asked before each open till a whole picture comes")

    def opened(self) -> bool:
        """An open succeeded: whether it was given twice the read_timeout (its grab then waits for
        the next read, within ``max_block_s``)."""
        self.doubted = False
        return self.open_s is not None


def check(url: str, timeout: float, whole: bool = False) -> str | None:
    """Why an HTTP camera's open failed or its stream ended after one frame, asked within
    ``timeout`` s (a ``GET`` with the url's user and password where it wants them, each on a
    connection of its own, the first closed before the second opens: a camera serving one
    connection at a time answers the second); ``STREAM`` (falsy) where it answered with a stream
    (a multipart one's first part, its headers or picture, comes too: ``_first_part``), None where the answer says
    nothing either way; ``whole``: a first picture later than ``timeout`` counts only whole
    (``LateStart.doubted``).  Raises CameraError where the camera cannot be reached or does not answer."""
    parts = urlsplit(url)
    port = _port(parts) if parts.scheme.lower() == "http" and parts.hostname else None
    if port is None:
        return None
    deadline = time.monotonic() + timeout
    host = parts.hostname or ""
    netloc = (host if ":" not in host else f"[{host}]") + (f":{port}" if parts.port else "")
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    parts_kind: list[str] = []  # the first part's content type, of each multipart answer

    def ask(extra: str = "") -> Answer:
        with _connect(host, port, deadline, parts.scheme) as conn:
            try:
                conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {netloc}\r\nUser-Agent: edge-alpr\r\n"
                             f"Accept: */*\r\nConnection: close\r\n{extra}\r\n".encode())
                answer = _response(conn, deadline, body=False)
                if 200 <= answer.status < 300 and _kind(answer).startswith("multipart/"):
                    parts_kind.append(_first_part(conn, answer.body, deadline, timeout, whole))
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
    said = _stranger_answer(answer, kind)
    if said:
        return said
    if 200 <= answer.status < 300 and parts_kind and parts_kind[-1].startswith("image/") \
            and parts_kind[-1] not in JPEG_TYPES:
        return (f"{OTHER_PICTURES} {parts_kind[-1]}; FFmpeg reads only parts typed image/jpeg, none of these "
                "(the stream seemed to end at once): set the camera's stream to MJPEG (JPEG pictures typed "
                "image/jpeg), or give source.url its RTSP stream")
    return STREAM if 200 <= answer.status < 300 else _verdict(answer.status, parts, tried)


def _stranger_answer(answer: Answer, kind: str) -> str | None:
    """What an answer that is no stream says: an RTSP server on the port, a redirect the open did
    not get past (to itself, or a login page), a web page; None for the others.  Why: each read
    ``cannot open camera`` and nothing more."""
    if answer.protocol == "RTSP":
        return "the url's port answers RTSP, not HTTP: give source.url rtsp://... (the camera's RTSP stream)"
    if 300 <= answer.status < 400:
        return (f"the url redirects ({answer.status}) to {answer.headers.get('location') or 'nowhere'}, which "
                "did not open (a login page? a loop?): give source.url the stream's own url")
    if 200 <= answer.status < 300 and (kind.startswith("text/") or kind in ("application/json", "application/xml")):
        return (f"the url serves {kind} (a web page or an API's answer), not a video stream: give source.url the "
                "camera's MJPEG or RTSP stream")
    return None


def _kind(answer: Answer) -> str:
    return answer.headers.get("content-type", "").partition(";")[0].strip().lower()


def _first_part(conn: socket.socket, got: bytes, deadline: float, timeout: float, whole: bool) -> str:
    """Wait for the first part of a multipart stream after its head (``got``: the bytes after the
    head so far): its headers' end or a JPEG's start; its content type ('' where not said).  Why:
    a camera whose encoder froze answers ``200 multipart/x-mixed-replace`` and then sends nothing,
    so OpenCV's open of it held the open turn for its whole read_timeout at every retry
    (measured: 10 opens, the turn held 9.9 s of 12 with ``read_timeout: 1``) and said only that
    it could not open; raised as ``NoAnswer``, its retries are asked here first (``drops.py``).
    Why not its first byte: mjpg-streamer and its forks write the first boundary line with the
    head, then wait for a frame, so a frozen one sent bytes and was opened by OpenCV at every retry.

    Why a second ``timeout`` after ``deadline``: a camera whose first picture comes later than
    the read_timeout (one that starts its sensor for each client) is no hung one; judged hung,
    its retries were only asked, and it was told its encoder hung.  Its picture is waited for
    that much longer (the check holds no open turn; within the read's ``max_block_s``), and the
    answer says how late it came and the read_timeout it needs (``SlowStart``): its opens are
    then given twice the read_timeout (``LateStart``).  Only its picture earns that, its start
    (a JPEG's first bytes) or a whole part, and only a whole one (``whole``) once such an open
    failed: a part's headers alone, late, then nothing (an encoder that hung mid-part) is a hung
    camera, whose opens given twice the read_timeout held the open turn that long at every retry
    (measured, headers after 1.5 s, ``read_timeout: 1``: 5 opens in 20 s, the turn held 9.1 s)."""
    late, started = deadline + timeout, deadline - timeout
    while True:
        end, now = HEAD_END.search(got), time.monotonic()
        seen = _picture(got, end, whole)
        if seen or (end and now <= deadline) or (not end and len(got) > MAX_HEADER_BYTES):
            break
        if now >= late:
            raise NoAnswer(HUNG % (timeout, timeout) + ("; its first picture began, never to end" if b"\xff\xd8" in got
                                                        else "; the headers of its first part came, then nothing of "
                                                        "its picture" if end else ""))
        conn.settimeout(late - now)
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            raise CameraError("the camera answered for its stream, then closed the connection before its first "
                              "picture")
        got += chunk
    if now > deadline:
        took = now - started
        raise SlowStart(took, f"{seen or 'the first part of its stream'} came {took:.1f} s after the request, later "
                        f"than source.read_timeout ({timeout:g} s), within which OpenCV's open must have it: opened "
                        f"with up to {2 * timeout:g} s from now on; raise source.read_timeout to "
                        f"{max(2 * took, timeout + 1):.0f} s or more to be sure")
    head = got[:end.start()] if end and b"\xff\xd8" not in got[:end.start()] else b""
    return _type(head)


def _type(head: bytes) -> str:
    """A part's content type, from its headers ('' where not said)."""
    kinds = [v for k, _, v in (ln.partition(":") for ln in head.decode("latin-1").splitlines())
             if k.strip().lower() == "content-type"]
    return kinds[0].partition(";")[0].strip().lower() if kinds else ""


def _picture(got: bytes, end: re.Match[bytes] | None, whole: bool) -> str:
    """What of the first part's picture ``got`` holds: a whole part of the length its headers
    say, a whole JPEG, or (unless ``whole``) the start of one; '' where none."""
    sizes = [v.strip() for k, _, v in (ln.partition(":") for ln in got[:end.start()].decode("latin-1").splitlines())
             if k.strip().lower() == "content-length"] if end else []
    if end and sizes and sizes[0].isdigit() and len(got) - end.end() >= int(sizes[0]):
        return "the camera's first picture (a whole part)"
    start = got.find(b"\xff\xd8")
    if start >= 0 and got.find(b"\xff\xd9", start + 2) >= 0:
        return "the camera's first picture (a whole JPEG)"
    return "the start of the camera's first picture (a JPEG)" if start >= 0 and not whole else ""
