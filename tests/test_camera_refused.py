"""A camera url whose port refuses the connection is told to check the port of its own kind
(RTSP, HTTP, HTTPS), not always RTSP's: an HTTP camera's advice named "its RTSP port".

Real parts: a port on loopback that was listening and is closed (nothing listens there, so the
kernel refuses the connection), asked by the real check before OpenCV's open.
"""

from __future__ import annotations

import socket

import pytest

from edge_alpr.errors import CameraError
from edge_alpr.stream.sources.reach import probe


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as server:
        return int(server.getsockname()[1])


@pytest.mark.parametrize(("scheme", "named", "unnamed"), [
    ("rtsp", "its RTSP port, usually 554", "HTTP"),
    ("http", "its HTTP (MJPEG) port, usually 80", "RTSP"),
    ("https", "its HTTPS port, usually 443", "RTSP"),
])
def test_a_refused_port_is_told_to_check_its_own_kinds_port(scheme: str, named: str, unnamed: str) -> None:
    port = _closed_port()
    with pytest.raises(CameraError) as raised:
        probe(f"{scheme}://127.0.0.1:{port}/stream", 2.0)
    said = str(raised.value)
    assert f"cannot connect to 127.0.0.1 port {port}" in said, said
    assert named in said and unnamed not in said, said
