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
import time
from collections.abc import Callable

import pytest

from edge_alpr.errors import CameraError
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
