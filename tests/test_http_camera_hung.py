"""A hung HTTP camera (it accepts the connection, reads the request and never answers) is asked
(``reach.check``) before its retries take OpenCV's open turn, not opened again by OpenCV.

Why: an HTTP camera is asked nothing before OpenCV's open but the TCP connection (a camera
serving one client at a time gave its slot to an earlier request), so a hung one held the open
turn (``ffmpeg_open.OPEN_TURN``) for its whole ``read_timeout`` at every retry, and every other
url camera's (re)connect waited behind it (measured with ``read_timeout: 5``: a camera beside it
whose stream drops every 3 frames read 123 frames in 40 s, 209 now).  Once the check after a
failed open got no answer, the retries are asked by the check, in the camera's own thread,
until it answers.

Real parts: a server on loopback that reads each request's head and never answers, read by the
real OpenCV source (FFmpeg's requests and the service's own check told apart by user agent).
"""

from __future__ import annotations

import socket
import threading
import time

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import open_source


class HungCamera:
    """Accepts, reads the request's head, records its user agent, and never answers; ``head``:
    answers the head of an MJPEG stream, then sends nothing (a camera whose encoder froze)."""

    def __init__(self, head: bool = False) -> None:
        self.head = head
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        self.agents: list[str] = []
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn = self.listener.accept()[0]
            except OSError:  # closed
                return
            self.held.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
        except OSError:
            return
        agent = [ln for ln in data.decode("latin-1").split("\r\n") if ln.lower().startswith("user-agent:")]
        self.agents.append(agent[0].partition(":")[2].strip() if agent else "")
        if self.head:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for conn in self.held:
            conn.close()


def _retried(camera: HungCamera) -> tuple[list[str], list[str], str]:
    """The service's checks and OpenCV's opens of ``camera`` until its fourth failure, and the
    source's last_error."""
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": f"http://127.0.0.1:{camera.port}/video", "read_timeout": 1,
        "reconnect_min": 0.1, "reconnect_max": 0.2}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    started = time.monotonic()
    try:
        while source.errors < 4 and time.monotonic() - started < 60:
            source.read(0.5)
    finally:
        source.close()
        camera.close()
    assert source.errors >= 4, source.errors
    return ([a for a in camera.agents if a == "edge-alpr"], [a for a in camera.agents if a != "edge-alpr"],
            source.last_error or "")


def test_a_hung_http_camera_is_asked_before_its_retries_take_the_open_turn() -> None:
    checks, opens, last_error = _retried(HungCamera())
    assert len(checks) >= 4 and len(opens) == 1, (checks, opens)
    assert "did not answer within the read_timeout" in last_error, last_error


def test_a_camera_answering_its_head_but_no_picture_is_asked_too() -> None:
    """A frozen encoder: the head of a multipart stream, then nothing.  The check waits for the
    first part's bytes, names the reason, and the retries are asked before they take the turn."""
    checks, opens, last_error = _retried(HungCamera(head=True))
    assert len(checks) >= 4 and len(opens) == 1, (checks, opens)
    assert "the camera answered but sent no picture within 1 s" in last_error, last_error
