"""A hung HTTP camera (it accepts the connection, reads the request and never answers) is asked
(``http_check.check``) before its retries take OpenCV's open turn, not opened again by OpenCV.

Why: an HTTP camera is asked nothing before OpenCV's open but the TCP connection (a camera
serving one client at a time gave its slot to an earlier request), so a hung one held the open
turn (``ffmpeg_open.OPEN_TURN``) for its whole ``read_timeout`` at every retry, and every other
url camera's (re)connect waited behind it (measured with ``read_timeout: 5``: a camera beside it
whose stream drops every 3 frames read 123 frames in 40 s, 209 now).  Once the check after a
failed open got no answer, the retries are asked by the check, in the camera's own thread,
until it answers.  So is a camera whose encoder froze (it answers the head of its MJPEG stream,
then nothing): the check waits for the first picture's bytes.  A camera serving one client that
comes back refuses OpenCV's open just after the check's answer (its slot not yet free): said so,
not blamed on another viewer.

Real parts: a server on loopback that reads each request's head and never answers (or answers
the head alone, or comes back serving MJPEG to one client at a time), read by the
real OpenCV source (FFmpeg's requests and the service's own check told apart by user agent).
"""

from __future__ import annotations

import socket
import threading
import time

from camera_slot import Slot

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import open_source, sample_dir
from edge_alpr.stream.sources.http_check import STREAM, check

JPEG = sorted(sample_dir().glob("*.jpg"))[0].read_bytes()


class HungCamera:
    """Accepts, reads the request's head, records its user agent, and never answers; ``head``:
    answers the head of an MJPEG stream, then sends nothing (a camera whose encoder froze), or
    ``head`` and ``then``, then after ``later`` s ``rest``."""

    def __init__(self, head: bool = False, wakes: int = 0, then: bytes = b"", rest: bytes = b"",
                 later: float = 0.0) -> None:
        self.head, self.then, self.rest, self.later = head, then, rest, later
        self.wakes = wakes  # comes back after this many requests, serving one client at a time
        self.answers: list[str] = []  # each request's user agent and the status answered, once back
        self.slot = Slot()
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
        if self.wakes and len(self.agents) > self.wakes:
            self._serve(conn, self.agents[-1])
        elif self.head:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n"
                         + self.then)
            if self.rest:
                time.sleep(self.later)
                conn.sendall(self.rest)

    def _serve(self, conn: socket.socket, agent: str) -> None:
        """MJPEG at 10 fps to one client at a time, 503 to the others; the slot freed a moment
        after its client went, as such cameras do: here once it refused one request (``Slot``)."""
        if not self.slot.take(refusals=1):
            self.answers.append(f"{agent} 503")
            conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            conn.close()
            return
        self.answers.append(f"{agent} 200")
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            while True:
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                             % (len(JPEG), JPEG))
                time.sleep(0.1)
        except OSError:  # the client went
            pass
        finally:
            conn.close()
            self.slot.leave()

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
    assert "needs a longer source.read_timeout" in last_error, last_error  # or one slow to start


def test_a_frozen_camera_sending_its_first_boundary_with_the_head_is_asked_too() -> None:
    """mjpg-streamer and its forks write the first boundary line in the same write as the head,
    then wait for a frame: a frozen one sent bytes after its head, and a check that took any
    byte for the first part let OpenCV open it (holding the open turn) at every retry."""
    checks, opens, last_error = _retried(HungCamera(head=True, then=b"--frame\r\n"))
    assert len(checks) >= 4 and len(opens) == 1, (checks, opens)
    assert "the camera answered but sent no picture within 1 s" in last_error, last_error


