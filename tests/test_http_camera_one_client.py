"""A camera serving one client at a time whose stream keeps dropping, as it is logged and asked.

Why: such a camera frees its slot a moment after its client goes, so the reconnect after each
drop was refused (503) once or twice; each such failure was warned, and the ``reconnected``
after it was an info line, so every drop gave a warning and an info line again and the summary
of the quiet drops never applied (measured: 12 warnings and 11 info lines in 12 s).  And a
stream ending after its one frame was asked why (``http_check.check``) at every end, the camera
answering 503 each time (its slot still held): that answer is now remembered too.  A check
whose answer tells nothing (a 500) is no verdict: the next such end is asked again.

Real parts: an HTTP server on loopback serving MJPEG to one client at a time (503 to the
others, the slot freed a moment after its client went: here after a given number of refusals,
``camera_slot.Slot``), read through OpenCV's FFmpeg backend.
"""

from __future__ import annotations

import http.server
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from camera_slot import Slot
from test_http_camera_flaps import JPEG, LOGGER

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import FrameSource, drops, open_source
from edge_alpr.stream.sources.reach import ONE_CLIENT


class OneClient(http.server.BaseHTTPRequestHandler):
    """``frames`` frames at 10 fps per stream to one client at a time; 503 to a client that
    comes while the slot is taken, which stays taken after the n-th stream's client went until
    ``refusals[n]`` requests were refused (the last entry for every stream after; none after a
    check).  ``asked``: the service's own checks (user agent edge-alpr), answered
    ``check_status`` where set, else as any client; ``streams``: streams served."""

    frames = 3
    refusals = [0]
    streams = 0
    asked = 0
    check_status = 0
    slot = Slot()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        check = self.headers.get("User-Agent") == "edge-alpr"
        OneClient.asked += check
        if check and OneClient.check_status:
            self.send_response(OneClient.check_status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        slot = OneClient.slot  # this test's (a test before may still hold its own)
        held = 0 if check else OneClient.refusals[min(OneClient.streams, len(OneClient.refusals) - 1)]
        if not slot.take(held):
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            OneClient.streams += not check
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            for _ in range(1 if check else OneClient.frames):
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                 % (len(JPEG), JPEG))
                time.sleep(0.1)
        except OSError:  # the reader went away
            pass
        finally:
            self.close_connection = True
            slot.leave()  # before the client can see it went: a free slot is free for its reconnect
            try:  # the connection closed at once (its file objects would hold it open)
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def camera() -> Iterator[http.server.ThreadingHTTPServer]:
    OneClient.frames, OneClient.streams, OneClient.asked, OneClient.check_status = 3, 0, 0, 0
    OneClient.refusals, OneClient.slot = [0], Slot()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OneClient)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _run(httpd: http.server.ThreadingHTTPServer, streams: int, backoff: float = 0.1) -> tuple[FrameSource, int]:
    """Read until the camera served ``streams`` streams, reconnecting ``backoff`` s or twice that
    after a failure; the source (closed) and the frames read."""
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": f"http://127.0.0.1:{httpd.server_address[1]}/video", "read_timeout": 3,
        "reconnect_min": backoff, "reconnect_max": 2 * backoff}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    frames, started = 0, time.monotonic()
    try:
        while OneClient.streams < streams and time.monotonic() - started < 60:
            frames += source.read(0.5) is not None
    finally:
        source.close()
    return source, frames


def test_a_flapping_one_client_camera_is_said_once_then_summed_up(camera: http.server.ThreadingHTTPServer,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Streams of 3 frames, the reconnect after each refused while the slot is held (its open
    and the check asking why): one warning for the drops, one ``reconnected`` info line, and
    their summary at the stop."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    OneClient.refusals = [2]
    source, frames = _run(camera, 7)
    records = [r for r in caplog.records if r.name == LOGGER]
    refused = [r for r in records if "503 Service Unavailable" in r.getMessage()]
    loud = [r.getMessage() for r in records if r.levelno >= logging.INFO]
    assert frames >= 15 and len(refused) == 6, (frames, len(refused))  # each reconnect refused once
    assert len([m for m in loud if "stopped sending frames" in m]) == 1, loud
    assert len([m for m in loud if "reconnected to" in m]) == 1, loud
    assert len([m for m in loud if "cannot open camera" in m]) == 0, loud
    summaries = [m for m in loud if "the stream dropped" in m]
    assert len(summaries) == 1 and len(loud) == 3, loud


def test_a_one_client_cameras_503_after_a_one_frame_end_is_remembered(
        camera: http.server.ThreadingHTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    """Streams of one frame, the check after the first end answered 503 (the slot still held),
    each reconnect after the slot is free: asked once, not at every end."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    OneClient.frames, OneClient.refusals = 1, [1, 0]  # the first end's check refused, no open after
    source, frames = _run(camera, 6)
    assert frames >= 5 and OneClient.asked == 1, (frames, OneClient.asked, OneClient.streams)
    assert "one client at a time" in (source.last_error or ""), source.last_error
    assert "serves a stream" not in (source.last_error or ""), source.last_error  # a 503 does not tell


def test_a_check_answer_that_tells_nothing_is_no_verdict(camera: http.server.ThreadingHTTPServer) -> None:
    """Streams of one frame, the check answered 500 (nothing to judge by): each end is asked
    about, none said to be a stream's (each reconnect after the slot is free)."""
    OneClient.frames, OneClient.check_status = 1, 500
    source, frames = _run(camera, 4)
    assert frames >= 3 and OneClient.asked >= 3, (frames, OneClient.asked, OneClient.streams)
    assert "serves a stream" not in (source.last_error or ""), source.last_error


def test_a_503_verdict_claims_neither_a_stream_nor_one_picture() -> None:
    """A 503 answered after a one-frame end says the camera serves one client at a time, not
    whether the url serves a stream or a snapshot: the remembered verdict claims neither."""
    ends = drops.Ends()
    verdict = ends.judge(f"{ONE_CLIENT} (503 Service Unavailable): another viewer holds its stream")
    assert verdict is not None and "one client at a time" in verdict and not ends.snapshot(), verdict
    assert "serves a stream" not in verdict and "serves one picture" not in verdict, verdict
