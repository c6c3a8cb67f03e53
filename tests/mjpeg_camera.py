"""An MJPEG camera on loopback (real HTTP over a socket) that can be made to go away and come
back, or to misbehave, for the live-camera tests.

``MjpegCamera(frames)`` serves ``multipart/x-mixed-replace`` to every client at ``fps``; while
``down`` is set it closes each new connection once it has read the request (a camera
rebooting: its port up, no stream), and ``drop()`` cuts the streams under way.  ``part``
builds each part (JPEG by default) so a test can send other pictures or other line ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
from raw_http import accept_each


def picture(width: int = 160, height: int = 120, seed: int = 0) -> bytes:
    """A JPEG of noise (each frame a new picture, as a camera's)."""
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    return bytes(cv2.imencode(".jpg", pixels)[1].tobytes())


def jpeg_part(pic: bytes) -> bytes:
    return b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(pic), pic)


class MjpegCamera:
    """See the module; ``connections``: requests read, ``streams``: the ones answered with the stream."""

    def __init__(self, fps: float = 10.0, part: Callable[[bytes], bytes] = jpeg_part,
                 head: bytes = b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n",
                 first_after: float = 0.0) -> None:
        self.fps, self.part, self.head, self.first_after = fps, part, head, first_after
        self.down = threading.Event()
        self.connections = 0
        self.streams = 0
        self._epoch = 0  # drop() ends the streams of earlier epochs
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/video"
        self._pictures = [picture(seed=i) for i in range(4)]
        accept_each(self.sock, self._serve)

    def drop(self) -> None:
        self._epoch += 1

    def _serve(self, conn: socket.socket) -> None:
        epoch = self._epoch
        with conn:
            try:
                conn.settimeout(5)
                if not conn.recv(4096):
                    return  # a probe of the port alone
                self.connections += 1
                if self.down.is_set():
                    return
                self.streams += 1
                conn.sendall(self.head)
                time.sleep(self.first_after)
                n = 0
                while self._epoch == epoch and not self.down.is_set():
                    conn.sendall(self.part(self._pictures[n % len(self._pictures)]))
                    n += 1
                    time.sleep(1 / self.fps)
            except OSError:
                pass  # the client went

    def close(self) -> None:
        self.sock.close()
        self.down.set()
