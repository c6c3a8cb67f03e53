"""A stream that falls behind: told a slow reading from a camera whose clock runs slow
(``pace.py``, ``rate.py``, ``stamps.py``), without taking the network's delays for either, and
without pausing the reading again and again.

The stream clock is the real one, fed the stream and read times a camera, a network and a reader
would give, and paused as a reader would (``read``): hours of them cost a test little; the live
streams are in ``test_rtsp_behind.py``.  The last test reads a real video file from a real HTTP
server through OpenCV; the slow CPU is a stand-in (each read waits first), none being here.
"""

from __future__ import annotations

import http.server
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from rtsp_camera import SKIP_WITHOUT_TS, HttpTsCamera, sample_image

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.source_config import OpenCvSourceConfig
from edge_alpr.stream.sources.opencv import OpenCvSource
from edge_alpr.stream.sources.stamps import StreamClock

STAMPS = "edge_alpr.stream.sources.stamps"


class Reader:
    """A reader of one stream through a probing ``StreamClock``: frame i is made at i/fps (our
    clock), stamped ``rate`` times as fast, arrives ``delay(made)`` plus up to ``jitter`` (a
    half-normal) later, and each read takes ``decode`` s; a pause holds the reading while the
    frames queue.  ``limit``: a ``max_behind_s``, the stream opened again at its newest frame."""

    def __init__(self, clock: StreamClock, fps: float = 25.0, rate: float = 1.0, jitter: float = 0.01,
                 decode: float = 0.001, delay: Callable[[float], float] = lambda t: 0.05, limit: float = 0.0,
                 seed: int = 0) -> None:
        self.clock, self.fps, self.rate, self.jitter, self.decode = clock, fps, rate, jitter, decode
        self.delay, self.limit, self.rng = delay, limit, random.Random(seed)
        self.now, self.frame, self.arrived = 0.0, 0, 0.0
        self.pauses, self.reopens = 0, 0
        self.behind: list[tuple[float, float | None]] = []  # (read time, behind_s)

    def read_until(self, end: float) -> None:
        while self.now < end:
            pause = self.clock.pause_s()
            self.pauses += pause > 0
            made = self.frame / self.fps
            self.arrived = max(self.arrived, made + self.delay(made) + abs(self.rng.gauss(0.0, self.jitter)))
            self.now = max(self.now + pause + self.decode, self.arrived)
            self.clock.made(made * self.rate + 7.0, self.now)
            self.behind.append((self.now, self.clock.behind_s))
            self.frame += 1
            if self.limit and self.clock.over(self.limit):  # opened again: the newest frame next
                self.reopens += 1
                self.clock.restart()
                self.frame = int(self.now * self.fps)


def congested(t: float) -> float:
    """A network whose delay rises from 50 ms to 1.5 s within 2 s, stays 18 s, and falls back."""
    if 20 <= t < 22:
        return 0.05 + (t - 20) / 2 * 1.45
    if 22 <= t < 40:
        return 1.5
    if 40 <= t < 42:
        return 1.5 - (t - 40) / 2 * 1.45
    return 0.05


@pytest.mark.parametrize("seed", range(8))
def test_a_rise_in_network_delay_is_not_taken_for_a_camera_clock_that_runs_slow(
        seed: int, caplog: pytest.LogCaptureFixture) -> None:
    """25 fps, 10 ms of jitter, the delay up to 1.5 s for 18 s while the reader keeps up."""
    caplog.set_level(logging.INFO, logger=STAMPS)
    reader = Reader(StreamClock("gate", probe=True), delay=congested, seed=seed)
    reader.read_until(120.0)
    assert reader.clock.wrong_rate is None and not caplog.records, [r.getMessage() for r in caplog.records]
    assert all(b is not None for _, b in reader.behind)
    assert max(b or 0.0 for t, b in reader.behind if t > 50) < 0.05  # known again, caught up with
    assert reader.pauses <= 4, reader.pauses


@pytest.mark.parametrize("seed", range(4))
def test_a_lasting_rise_in_network_delay_pauses_the_reading_a_few_times_only(seed: int) -> None:
    """The delay steps to 1.2 s and stays (a buffering uplink), for 10 minutes then an hour."""
    reader = Reader(StreamClock("gate", probe=True), delay=lambda t: 0.05 if t < 20 else 1.2, seed=seed)
    reader.read_until(600.0)
    assert reader.clock.wrong_rate is None and not reader.clock.reading_behind
    assert reader.pauses <= 8, reader.pauses
    reader.read_until(3600.0)
    assert reader.clock.wrong_rate is None and reader.pauses <= 12, reader.pauses


