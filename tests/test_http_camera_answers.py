"""An HTTP camera url that is wrong says how: a wrong path, a missing or wrong user and password,
a camera whose one slot another viewer holds (503) and a snapshot url (one picture per request,
not a stream) are each named in ``last_error``, as an RTSP camera's are (``test_rtsp_faults.py``).
The camera is asked why only once OpenCV's open has failed or its stream ended after one frame:
asked before each open, a camera serving one client at a time gave its slot to the question and
OpenCV's open got a 503 (it never opened), and a camera serving one connection at a time never
answered the question's second connection while its first was open.

Real parts: HTTP servers on loopback answering as cameras do (404, 401 with Basic or Digest
``qop=auth``, 503, one JPEG, an MJPEG stream), read through OpenCV's FFmpeg backend.  The Digest
answers themselves: ``test_camera_digest.py``.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import FrameSource, open_source, sample_dir

JPEG = sorted(sample_dir().glob("*.jpg"))[0].read_bytes()
USER, PASSWORD, REALM, NONCE = "admin", "s3cret", "cam", "4e1c2f"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _digest_ok(header: str, method: str) -> bool:
    """Whether ``header`` answers this server's Digest challenge (qop=auth) with the password."""
    pairs = re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s,]*)', header.removeprefix("Digest "))
    got = {k: re.sub(r"\\(.)", r"\1", v[1:-1]) if v.startswith('"') else v for k, v in pairs}
    ha1, ha2 = _md5(f"{USER}:{REALM}:{PASSWORD}"), _md5(f"{method}:{got.get('uri', '')}")
    want = _md5(f"{ha1}:{NONCE}:{got.get('nc', '')}:{got.get('cnonce', '')}:auth:{ha2}")
    return got.get("username") == USER and got.get("qop") == "auth" and got.get("response") == want


def _mjpeg(write: Callable[[bytes], object], frames: int) -> None:
    """``frames`` frames of an MJPEG stream (its body), 10 a second."""
    for _ in range(frames):
        write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(JPEG), JPEG))
        time.sleep(0.1)


class Handler(http.server.BaseHTTPRequestHandler):
    """/snapshot.jpg: one JPEG (/snapshot-digest.jpg: behind Digest); /video: MJPEG for 3 s
    behind Digest (qop=auth); /basic: Basic; /single: MJPEG to one client at a time, 503 to
    others while it runs (it notices a client gone when a write fails, as cameras do); anything
    else: 404.  ``asked``: the paths and Authorization headers of the service's own check (user
    agent edge-alpr)."""

    asked: list[tuple[str, str]] = []
    single = threading.Lock()
    opened = 0  # OpenCV's requests for /changing

    def log_message(self, *args: object) -> None:
        pass

    def _refuse(self, challenge: str) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", challenge)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _head(self, status: int, kind: str, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        if self.headers.get("User-Agent") == "edge-alpr":
            Handler.asked.append((self.path, auth))
        elif self.path == "/changing":
            Handler.opened += 1
        digest = f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth", algorithm=MD5'
        if self.path in ("/video", "/snapshot-digest.jpg") and not _digest_ok(auth, "GET"):
            self._refuse(digest)
        elif self.path in ("/snapshot.jpg", "/snapshot-digest.jpg") or (self.path, Handler.opened <= 3) == (
                "/changing", True):
            self._head(200, "image/jpeg", len(JPEG))
            self.wfile.write(JPEG)
        elif self.path == "/basic":
            self._refuse('Basic realm="cam"')
        elif self.path in ("/video", "/changing"):
            self._head(200, "multipart/x-mixed-replace; boundary=frame")
            try:
                _mjpeg(self.wfile.write, 30 if self.path == "/video" else 5)
            except OSError:  # the reader went away
                pass
        elif self.path == "/single" and not Handler.single.acquire(blocking=False):
            self._head(503, "text/plain", 0)
        elif self.path == "/single":
            try:
                self._head(200, "multipart/x-mixed-replace; boundary=frame")
                _mjpeg(self.wfile.write, 100)
            except OSError:  # the reader went away
                pass
            finally:
                Handler.single.release()
        else:
            self._head(404, "text/plain", 0)


@pytest.fixture
def camera() -> Iterator[str]:
    Handler.asked.clear()
    Handler.opened = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _read(url: str, seconds: float) -> tuple[FrameSource, int]:
    """A camera of ``url`` read for ``seconds``; the source and how many frames came."""
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": url, "read_timeout": 3, "reconnect_min": 0.2, "reconnect_max": 0.5}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    frames, started = 0, time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            frames += source.read(0.5) is not None
    finally:
        source.close()
    return source, frames


@pytest.mark.parametrize("path,userinfo,said", [
    ("/nothing", "", "the camera has no stream at /nothing (404 Not Found); correct the url's path"),
    ("/basic", "", "the camera wants a user and password (401 Unauthorized)"),
    ("/basic", "admin:wrong@", "the camera refused the url's user and password (401 Unauthorized)"),
    ("/video", "admin:wrong@", "the camera refused the url's user and password (401 Unauthorized)"),
])
def test_a_wrong_http_url_is_named(camera: str, path: str, userinfo: str, said: str) -> None:
    source, frames = _read(f"http://{userinfo}{camera}{path}", 1.5)
    assert frames == 0 and source.last_error is not None
    assert source.last_error.startswith(f"cannot open camera: {said}"), source.last_error


