"""A real RTSP camera on loopback for the tests: ``tests/rtsp_server.py`` (gst-rtsp-server, run
by the system's python3 with Debian's python3-gi and gir1.2-gst-rtsp-server-1.0) as a process
the tests kill, stall and start again; skipped, saying what to install, where it is missing.
``HttpTsCamera``: H.264 in MPEG-TS over HTTP, as cameras and encoders also serve it."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import cv2
import pytest

from edge_alpr.stream.sources import sample_dir

SERVER = Path(__file__).resolve().parent / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
APT = "apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good"


def server_available() -> bool:
    try:
        check = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                                "from gi.repository import GstRtspServer"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return check.returncode == 0


SKIP_WITHOUT_SERVER = pytest.mark.skipif(not server_available(),
                                         reason=f"no RTSP server here: it needs Debian's gst-rtsp-server ({APT})")


def gst_has(*elements: str) -> bool:
    """Whether the system's GStreamer (its Python bindings) has every one of ``elements``."""
    try:
        check = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('Gst', '1.0'); "
                                "from gi.repository import Gst; Gst.init(None); "
                                f"assert all(Gst.ElementFactory.find(e) for e in {elements!r})"],
                               capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return check.returncode == 0


def h264_available() -> bool:
    """x264enc (an H.264 camera) and capssetter (its SDP without SPS/PPS) in the system's GStreamer."""
    return gst_has("x264enc", "capssetter", "rtspsrc")


SKIP_WITHOUT_H264 = pytest.mark.skipif(not h264_available(), reason="no H.264 RTSP camera here: it needs "
                                       "x264enc (apt-get install gstreamer1.0-plugins-ugly)")


def ts_available() -> bool:
    """gst-launch-1.0 with x264enc and mpegtsmux (an MPEG-TS camera over HTTP)."""
    return shutil.which("gst-launch-1.0") is not None and gst_has("x264enc", "mpegtsmux")


SKIP_WITHOUT_TS = pytest.mark.skipif(not ts_available(), reason="no MPEG-TS camera here: it needs gst-launch-1.0, "
                                     "x264enc and mpegtsmux (apt-get install gstreamer1.0-tools "
                                     "gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad)")


def sample_image(folder: Path, name: str, size: tuple[int, int] = (640, 360)) -> Path:
    """A sample image as the camera's picture; RTP's JPEG payload wants sides in multiples of 8."""
    image, picture = folder / "camera.jpg", cv2.imread(str(sample_dir() / name))
    assert picture is not None, name
    cv2.imwrite(str(image), cv2.resize(picture, size))
    return image


class RtspCamera:
    """The server process; ``start`` again after ``kill`` serves on the same port.  ``auth``:
    ``(user, password, "basic" or "digest")`` for a camera that wants them; ``h264_gop``: H.264
    with a keyframe every that many frames instead of MJPEG (0), its SPS and PPS in the SDP too
    unless ``inband``; ``h265``: H.265 instead of H.264 (with ``h264_gop``'s keyframes); ``send_fps``:
    frames stamped at ``fps`` but sent at this rate; ``protocols``: ``"tcp"`` or ``"udp"``, the one
    RTP transport offered; ``audio``: an A-law audio stream
beside the video, as cameras with a microphone send.  ``image``, ``auth``, ``h264_gop`` and ``h265`` may change between
    starts (a camera rebooted with new settings)."""

    def __init__(self, image: Path, fps: int = 10, auth: tuple[str, str, str] | None = None,
                 h264_gop: int = 0, inband: bool = False, send_fps: float = 0.0, h265: bool = False,
                 protocols: str = "", audio: bool = False) -> None:
        self.image, self.fps, self.port, self.auth = image, fps, 0, auth
        self.h264_gop, self.inband, self.send_fps, self.h265 = h264_gop, inband, send_fps, h265
        self.protocols, self.audio = protocols, audio
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        flag = "--h265" if self.h265 else "--h264-inband" if self.inband else "--h264"
        codec = [flag, str(self.h264_gop)] if self.h264_gop else []
        codec += ["--protocols", self.protocols] if self.protocols else []
        extra = [f"{self.auth[0]}:{self.auth[1]}", self.auth[2]] if self.auth else []
        codec += ["--send-fps", str(self.send_fps)] if self.send_fps else []
        codec += ["--audio"] if self.audio else []
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(SERVER), *codec, str(self.image), str(self.fps),
                                      str(self.port), *extra], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class SilentCamera:
    """A camera that is hung: it accepts TCP connections (the kernel's backlog and ``accept``)
    and never sends a byte, like a camera whose firmware froze.  Closed with ``close``."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:  # closed
                return

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        except OSError:
            pass
        self.listener.close()
        for conn in self.held:
            conn.close()
        self._thread.join(5)


class HttpTsCamera:
    """A camera serving H.264 (a keyframe a second) in MPEG-TS over HTTP on loopback, its
    frames timed by the encoder: each GET starts a gst-launch-1.0 pipeline sending ``fps``
    frames a second of ``image`` in real time; ``close`` ends the server and its pipelines."""

    def __init__(self, image: Path, fps: int = 30) -> None:
        pipeline = ["gst-launch-1.0", "-q", "filesrc", f"location={image}", "!", "jpegdec", "!", "imagefreeze",
                    "is-live=true", "!", f"video/x-raw,framerate={fps}/1", "!", "videoconvert", "!", "x264enc",
                    "tune=zerolatency", "speed-preset=ultrafast", f"key-int-max={fps}", "!", "mpegtsmux", "!",
                    "fdsink", "fd=1"]
        procs: list[subprocess.Popen[bytes]] = []
        self.procs = procs

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.end_headers()
                proc = subprocess.Popen(pipeline, stdout=subprocess.PIPE)
                procs.append(proc)
                assert proc.stdout is not None
                try:
                    while chunk := proc.stdout.read1(65536):
                        self.wfile.write(chunk)
                except OSError:  # the reader went away
                    pass
                finally:
                    proc.kill()
                    proc.wait(10)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cam.ts"

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
        self.server.shutdown()
        self.server.server_close()