def test_a_camera_stamping_30_fps_while_sending_25_is_judged_again_after_a_reconnect(
        caplog: pytest.LogCaptureFixture) -> None:
    """Judged within 20 s at its rate; a new connection is another stream: behind_s known again
    until it is judged anew."""
    caplog.set_level(logging.INFO, logger=STAMPS)
    reader = Reader(StreamClock("gate", probe=True), rate=25 / 30, jitter=0.02, seed=3)
    reader.read_until(20.0)
    assert reader.clock.wrong_rate is not None and abs(reader.clock.wrong_rate - 25 / 30) < 0.01
    assert reader.clock.behind_s is None
    reader.clock.restart()
    reader.frame = int(reader.now * reader.fps)
    reader.read_until(22.0)
    assert reader.clock.wrong_rate is None and reader.clock.behind_s is not None
    reader.read_until(45.0)
    assert reader.clock.wrong_rate is not None and reader.clock.behind_s is None
    assert reader.pauses <= 5, reader.pauses


def test_a_camera_judged_wrong_whose_stream_time_keeps_time_later_is_followed_again(
        caplog: pytest.LogCaptureFixture) -> None:
    """The network's delay rises 3 s over 30 s (the link slower than the stream for that long:
    told from a clock only by its end), then stays: judged wrong, and cleared after it."""
    caplog.set_level(logging.INFO, logger=STAMPS)
    reader = Reader(StreamClock("gate", probe=True), delay=lambda t: 0.05 + min(max(t - 10, 0.0), 30.0) * 0.1)
    reader.read_until(36.0)
    assert reader.clock.wrong_rate is not None
    reader.read_until(80.0)
    said = [r.getMessage() for r in caplog.records]
    assert reader.clock.wrong_rate is None and "keeps time again" in said[-1], said
    assert reader.clock.behind_s is not None and reader.clock.behind_s < 0.05


def test_a_reading_found_behind_is_not_probed_at_each_reopen_nor_reopened_by_a_probe() -> None:
    """Read at 24 of 25 frames a second with ``max_behind_s: 2``: opened again every 50 s or so,
    probed once in the first 5 minutes, and every reopen for its own backlog (2 s of it)."""
    reader = Reader(StreamClock("gate", probe=True), decode=1 / 24, limit=2.0)
    reopened: list[float] = []
    while reader.now < 600.0:
        reopens = reader.reopens
        reader.read_until(reader.now + 0.01)
        if reader.reopens > reopens:
            reopened.append(reader.now)
    assert len(reopened) >= 8, reopened
    assert reader.pauses <= 3, reader.pauses
    cycles = [b - a for a, b in zip(reopened, reopened[1:])]
    assert min(cycles) > 40.0, cycles  # 2 s of backlog at 0.04 s a second: no pause cut one short


@pytest.mark.parametrize("fps", [0.5, 0.25])
def test_a_slow_camera_stamping_a_rate_it_does_not_keep_is_not_taken_for_a_slow_reading(
        fps: float, caplog: pytest.LogCaptureFixture) -> None:
    """A camera sending a frame every 2 or 4 s, its stream time at 5/6 of ours, read as it comes:
    its clock judged wrong, no advice to decode less.  With the pause capped at 2 s, no frame
    was waiting after it but the one read first, the next came as slowly as before, and it
    read as a reading behind: warned, stamped up to 100 s early after 10 minutes."""
    caplog.set_level(logging.INFO, logger=STAMPS)
    reader = Reader(StreamClock("gate", probe=True), fps=fps, rate=5 / 6, jitter=0.02)
    reader.read_until(600.0)
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not warned and not reader.clock.reading_behind, warned
    assert reader.clock.wrong_rate is not None and abs(reader.clock.wrong_rate - 5 / 6) < 0.01
    assert reader.clock.behind_s is None and reader.pauses <= 4, reader.pauses


@pytest.mark.parametrize("fps", [0.5, 0.25])
def test_a_slow_camera_read_slower_than_it_sends_is_still_found_behind(
        fps: float, caplog: pytest.LogCaptureFixture) -> None:
    """Each read taking a tenth longer than the camera's frame interval: the longer pause finds
    the reading behind, the warning comes, and a network delay rising for 18 s is neither."""
    caplog.set_level(logging.INFO, logger=STAMPS)
    reader = Reader(StreamClock("gate", probe=True), fps=fps, decode=1.1 / fps)
    reader.read_until(600.0)
    assert reader.clock.reading_behind and reader.clock.warned and reader.clock.wrong_rate is None
    assert any("decodes the stream slower" in r.getMessage() for r in caplog.records)
    delayed = Reader(StreamClock("gate", probe=True), fps=fps, delay=congested)
    delayed.read_until(600.0)
    assert delayed.clock.wrong_rate is None and not delayed.clock.warned


