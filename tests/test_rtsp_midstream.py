"""Network cameras that stop or degrade after frames have flowed: a real RTSP server on loopback
(``rtsp_camera.py``) read through OpenCV's FFmpeg backend (RTP interleaved in the RTSP TCP
connection, OpenCV's default ``rtsp_flags=prefer_tcp``), with a TCP proxy between them
(``fault_proxy.py``) that freezes the connection, trickles it at a few bytes a second, or cuts
it, and then lets it through again; a second camera on its own server beside it, in the same
process.

Frozen and cut streams were already noticed within ``read_timeout`` (FFmpeg's reads are bounded
by OpenCV's interrupt callback).  But before the reconnect's probe kept to its deadline, a
camera trickling its answer to ``DESCRIBE`` (100 bytes a second) held a read for 5.7 s with
``read_timeout: 3``, and for as long as the answer lasted at a slower pace (past the capture
thread's deadline: health ``failed``, the systemd watchdog no longer pinged, so systemd restarts
the service and every camera with it).  And a camera that stopped mid-stream was logged as
``camera stopped delivering frames``, saying neither why nor after how long.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_proxy import FaultProxy
from rtsp_camera import SKIP_WITHOUT_SERVER, RtspCamera, sample_image

from edge_alpr.errors import CameraError
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_health
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import FrameSource, open_source, sample_dir
from edge_alpr.stream.sources.reach import probe
from edge_alpr.supervision import Supervisor

pytestmark = SKIP_WITHOUT_SERVER
SAMPLE = sorted(json.loads((sample_dir() / "labels.json").read_text()))[0]
READ_TIMEOUT = 3.0
TRICKLE = 100  # bytes a second: the server's answer to DESCRIBE (561 bytes) takes 5.6 s, its headers 1.9
# what each fault must be logged as when the stream stops, and then said of the reconnects
# (a reset connection reads as a reset, or as a broken pipe when the reset came before the ask)
CAUSES = {
    "freeze": ("no frame within the read_timeout (3 s)", ("did not answer within the read_timeout",)),
    "trickle": ("no frame within the read_timeout (3 s)", ("answered too slowly",)),
    "cut": ("the camera ended the stream or closed the connection", ("Connection reset", "Broken pipe")),
}


@pytest.fixture
def cameras(tmp_path: Path) -> Iterator[tuple[RtspCamera, RtspCamera, FaultProxy]]:
    """The camera behind the proxy, a healthy one, and the proxy."""
    image = sample_image(tmp_path, SAMPLE)
    faulty, healthy = RtspCamera(image), RtspCamera(image)
    faulty.start()
    healthy.start()
    proxy = FaultProxy(faulty.port)
    yield faulty, healthy, proxy
    proxy.close()
    faulty.kill()
    healthy.kill()


class TimedReads:
    """The longest ``read`` of a source since ``reset`` (wraps the real one)."""

    def __init__(self, source: FrameSource, monkeypatch: pytest.MonkeyPatch) -> None:
        self.longest = 0.0
        self._read = source.read
        monkeypatch.setattr(source, "read", self.read)

    def read(self, timeout: float) -> Any:
        started = time.monotonic()
        try:
            return self._read(timeout)
        finally:
            self.longest = max(self.longest, time.monotonic() - started)


@pytest.mark.parametrize("fault", ["freeze", "trickle", "cut"])
def test_a_camera_that_stops_mid_stream_reconnects_by_itself_and_holds_nothing_up(
        cameras: tuple[RtspCamera, RtspCamera, FaultProxy], recognizer: Any, fault: str,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Streaming, then the fault for 10 s (several reconnects), then the way is clear again.
    Every read returns within ``read_timeout`` and a second (the open's or the probe's own
    timeout, then the release), no thread goes past its deadline (the watchdog stays fed),
    health says ``reconnecting`` within ``read_timeout`` (and 2 s of slack for a loaded host),
    the log says why and after how long, the other camera's frames keep coming (no gap over
    1.5 s at 10 fps), and the camera streams again by itself once the fault is cleared."""
    _, healthy, proxy = cameras
    stream = StreamConfig.from_dict({"cameras": [
        {"id": name, "max_fps": 2, "motion": {"threshold": 0}, "failed_after_s": 60, "source": {
            "kind": "opencv", "url": url, "read_timeout": READ_TIMEOUT, "reconnect_min": 0.2,
            "reconnect_max": 1}}
        for name, url in (("faulty", proxy.url()), ("healthy", healthy.url))]}, "t")
    stop = threading.Event()
    loops = {c.id: CameraLoop(c, stream.events, open_source(c, stop), recognizer.recognize, lambda e: None, stop)
             for c in stream.cameras}
    faulty, other = loops["faulty"], loops["healthy"]
    reads = TimedReads(faulty.source, monkeypatch)
    supervisor = Supervisor()
    supervisor.watch(lambda: [w for loop in loops.values() for w in (loop, loop.capture)])
    caplog.set_level(logging.INFO, logger="edge_alpr.stream.sources.opencv")
    for loop in loops.values():
        loop.start()
    try:
        def streaming(loop: CameraLoop, more_than: int) -> bool:
            return camera_health(loop)["state"] == "streaming" and loop.stats.frames_read > more_than

        deadline = time.monotonic() + 30
        while not (streaming(faulty, 5) and streaming(other, 5)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert streaming(faulty, 5) and streaming(other, 5), (camera_health(faulty), camera_health(other))
        reads.longest = 0.0
        caplog.clear()  # what the fault makes it say: a failed first open on a loaded host is not that
        if fault == "trickle":
            proxy.trickle(TRICKLE)
        else:
            getattr(proxy, fault)()
        started = time.monotonic()
        reconnecting, stalled, gap = None, set(), 0.0
        seen, seen_at = other.stats.frames_read, started
        while time.monotonic() - started < 10:
            now = time.monotonic()
            if reconnecting is None and camera_health(faulty)["state"] == "reconnecting":
                reconnecting = now - started
            stalled.update(supervisor.stalled())
            if other.stats.frames_read != seen:
                seen, seen_at = other.stats.frames_read, now
            gap = max(gap, now - seen_at)
            time.sleep(0.05)
        health = camera_health(faulty)
        print(f"{fault}: reconnecting after {reconnecting} s, longest read {reads.longest:.2f} s, "
              f"other camera's longest gap {gap:.2f} s; {health['last_error']}")
        assert not stalled, (stalled, reads.longest, health)
        assert reads.longest <= READ_TIMEOUT + 1.0, (reads.longest, health)
        assert reconnecting is not None and reconnecting <= READ_TIMEOUT + 2.0, (reconnecting, health)
        assert health["state"] == "reconnecting", health
        stopped, retried = CAUSES[fault]
        assert any(words in str(health["last_error"]) for words in retried), health
        said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "faulty" in r.getMessage()]
        assert len(said) == 1 and "stopped sending frames" in said[0] and "after connecting" in said[0] \
            and stopped in said[0] and "reconnecting" in said[0], said
        assert gap <= 1.5 and camera_health(other)["state"] == "streaming", (gap, camera_health(other))

        proxy.resume()
        resumed, read = time.monotonic(), faulty.stats.frames_read
        while not streaming(faulty, read + 3) and time.monotonic() - resumed < 20:
            time.sleep(0.05)
        back = time.monotonic() - resumed
        print(f"{fault}: streaming again {back:.1f} s after the fault was cleared")
        assert streaming(faulty, read + 3), camera_health(faulty)
        assert faulty.crashes == faulty.capture.crashes == other.crashes == other.capture.crashes == 0
    finally:
        stop.set()
        for loop in loops.values():
            loop.join(10)


def test_a_camera_trickling_a_long_answer_is_given_up_at_the_read_timeout() -> None:
    """A hostile or broken camera: its headers at once, then a 60 kB body one byte every 10 ms
    (each byte well within any per-``recv`` timeout).  The probe gives up at its timeout and
    says so; it took the whole body's 10 minutes before."""
    body = 60_000
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(f"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: {body}\r\n\r\n".encode())
            for _ in range(body):
                if done.wait(0.01):
                    return
                try:
                    conn.sendall(b"v")
                except OSError:  # the reader gave up
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    errors: list[CameraError] = []

    def ask() -> None:
        try:
            probe(f"rtsp://127.0.0.1:{listener.getsockname()[1]}/cam", 1.0)
        except CameraError as e:
            errors.append(e)

    asker = threading.Thread(target=ask, daemon=True)
    started = time.monotonic()
    asker.start()
    try:
        asker.join(5)
        took = time.monotonic() - started
        assert not asker.is_alive() and took < 2.0, took
        assert len(errors) == 1 and "answered too slowly" in str(errors[0]), errors
    finally:
        done.set()
        thread.join(5)
        listener.close()