def test_a_first_part_whose_headers_come_after_the_boundary_line_is_a_stream() -> None:
    """A working mjpg-streamer: its boundary line with the head, the part's headers and picture
    a moment later (a new frame), within the check's time: a stream."""
    camera = HungCamera(head=True, then=b"--frame\r\n", later=0.2,
                        rest=b"Content-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(JPEG), JPEG))
    try:
        assert check(f"http://127.0.0.1:{camera.port}/video", 5.0) == STREAM
    finally:
        camera.close()


def test_a_one_client_camera_back_from_hung_is_not_said_to_have_another_viewer() -> None:
    """Hung for its first 4 requests, then serving one client at a time: OpenCV's open just
    after the check that answered is refused (the check's slot not yet free).  That failure is
    said so, not asked about again (which took the slot once more, got a 503 and left
    last_error blaming another viewer while frames flowed); the retry after the backoff opens."""
    camera = HungCamera(wakes=4)
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": f"http://127.0.0.1:{camera.port}/video", "read_timeout": 1,
        "reconnect_min": 0.1, "reconnect_max": 1.0}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    frames, started = 0, time.monotonic()
    try:
        while frames < 3 and time.monotonic() - started < 60:
            frames += source.read(0.5) is not None
    finally:
        source.close()
        camera.close()
    assert frames == 3 and camera.answers[0] == "edge-alpr 200", camera.answers
    assert camera.answers[1].endswith(" 503") and camera.answers[2].endswith(" 200"), camera.answers
    assert not camera.answers[2].startswith("edge-alpr"), camera.answers  # OpenCV's retry, not a check
    assert not [a for a in camera.answers if a == "edge-alpr 503"], camera.answers  # not asked into its slot
    assert "another viewer" not in (source.last_error or ""), source.last_error
    assert "just after answering the service's own check" in (source.last_error or ""), source.last_error


def test_a_camera_back_from_hung_with_a_verdict_is_told_by_it_not_opened() -> None:
    """Hung for its first 3 requests, then another viewer holds its one slot (503 to all): the
    check that answered at last says why, and that failure is told by it; OpenCV does not open
    it just after (that open's 503 was said to be the service's own check's slot)."""
    camera = HungCamera(wakes=3)
    camera.slot.hold()  # the other viewer's
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": f"http://127.0.0.1:{camera.port}/video", "read_timeout": 1,
        "reconnect_min": 0.1, "reconnect_max": 0.5}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    said: list[str] = []
    started = time.monotonic()
    try:
        while len(camera.answers) < 4 and time.monotonic() - started < 60:
            source.read(0.5)
            if source.last_error and (not said or said[-1] != source.last_error):
                said.append(source.last_error)
    finally:
        source.close()
        camera.close()
    assert len(camera.answers) >= 4 and camera.answers[0] == "edge-alpr 503", camera.answers
    assert camera.answers[1] != "edge-alpr 503" and camera.answers[2] == "edge-alpr 503", camera.answers
    back = said[[i for i, s in enumerate(said) if "hung?" in s][-1] + 1:]
    assert back and all("another viewer" in s for s in back), said


def test_a_camera_whose_first_part_headers_come_late_and_its_picture_never_is_hung() -> None:
    """The headers of its first part after 1.5 s (read_timeout 1), then nothing of its picture
    (an encoder that hung mid-part): hung, its retries asked, not a camera slow to start whose
    opens are given twice the read_timeout (before: each retry held the open turn 2 s; 5 opens
    in 20 s, the turn held 9.1 s)."""
    camera = HungCamera(head=True, later=1.5,
                        rest=b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 20000\r\n\r\n")
    checks, opens, last_error = _retried(camera)
    assert len(checks) >= 4 and len(opens) == 1, (checks, opens)
    assert "the camera answered but sent no picture within 1 s" in last_error, last_error
    assert "the headers of its first part came, then nothing of its picture" in last_error, last_error


def test_a_camera_whose_late_picture_begins_and_never_ends_is_hung_after_one_longer_open() -> None:
    """The headers and the first bytes of its first picture after 1.5 s (read_timeout 1), then
    nothing: the check saw a picture begin late, so one open is given twice the read_timeout;
    it fails, and the camera is hung from then on, its retries asked (a whole picture wanted
    before a longer open again), not opened.  Before, each retry was given twice the
    read_timeout (5 opens in 20 s, the turn held 9.0 s)."""
    camera = HungCamera(head=True, later=1.5,
                        rest=b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 20000\r\n\r\n\xff\xd8\xff\xe0")
    checks, opens, last_error = _retried(camera)
    assert len(checks) >= 3 and len(opens) == 2, (checks, opens)  # the read_timeout's, then the longer one
    assert "the camera answered but sent no picture within 1 s" in last_error, last_error
    assert "its first picture began, never to end" in last_error, last_error