def test_the_right_digest_password_opens_the_stream_without_a_hint(camera: str) -> None:
    """A camera that opens is asked nothing by the service itself: its one slot is OpenCV's."""
    source, frames = _read(f"http://{USER}:{PASSWORD}@{camera}/video", 2.0)
    assert frames >= 5 and source.errors == 0 and Handler.asked == [], (frames, source.last_error, Handler.asked)


def test_a_snapshot_behind_digest_is_named_with_the_right_password(camera: str) -> None:
    """The check's Digest answer is right: the camera's picture, not a refused password."""
    source, frames = _read(f"http://{USER}:{PASSWORD}@{camera}/snapshot-digest.jpg", 2.0)
    assert frames >= 1 and source.last_error is not None and "serves one picture" in source.last_error, \
        source.last_error
    answers = [auth for path, auth in Handler.asked if auth]
    assert answers and all(_digest_ok(auth, "GET") for auth in answers), Handler.asked


def test_a_snapshot_url_is_named_and_said_once(camera: str, caplog: pytest.LogCaptureFixture) -> None:
    """Its one picture per request is still read, a picture a reconnect; the log says why once."""
    caplog.set_level(logging.DEBUG, logger="edge_alpr.stream.sources.opencv")
    source, frames = _read(f"http://{camera}/snapshot.jpg", 3.0)
    assert frames >= 3 and source.last_error is not None
    assert "the url serves one picture (image/jpeg) at a time, not a video stream" in source.last_error
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(loud) == 2 and "serves one picture" in loud[0] and "reconnected" in loud[1], loud


def test_a_stream_that_ends_after_a_snapshot_url_became_one_is_warned(camera: str,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The url served one picture (said once), then a stream of 5 frames that ended: that end
    is warned, for what it is (it was a debug line, said to be the one picture again)."""
    caplog.set_level(logging.DEBUG, logger="edge_alpr.stream.sources.opencv")
    _read(f"http://{camera}/changing", 4.0)
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) >= 2 and "serves one picture" in loud[0], loud
    assert "(5 frame(s) since): the camera ended the stream or closed the connection" in loud[1], loud


def test_a_camera_serving_one_client_opens_and_says_when_another_viewer_holds_it(camera: str) -> None:
    """Free, it streams (it never opened when asked just before the open); held by another
    viewer, ``last_error`` says so; let go, the stream comes."""
    host, port = camera.split(":")
    viewer = socket.create_connection((host, int(port)))
    viewer.sendall(b"GET /single HTTP/1.1\r\nHost: cam\r\n\r\n")
    assert viewer.recv(64).startswith(b"HTTP/1.0 200")
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": f"http://{camera}/single", "read_timeout": 3, "reconnect_min": 0.2,
        "reconnect_max": 0.5}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    frames, started = 0, time.monotonic()
    try:
        while source.errors == 0 and time.monotonic() - started < 10:
            source.read(0.5)
        held = source.last_error
        viewer.close()
        while frames < 10 and time.monotonic() - started < 20:
            frames += source.read(0.5) is not None
    finally:
        viewer.close()
        source.close()
    assert frames == 10 and held is not None
    assert held.startswith("cannot open camera: the camera serves no more clients (503 Service Unavailable)"), held


class KeepAliveCamera:
    """A small embedded HTTP server: one connection at a time, kept open until the client
    closes it (``Connection: close`` not honoured), Basic auth, MJPEG behind it."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"127.0.0.1:{self.listener.getsockname()[1]}/video"
        self.good = b"Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode())
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed
                return
            with conn:
                try:
                    self._answer(conn)
                except OSError:  # the client went away
                    pass

    def _answer(self, conn: socket.socket) -> None:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            if self.good not in head:
                conn.sendall(b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="cam"\r\n'
                             b"Content-Length: 0\r\n\r\n")
                continue
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            _mjpeg(conn.sendall, 100)
            return


def _keep_alive_camera(password: str) -> tuple[FrameSource, int]:
    camera = KeepAliveCamera()
    try:
        return _read(f"http://{USER}:{password}@{camera.url}", 2.5)
    finally:
        camera.listener.close()


def test_a_camera_serving_one_connection_at_a_time_opens() -> None:
    """Asked nothing before the open, it serves OpenCV (the check held its one connection)."""
    source, frames = _keep_alive_camera(PASSWORD)
    assert frames >= 10 and source.last_error is None, (frames, source.last_error)


def test_a_camera_serving_one_connection_at_a_time_names_a_wrong_password() -> None:
    """The check asks again on a new connection only once its first is closed (it held the
    first open, and the camera never answered the second)."""
    source, frames = _keep_alive_camera("wrong")
    said = "cannot open camera: the camera refused the url's user and password (401 Unauthorized)"
    assert frames == 0 and (source.last_error or "").startswith(said), source.last_error
