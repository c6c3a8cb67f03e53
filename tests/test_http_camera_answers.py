"""An HTTP camera url that is wrong says how: a wrong path, a missing or wrong user and password,
and a snapshot url (one picture per request, not a stream) are each named in ``last_error``, as
an RTSP camera's are (``test_rtsp_faults.py``).  Before, the first three read ``cannot open
camera`` and a snapshot url logged a warning and a line every second, each saying only that the
camera ended the stream.

Real parts: an HTTP server on loopback answering as cameras do (404, 401 with Basic or Digest
``qop=auth``, one JPEG, an MJPEG stream), read through OpenCV's FFmpeg backend.  The Digest
answer is checked against RFC 2617's own worked example.
"""

from __future__ import annotations

import hashlib
import http.server
import logging
import re
import threading
import time
from collections.abc import Iterator

import pytest

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import FrameSource, open_source, sample_dir
from edge_alpr.stream.sources.reach import _authorization

JPEG = sorted(sample_dir().glob("*.jpg"))[0].read_bytes()
USER, PASSWORD, REALM, NONCE = "admin", "s3cret", "cam", "4e1c2f"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _digest_ok(header: str, method: str) -> bool:
    """Whether ``header`` answers this server's Digest challenge (qop=auth) with the password."""
    got = dict(re.findall(r'(\w+)="?([^",]*)"?', header.removeprefix("Digest ")))
    ha1, ha2 = _md5(f"{USER}:{REALM}:{PASSWORD}"), _md5(f"{method}:{got.get('uri', '')}")
    want = _md5(f"{ha1}:{NONCE}:{got.get('nc', '')}:{got.get('cnonce', '')}:auth:{ha2}")
    return got.get("username") == USER and got.get("qop") == "auth" and got.get("response") == want


class Handler(http.server.BaseHTTPRequestHandler):
    """/snapshot.jpg: one JPEG; /video: MJPEG for 3 s behind Digest (qop=auth); /basic: Basic;
    anything else: 404."""

    def log_message(self, *args: object) -> None:
        pass

    def _refuse(self, challenge: str) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", challenge)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        if self.path == "/snapshot.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(JPEG)))
            self.end_headers()
            self.wfile.write(JPEG)
        elif self.path == "/basic":
            self._refuse('Basic realm="cam"')
        elif self.path == "/video" and not _digest_ok(auth, "GET"):
            self._refuse(f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth", algorithm=MD5')
        elif self.path == "/video":
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            try:
                for _ in range(30):
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                     % (len(JPEG), JPEG))
                    time.sleep(0.1)
            except OSError:  # the reader went away
                pass
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture
def camera() -> Iterator[str]:
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
    """The Digest answer with qop=auth is right (a wrong one would call the password refused)."""
    source, frames = _read(f"http://{USER}:{PASSWORD}@{camera}/video", 2.0)
    assert frames >= 5 and source.errors == 0, (frames, source.last_error)


def test_a_snapshot_url_is_named_and_said_once(camera: str, caplog: pytest.LogCaptureFixture) -> None:
    """Its one picture per request is still read, a picture a reconnect; the log says why once."""
    caplog.set_level(logging.DEBUG, logger="edge_alpr.stream.sources.opencv")
    source, frames = _read(f"http://{camera}/snapshot.jpg", 3.0)
    assert frames >= 3 and source.last_error is not None
    assert "the url serves one picture (image/jpeg) at a time, not a video stream" in source.last_error
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(loud) == 2 and "serves one picture" in loud[0] and "reconnected" in loud[1], loud


def test_the_digest_answer_is_rfc_2617s_worked_example() -> None:
    """RFC 2617 section 3.5: Mufasa, "Circle Of Life", qop=auth, cnonce 0a4f113b."""
    challenge = ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                 'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    said = _authorization(challenge, "Mufasa", "Circle Of Life", "/dir/index.html", "GET", cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in said
    assert 'qop=auth, nc=00000001, cnonce="0a4f113b"' in said and 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in said
