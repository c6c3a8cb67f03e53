"""A camera whose HTTP head (and its parts' headers) ends lines with LF alone, which FFmpeg
accepts: its answer is read, not judged hung (a real server over loopback).

Before: the head was looked for only up to a CRLF CRLF, so such a camera's answer read as "too
slowly" after its read_timeout; after one failed open it stayed on the hung path, its retries
only checked, and OpenCV never opened it again.
"""

from __future__ import annotations

import socket
import threading
import time

from edge_alpr.stream.sources.http_check import OTHER_PICTURES, STREAM, check

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2000 + b"\xff\xd9"


def _camera(head: bytes, part: bytes) -> tuple[str, socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(head)
            time.sleep(0.2)  # the part arrives after the head, in a send of its own
            try:
                conn.sendall(part)
                conn.recv(1)  # held open until the check closes it
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/video", server


def test_an_lf_only_head_and_part_read_as_a_stream_of_pngs() -> None:
    """Read, not hung; its parts' type said (FFmpeg reads an MJPEG stream's JPEGs only)."""
    url, server = _camera(b"HTTP/1.0 200 OK\nContent-Type: multipart/x-mixed-replace; boundary=frame\n\n",
                          b"--frame\nContent-Type: image/png\n\n" + b"\x89PNG" + b"\x00" * 100)
    with server:
        assert (check(url, 5.0) or "").startswith(f"{OTHER_PICTURES} image/png;")


def test_an_lf_only_head_with_a_jpeg_part_reads_as_a_stream() -> None:
    url, server = _camera(b"HTTP/1.1 200 OK\nContent-Type: multipart/x-mixed-replace;boundary=b\n\n",
                          b"--b\nContent-Type: image/jpeg\n\n" + JPEG)
    with server:
        assert check(url, 5.0) == STREAM