class RangeServer:
    """Serves one file over HTTP on loopback, with byte ranges (as web servers do: FFmpeg seeks
    an MP4 file to its index)."""

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                asked = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                start = int(asked.group(1)) if asked else 0
                end = int(asked.group(2)) if asked and asked.group(2) else len(data) - 1
                self.send_response(206 if asked else 200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(end - start + 1))
                if asked:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                self.end_headers()
                try:
                    self.wfile.write(data[start:end + 1])
                except OSError:  # the reader went away
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{path.name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served_video(tmp_path: Path) -> Iterator[str]:
    """A 10 s MP4 file at 30 fps (frame i all grey, level 0.8 i) served over HTTP."""
    path = tmp_path / "gate.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (320, 240))
    for i in range(300):
        writer.write(np.full((240, 320, 3), int(0.8 * i), np.uint8))
    writer.release()
    server = RangeServer(path)
    yield server.url
    server.close()


def test_a_video_file_served_over_http_read_slower_than_real_time_is_never_started_again(served_video: str) -> None:
    """An MP4 file over HTTP knows its length: no live stream, so no stream clock, never read
    behind, and ``max_behind_s`` never opens it again (that would start it from its beginning)."""
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": served_video, "read_timeout": 5, "max_behind_s": 1.0}}]}, "t")
    cfg = stream.cameras[0].source
    assert isinstance(cfg, OpenCvSourceConfig)
    source = OpenCvSource(cfg, "gate", threading.Event())
    levels: list[float] = []
    try:
        started = time.monotonic()
        while time.monotonic() - started < 8.0:
            time.sleep(0.1)  # the slow CPU
            frame = source.read(5.0)
            if frame is not None:
                levels.append(float(np.asarray(frame.image).mean()))
                assert frame.captured <= time.monotonic()
    finally:
        source.close()
    assert len(levels) > 40 and source.backlogs_dropped == 0 and source.behind() is None
    # one frame after another (the codec's greys within a level), never from the start again
    assert all(b > a - 1.5 for a, b in zip(levels, levels[1:])) and levels[-1] > levels[0] + 30, levels


def test_a_backlog_after_catching_up_is_held_to_max_behind_s_whole() -> None:
    """The re-probes' pauses of a reading found behind are not counted against ``max_behind_s``;
    once it has caught up, a later backlog owes nothing to them: it reopened at 67.5 s of a 60 s
    limit after three hours of re-probes (6 s of pauses), and here 22.4 s of a 20 s limit."""
    clock = StreamClock("c", probe=True)
    reader = Reader(clock, fps=5, decode=0.2005, limit=20, jitter=0.005)
    reader.read_until(1_800)
    assert reader.pauses >= 2 and reader.reopens == 0  # re-probed while behind, under the limit
    reader.decode = 0.05
    reader.read_until(reader.now + 600)
    assert not clock.reading_behind and clock.behind_s is not None and clock.behind_s < 0.5
    reader.decode, started, seen = 0.25, reader.now, 0.0
    while reader.reopens == 0 and reader.now < started + 1_200:
        seen = clock.behind_s or seen
        reader.read_until(reader.now + 0.25)
    assert reader.reopens == 1 and seen <= 20.5, seen


class Waits(threading.Event):
    """A stop event that keeps how long each wait on it was asked to last."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.asked.append(-1.0 if timeout is None else timeout)
        return super().wait(timeout)


@SKIP_WITHOUT_TS
def test_a_slow_streams_long_probe_pause_is_spread_over_short_reads(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe's pause of a slow stream lasts up to 10 s (three of its frames' time): taken in
    one read, the capture thread's deadline had to allow 10 s more for every url camera (a hung
    30 fps camera caught 8 s later).  Spread over reads of at most their timeout, the capture
    thread beats meanwhile and a url camera's deadline is a device camera's.  The slow stream is
    a stand-in: its clock is made to ask for a 1.5 s pause (a real 0.2 fps camera takes a minute
    of frames before its probe)."""
    camera = HttpTsCamera(sample_image(tmp_path, "01_romanian_t37.jpg"), fps=10)
    stop = Waits()
    stream = StreamConfig.from_dict({"cameras": [
        {"id": "gate", "source": {"kind": "opencv", "url": camera.url, "read_timeout": 2}},
        {"id": "dev", "source": {"kind": "opencv", "device": 0, "read_timeout": 2}}]}, "t")
    cfg, device = stream.cameras[0].source, stream.cameras[1].source
    assert isinstance(cfg, OpenCvSourceConfig) and isinstance(device, OpenCvSourceConfig)
    source = OpenCvSource(cfg, "gate", stop)
    try:
        frames, reads = 0, 0
        while frames < 5 and reads < 200:
            frames, reads = frames + (source.read(0.25) is not None), reads + 1
        assert frames == 5 and source.clock is not None
        asked = iter([1.5])
        monkeypatch.setattr(source.clock, "pause_s", lambda: next(asked, 0.0))
        source._timed = True  # the stream's own clock, as an RTSP camera's
        stop.asked.clear()
        paused = 0
        while source.read(0.25) is None and paused < 100:
            paused += 1
        assert paused >= 5 and stop.asked and max(stop.asked) <= 0.25, (paused, stop.asked)
        assert source.max_block_s <= OpenCvSource(device, "dev", threading.Event()).max_block_s
    finally:
        source.close()
        camera.close()
