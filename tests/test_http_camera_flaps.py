"""A camera whose stream keeps dropping and coming back (flapping), and an HTTP stream that
ends after each first frame, as they are logged and checked.

A flapping camera logged a warning and a ``reconnected`` line at every drop (a camera dropping
every few seconds filled the journal); now its first drop is said, the next ones are debug
lines summed up in one warning a while (``drops.py``), and an outage that follows them is
still warned.  An HTTP stream that ended after its one frame (no snapshot url) was asked why
(``http_check.check``, a ``GET`` of the camera's one slot) at every reconnect; now the verdict is
remembered until the stream ends otherwise.

Real parts: an HTTP server on loopback serving MJPEG as a camera does, read through OpenCV's
FFmpeg backend; the summaries' timing is tested on ``Flaps`` itself with given times.
"""

from __future__ import annotations

import http.server
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import FrameSource, drops, open_source, sample_dir

JPEG = sorted(sample_dir().glob("*.jpg"))[0].read_bytes()
LOGGER = "edge_alpr.stream.sources.opencv"


class Camera(http.server.BaseHTTPRequestHandler):
    """MJPEG at 10 fps, ``frames[n]`` frames on the n-th stream opened (the last entry for every
    stream after), then the connection closed.  ``asked``: the service's own checks (its user
    agent edge-alpr), each answered as a stream too."""

    frames: list[int] = [1]
    streams = 0
    asked = 0
    pictures = False  # the checks are answered one picture (the url turned into a snapshot url)

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.headers.get("User-Agent") == "edge-alpr":
            Camera.asked += 1
            count = 1
            if Camera.pictures:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(JPEG)))
                self.end_headers()
                self.wfile.write(JPEG)
                return
        else:
            count = Camera.frames[min(Camera.streams, len(Camera.frames) - 1)]
            Camera.streams += 1
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            for _ in range(count):
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                 % (len(JPEG), JPEG))
                time.sleep(0.1)
        except OSError:  # the reader went away
            pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    Camera.frames, Camera.streams, Camera.asked, Camera.pictures = [1], 0, 0, False
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _source(httpd: http.server.ThreadingHTTPServer) -> FrameSource:
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": f"http://127.0.0.1:{httpd.server_address[1]}/video", "read_timeout": 3,
        "reconnect_min": 0.1, "reconnect_max": 0.2}}]}, "t")
    return open_source(stream.cameras[0], threading.Event())


def _read_until(source: FrameSource, streams: int, limit: float = 30.0) -> int:
    """Read until the camera served ``streams`` streams and the last one ended; the frames read."""
    frames, started = 0, time.monotonic()
    while time.monotonic() - started < limit:
        got = source.read(0.5)
        frames += got is not None
        if Camera.streams >= streams and got is None and source.failing_since is not None:
            break
    return frames


def _loud(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level and r.name == LOGGER]


