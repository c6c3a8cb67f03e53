"""What answers a camera's url but is no stream is said as what it is: another service on the
port (an SSH banner), an HTTP server on the RTSP url's port and the reverse, a redirect OpenCV
did not get past, a web page.

Before: the banner read as "the camera answered too slowly" (its head never came), and the
others as ``cannot open camera`` and nothing more.

Real parts: raw servers on loopback (``image_server.py``) asked by the real checks, the ones
``opencv.py`` asks before and after OpenCV's open.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

from edge_alpr.errors import CameraError
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import open_source
from edge_alpr.stream.sources.http_check import check
from edge_alpr.stream.sources.reach import NoAnswer, probe
from tests.image_server import ImageServer, send

pytest_plugins = ["tests.image_server"]

Start = Callable[..., ImageServer]


def _banner(conn: socket.socket, base: str) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH_8.9\r\n")
    time.sleep(3)  # waits for the client's own banner, as sshd does


def test_another_service_on_the_port_is_said_not_too_slow(image_server: Start) -> None:
    server = image_server(_banner)
    with pytest.raises(CameraError) as raised:
        check(f"{server.base}/video", 1.0)
    assert not isinstance(raised.value, NoAnswer), raised.value
    assert "answers neither HTTP nor RTSP ('SSH-2.0-OpenSSH_8.9')" in str(raised.value), raised.value


def test_an_http_server_on_the_rtsp_urls_port_is_said(image_server: Start) -> None:
    server = image_server(send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
    said = probe(server.base.replace("http://", "rtsp://") + "/stream1", 2.0) or ""
    assert said.startswith("the url's port answers HTTP, not RTSP (400)"), said


@pytest.mark.parametrize("closes", [True, False])
def test_an_http_server_wanting_a_password_on_the_rtsp_urls_port_is_said_and_sent_none(
        image_server: Start, closes: bool) -> None:
    """rtsp://user:password@camera:80/... where port 80 is the camera's web page, answering 401
    to anything: said from its first answer, before any password is sent.  Before, the password
    went to the HTTP server, and one that closes after its 401 (``Connection: close``) left only
    "the camera closed the connection without answering"."""
    asked: list[bytes] = []

    def web_page(conn: socket.socket, base: str) -> None:
        request = b""
        while True:
            asked.append(request)
            conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"web\"\r\n"
                         b"Content-Length: 0\r\n" + (b"Connection: close\r\n\r\n" if closes else b"\r\n"))
            if closes or not (request := conn.recv(65536)):
                return

    server = image_server(web_page)
    said = probe(server.base.replace("http://", "rtsp://admin:secret@") + "/stream1", 2.0) or ""
    assert said.startswith("the url's port answers HTTP, not RTSP (401)"), said
    assert not [r for r in server.requests + asked if b"Authorization" in r], server.requests + asked


def test_an_rtsp_server_on_the_http_urls_port_is_said(image_server: Start) -> None:
    server = image_server(send(b"RTSP/1.0 400 Bad Request\r\nCSeq: 0\r\n\r\n"))
    said = check(f"{server.base}/video", 2.0) or ""
    assert said.startswith("the url's port answers RTSP, not HTTP"), said


def test_a_redirect_is_said_with_where_it_goes(image_server: Start) -> None:
    server = image_server(send(b"HTTP/1.1 302 Found\r\nLocation: /login.html\r\nContent-Length: 0\r\n\r\n"))
    said = check(f"{server.base}/video", 2.0) or ""
    assert said.startswith("the url redirects (302) to /login.html"), said


def test_a_web_page_is_no_stream(image_server: Start) -> None:
    page = b"<html><body>Login</body></html>"
    server = image_server(send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                               b"Content-Length: %d\r\n\r\n%s" % (len(page), page)))
    said = check(f"{server.base}/", 2.0) or ""
    assert said.startswith("the url serves text/html (a web page"), said


def _trickle(conn: socket.socket, base: str) -> None:
    """The head and the first part's headers at once, then its picture at 200 bytes/s."""
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n"
                 b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 20000\r\n\r\n")
    for _ in range(100):
        conn.sendall(b"\xff" * 20)
        time.sleep(0.1)


def test_a_stream_whose_pictures_trickle_says_the_stream_answers_but_no_picture_came(image_server: Start) -> None:
    """It read ``cannot open camera`` and nothing more: the check after the failed open found the
    stream's head and first part, so it had no verdict."""
    server = image_server(_trickle)
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": f"{server.base}/video", "read_timeout": 1,
        "reconnect_min": 0.1, "reconnect_max": 0.5}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    started = time.monotonic()
    try:
        while source.errors < 1 and time.monotonic() - started < 30:
            source.read(0.5)
    finally:
        source.close()
    said = source.last_error or ""
    assert said.startswith("cannot open camera: the camera answers with its stream"), said
    assert "no picture of it within the read_timeout (1 s)" in said, said


def test_a_head_without_end_is_no_stream(image_server: Start) -> None:
    """It read as a stream (its status line said 200), so its failed opens blamed the pictures."""
    server = image_server(send(b"HTTP/1.0 200 OK\r\nX-Pad: " + b"a" * 70_000 + b"\r\n"))
    with pytest.raises(CameraError) as raised:
        check(f"{server.base}/video", 2.0)
    assert "no end to its head within 64 KB" in str(raised.value), raised.value
