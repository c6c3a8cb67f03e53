"""HTTP MJPEG cameras that are no hung ones: a stream of PNG pictures (its headers' lines ended
by LF alone), and a camera whose first picture comes later than ``read_timeout``.

Before: the PNG stream was opened by FFmpeg, read no frame and was said to have "ended the
stream or closed the connection", twice a second for ever; the slow camera's failed open was
followed by a check that judged it hung ("its encoder hung?"), so its retries were only
checked and it never streamed.

Real parts: MJPEG cameras on loopback (``mjpeg_camera.py``) read by the real OpenCV source.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import Any

import cv2
import numpy as np
import pytest
from mjpeg_camera import MjpegCamera, jpeg_part, picture
from raw_http import accept_each, read_head

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import FrameSource, open_source
from edge_alpr.stream.sources import opencv as opencv_source

LF_HEAD = b"HTTP/1.0 200 OK\nContent-Type: multipart/x-mixed-replace; boundary=frame\n\n"


def png_part(_: bytes) -> bytes:
    pixels = np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    pic = bytes(cv2.imencode(".png", pixels)[1].tobytes())
    return b"--frame\nContent-Type: image/png\nContent-Length: %d\n\n%s\n" % (len(pic), pic)


def _read(camera: MjpegCamera, seconds: float, read_timeout: float = 1.0) -> tuple[int, list[str], int]:
    """Frames read from ``camera`` in ``seconds``, each last_error said, and its errors."""
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": camera.url, "read_timeout": read_timeout,
        "reconnect_min": 0.1, "reconnect_max": 0.5}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    frames, said, started = 0, [], time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            frames += source.read(0.5) is not None
            if source.last_error and source.last_error not in said:
                said.append(source.last_error)
    finally:
        source.close()
        camera.close()
    return frames, said, source.errors


def test_a_stream_of_png_pictures_is_said_to_be_png_not_ended() -> None:
    frames, said, errors = _read(MjpegCamera(part=png_part, head=LF_HEAD), 4.0)
    assert frames == 0 and errors >= 2, (frames, errors)
    assert said and all("parts are typed image/png; FFmpeg reads only parts typed image/jpeg" in s for s in said), said
    assert not [s for s in said if "hung" in s], said


@pytest.mark.parametrize("kind", ["image/jpg", "image/pjpeg"])
def test_jpeg_pictures_typed_otherwise_than_image_jpeg_are_said_to_be(kind: str) -> None:
    """JPEG pictures in parts typed image/jpg or image/pjpeg: FFmpeg's MJPEG stream reader
    takes no part typed otherwise than image/jpeg, and read none of them; before, the check
    took those types for JPEG and said only that the stream ended."""
    def part(pic: bytes) -> bytes:
        return b"--frame\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s\r\n" % (kind.encode(), len(pic), pic)
    frames, said, errors = _read(MjpegCamera(part=part), 4.0)
    assert frames == 0 and errors >= 2, (frames, errors)
    assert said and all(f"parts are typed {kind}; FFmpeg reads only parts typed image/jpeg" in s for s in said), said


def test_a_camera_whose_first_picture_comes_after_the_read_timeout_streams() -> None:
    frames, said, _ = _read(MjpegCamera(first_after=1.5), 10.0)
    assert frames >= 5, (frames, said)
    assert said and re.search(r"first picture \((a whole part|a whole JPEG|a JPEG)\) came 1\.", said[0]), said
    assert "later than source.read_timeout (1 s)" in said[0], said
    assert not [s for s in said if "hung" in s], said


def test_the_read_that_opens_a_slow_camera_with_twice_the_read_timeout_grabs_nothing() -> None:
    """An open given twice the read_timeout, and a grab after it in the same read, could take
    three times the read_timeout, past the capture thread's ``max_block_s``: the frame is
    grabbed at the next read."""
    camera = MjpegCamera(first_after=1.5)
    source = _source(camera.url)
    started, opened_by = time.monotonic(), []
    try:
        while source.connects == 0 and time.monotonic() - started < 20:
            opened_by.append(source.read(0.5))
        assert source.connects == 1, source.last_error
        assert opened_by[-1] is None
        while time.monotonic() - started < 20:
            if source.read(0.5) is not None:
                break
        else:
            raise AssertionError(source.last_error)
    finally:
        source.close()
        camera.close()


class MoodyCamera:
    """An MJPEG camera whose ``mood`` says how it answers each request: ``slow``, its head and,
    after ``first_after`` s, 10 pictures a second; ``hung``, its head and then nothing (its
    encoder hung), every stream it was sending ended; ``busy``, 503 (another viewer holds its
    one slot), every stream it was sending ended.  Each request's user agent and the
    mood it found are kept (FFmpeg's opens and the service's checks told apart)."""

    def __init__(self, first_after: float) -> None:
        self.mood, self.first_after, self.epoch = "slow", first_after, 0
        self.requests: list[tuple[str, str]] = []
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/video"
        self._picture = picture()
        accept_each(self.sock, self._serve)

    def hang(self, mood: str = "hung") -> None:
        self.mood, self.epoch = mood, self.epoch + 1

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(30)
                request = read_head(conn)
                if request is None:
                    return  # a probe of the port alone
                agent = [ln for ln in request[0].decode("latin-1").split("\r\n")
                         if ln.lower().startswith("user-agent:")]
                mood, epoch = self.mood, self.epoch
                self.requests.append((agent[0].partition(":")[2].strip() if agent else "", mood))
                if mood == "busy":
                    conn.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                    return
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
                if mood == "hung":
                    conn.recv(1)  # till the client goes
                    return
                time.sleep(self.first_after)
                while self.epoch == epoch:
                    conn.sendall(jpeg_part(self._picture))
                    time.sleep(0.1)
            except OSError:
                pass  # the client went

    def opens(self) -> list[str]:
        return [mood for agent, mood in self.requests if agent != "edge-alpr"]

    def close(self) -> None:
        self.sock.close()
        self.epoch += 1


def _source(url: str) -> FrameSource:
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": url, "read_timeout": 1, "reconnect_min": 0.1, "reconnect_max": 0.5}}]}, "t")
    return open_source(stream.cameras[0], threading.Event())


@pytest.fixture()
def open_times(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """How long each of OpenCV's opens was given (None: the read_timeout): the real open, its
    argument kept."""
    given: list[float | None] = []
    real = opencv_source.open_capture

    def open_capture(cv2: Any, cfg: Any, open_s: float | None = None) -> Any:
        given.append(open_s)
        return real(cv2, cfg, open_s)

    monkeypatch.setattr(opencv_source, "open_capture", open_capture)
    return given


def _until(source: FrameSource, done: Any, seconds: float = 20.0) -> int:
    """Read ``source`` till ``done()`` or ``seconds``; the frames read."""
    frames, started = 0, time.monotonic()
    while not done() and time.monotonic() - started < seconds:
        frames += source.read(0.5) is not None
    assert done(), source.last_error
    return frames


def test_a_slow_camera_that_hangs_is_taken_for_hung_after_one_longer_open(open_times: list[float | None]) -> None:
    """A camera slow to start (1.5 s, read_timeout 1) streams with opens given twice the
    read_timeout; then its encoder hangs (its head, then nothing).  One such open fails: the
    camera is taken for hung (its retries asked, not opened) and its longer open is cleared, so
    it holds the open turn no longer than any camera; before, it kept twice the read_timeout for
    ever, even once its pictures came in time."""
    camera = MoodyCamera(first_after=1.5)
    source = _source(camera.url)
    try:
        frames = [0]

        def streamed() -> bool:
            frames[0] += source.failing_since is None and source.connects > 0
            return frames[0] >= 3
        _until(source, streamed)
        assert open_times[-1] == 2.0, open_times
        camera.hang()
        _until(source, lambda: source.errors >= source.connects + 4)
        hung_opens = [o for o in camera.opens() if o == "hung"]
        assert hung_opens == ["hung"], camera.requests  # one open, then only asked
        assert open_times[-1] == 2.0, open_times  # that one open
        said = source.last_error or ""
        assert "the camera answered but sent no picture within 1 s" in said, said
        camera.mood, camera.first_after = "slow", 0.0
        opened = len(open_times)
        _until(source, lambda: source.failing_since is None)
        assert open_times[opened:] and all(o is None for o in open_times[opened:]), open_times
    finally:
        source.close()
        camera.close()


def test_a_camera_judged_hung_then_slow_is_opened_with_twice_the_read_timeout(open_times: list[float | None]) -> None:
    """First too slow (2.5 s: hung, asked before each open), then slow (1.5 s): the check in the
    hung camera's retries says it came late and that its opens are given twice the
    read_timeout, and the next open is; before, it was given the read_timeout, failed, and only
    the check after that failure gave the longer open."""
    camera = MoodyCamera(first_after=2.5)
    source = _source(camera.url)
    try:
        _until(source, lambda: "sent no picture" in (source.last_error or ""))
        opened = len(open_times)
        camera.first_after = 1.5
        _until(source, lambda: source.connects > 0)
        assert open_times[opened:] == [2.0], open_times
    finally:
        source.close()
        camera.close()


def test_a_slow_camera_whose_slot_another_viewer_takes_is_told_503_and_keeps_its_longer_open(
        open_times: list[float | None]) -> None:
    """A camera slow to start (1.5 s, read_timeout 1) streams with opens given twice the
    read_timeout; then another viewer takes its one slot (503 to every request).  Its opens,
    refused at once, are no hung camera's: it is told the 503 and its opens keep twice the
    read_timeout, so the first open after the slot is freed streams.  Before, the first refused
    open took it for hung ("its encoder hung?"), its longer open was lost, and once the slot
    was free an open given the read_timeout failed before a check gave the longer one back."""
    camera = MoodyCamera(first_after=1.5)
    source = _source(camera.url)
    said: list[str] = []
    frames = [0]

    def saying(done: Any) -> Any:
        def check() -> bool:
            if source.last_error and source.last_error not in said:
                said.append(source.last_error)
            return bool(done())
        return check

    def streamed() -> bool:
        frames[0] += source.failing_since is None and source.connects > 0
        return frames[0] >= 3
    try:
        _until(source, streamed)
        assert open_times[-1] == 2.0, open_times
        said.append(source.last_error or "")  # what it said before: the late picture's
        camera.hang("busy")
        opened = len(open_times)
        _until(source, saying(lambda: len([o for o in camera.opens() if o == "busy"]) >= 3))
        assert open_times[opened:] and all(o == 2.0 for o in open_times[opened:]), open_times
        camera.mood = "slow"
        refused = len(open_times)
        _until(source, saying(lambda: source.failing_since is None))
        assert open_times[refused:] == [2.0], open_times  # the first open after the 503s streams
        refusals = [s for s in said[1:] if s.startswith("cannot open camera")]  # after the stream's end
        assert refusals and all("503" in s for s in refusals), said
        assert not [s for s in said if "hung" in s], said
    finally:
        source.close()
        camera.close()