def test_a_stream_ending_after_one_frame_is_asked_why_once(server: http.server.ThreadingHTTPServer,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Six streams of one frame each: one check, and each end says the camera ended it."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    source = _source(server)
    try:
        frames = _read_until(source, 6)
    finally:
        source.close()
    assert frames >= 5 and Camera.asked == 1, (frames, Camera.asked, Camera.streams)
    assert (source.last_error or "").endswith("(1 frame(s) since): the camera ended the stream or closed the "
                                              "connection after its first frame (it serves a stream, not one "
                                              "picture)"), source.last_error


def test_a_longer_stream_between_makes_the_camera_asked_again(server: http.server.ThreadingHTTPServer) -> None:
    """The verdict holds until the stream ends otherwise: a stream of 5 frames between, and the
    next one-frame end is asked about again."""
    Camera.frames = [1, 1, 1, 5, 1]
    source = _source(server)
    try:
        _read_until(source, 3)
        asked_before = Camera.asked
        _read_until(source, 7)
    finally:
        source.close()
    assert (asked_before, Camera.asked) == (1, 2), (asked_before, Camera.asked, Camera.streams)


def test_a_streams_verdict_is_asked_again_after_a_while(server: http.server.ThreadingHTTPServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """One-frame ends told "serves a stream", then the url turns into a snapshot url (opening and
    ending as before): asked again after ``ASK_AGAIN`` ends, the new answer is told."""
    monkeypatch.setattr(drops, "ASK_AGAIN", 3)
    source = _source(server)
    try:
        _read_until(source, 2)
        Camera.pictures = True
        _read_until(source, 7)
    finally:
        source.close()
    assert Camera.asked == 2, (Camera.asked, Camera.streams)
    assert "the url serves one picture (image/jpeg)" in (source.last_error or ""), source.last_error


def test_a_flapping_camera_is_said_once_then_summed_up(server: http.server.ThreadingHTTPServer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Streams of 3 frames, each dropped: one warning and one ``reconnected`` line for them all."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    Camera.frames = [3]
    source = _source(server)
    try:
        frames = _read_until(source, 6)
    finally:
        source.close()
    loud = _loud(caplog)
    drops_said = [m for m in loud if "stopped sending frames" in m]
    assert frames >= 15 and len(drops_said) == 1 and len([m for m in loud if "reconnected to" in m]) == 1, loud
    # the quiet drops are summed up at the stop (just after a drop: the last not reconnected), not
    # left to a summary that never comes
    summed = [m for m in loud if "the stream dropped" in m]
    assert len(summed) == 1 and "each time but the last" in summed[0] and len(loud) == 3, loud
    quiet = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and "stopped sending" in
             r.getMessage()]
    assert len(quiet) >= 4, quiet


def test_an_outage_after_quiet_drops_is_warned(server: http.server.ThreadingHTTPServer,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Drops said as debug lines, then the camera is switched off: its failed open is warned
    after the quiet drop's retries (``drops.QUIET_RETRIES``), the quiet drops before it summed up
    in that warning (they were not held back past the outage, nor said to have reconnected each
    time), and nothing more is warned at the stop."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    Camera.frames = [3]
    source = _source(server)
    try:
        _read_until(source, 4)
        server.shutdown()
        server.server_close()
        started = time.monotonic()
        while time.monotonic() - started < 3:
            source.read(0.5)
    finally:
        source.close()
    warned = _loud(caplog, logging.WARNING)
    assert len(warned) == 2 and "stopped sending frames" in warned[0] and "cannot open camera" in warned[1], warned
    assert "the stream dropped 3 more time(s)" in warned[1] and "each time but the last" in warned[1], warned
    failed = [r for r in caplog.records if r.name == LOGGER and "cannot open camera" in r.getMessage()]
    assert [r.levelno for r in failed[:drops.QUIET_RETRIES + 1]] == [logging.DEBUG] * drops.QUIET_RETRIES + [
        logging.WARNING], [(r.levelname, r.getMessage()[:60]) for r in failed]


def test_an_outage_after_a_quiet_drop_is_warned_once_its_retry_is_late(
        server: http.server.ThreadingHTTPServer, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The quiet period after a quiet drop is bounded in time too (``drops.QUIET_S``), not only in
    retries: with a long backoff (``reconnect_min`` of minutes) ``QUIET_RETRIES`` retries kept an
    outage unsaid for as many backoffs.  Here every retry is past a ``QUIET_S`` of 0: the first
    failed reconnect after the quiet drop is warned, the quiet drops folded into it."""
    monkeypatch.setattr(drops, "QUIET_S", 0.0)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    Camera.frames = [3]
    source = _source(server)
    try:
        _read_until(source, 3)
        server.shutdown()
        server.server_close()
        started = time.monotonic()
        while time.monotonic() - started < 10 and len(_loud(caplog, logging.WARNING)) < 2:
            source.read(0.5)
    finally:
        source.close()
    failed = [r for r in caplog.records if r.name == LOGGER and "cannot open camera" in r.getMessage()]
    assert failed and failed[0].levelno == logging.WARNING, [(r.levelname, r.getMessage()[:60]) for r in failed]
    assert "the stream dropped 2 more time(s)" in failed[0].getMessage(), failed[0].getMessage()


def test_a_quiet_drops_failed_retries_are_warned_after_a_count_or_a_time() -> None:
    """``Ends.loud`` with given numbers: quiet while both the retries and the time since the drop
    are within bounds; warned at the first over either."""
    def outage(afters: list[float]) -> list[bool]:
        ends = drops.Ends()
        said = [ends.loud(True, True, 1)]  # the quiet drop
        return said + [ends.loud(False, False, n + 2, after) for n, after in enumerate(afters)]

    assert outage([1.0, 3.0, 7.0, 15.0]) == [False, False, False, False, True]  # reconnect_min 1
    assert outage([300.0]) == [False, True]  # reconnect_min 300: the first failed retry
    assert outage([0.1, 0.3, drops.QUIET_S + 0.1]) == [False, False, False, True]
    assert outage([0.1, 0.2, 0.3, 0.4]) == [False, False, False, False, True]  # QUIET_RETRIES


def test_the_quiet_drops_taken_early_restart_the_window() -> None:
    flaps = drops.Flaps(every_s=600.0)
    assert flaps.take(5.0) is None and flaps.drop(0.0, "cut") and flaps.take(5.0) is None  # none quiet yet
    assert not flaps.drop(10.0, "cut") and not flaps.drop(20.0, "frozen")
    assert flaps.take(30.0) == (2, 30.0, "frozen") and flaps.due(600.0) is None
    assert flaps.drop(40.0, "cut")  # taken: the next drop is said


def test_drops_are_summed_up_a_while_then_said_again_after_a_calm() -> None:
    flaps = drops.Flaps(every_s=600.0)
    assert flaps.drop(0.0, "cut")  # the first: said
    assert not flaps.drop(10.0, "cut") and not flaps.drop(20.0, "frozen")
    assert flaps.due(599.0) is None
    summary = flaps.due(600.0)
    assert summary == (2, 600.0, "frozen"), summary
    assert flaps.due(700.0) is None and not flaps.drop(900.0, "cut")  # still flapping: summed up
    assert flaps.due(1199.0) is None and flaps.due(1200.0) == (1, 600.0, "cut")
    assert flaps.due(1800.0) is None  # a calm window: the next drop is said again
    assert flaps.drop(1900.0, "cut")
