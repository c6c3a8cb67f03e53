"""A TCP proxy on loopback between a camera reader and a real camera server, that misbehaves on
demand the ways a network camera or its link does mid-stream:

* ``freeze()``: nothing more is forwarded either way; every socket stays open (a camera whose
  firmware hung, a link that went silent without a reset);
* ``trickle(rate)``: the camera's data comes at ``rate`` bytes per second (a saturated or
  failing link, a camera in trouble); what the reader sends passes at full speed;
* ``cut()``: every connection is reset (RST), and new ones too until ``resume`` (a camera that
  reboots, a cable pulled at a switch);
* ``resume()``: forwards again at full speed, connections that survived included.

Pure Python (threads, ``select``); an RTSP camera read with ``rtsp_transport=tcp`` (RTP
interleaved in the RTSP connection, FFmpeg's first choice through OpenCV) passes through it
whole.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

TICK_S = 0.05  # how often a pump looks at the mode


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream
        self.closed = False

    def reset(self) -> None:
        """Close both ends at once with an RST (SO_LINGER 0), as a rebooting camera does."""
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.upstream):
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            sock.close()


class FaultProxy:
    """Listens on ``127.0.0.1:port`` and forwards to ``127.0.0.1:target_port``; see the module
    docstring.  ``forwarded`` counts the bytes passed downstream (server to client)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.mode = "pass"
        self.rate = 0
        self.forwarded = 0
        self.accepted = 0
        self.links: list[_Link] = []
        self._lock = threading.Lock()
        self._closing = False
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._thread.start()

    def url(self, path: str = "/cam") -> str:
        return f"rtsp://127.0.0.1:{self.port}{path}"

    def freeze(self) -> None:
        self.mode = "freeze"

    def trickle(self, rate: int) -> None:
        self.rate, self.mode = rate, "trickle"

    def cut(self) -> None:
        self.mode = "cut"
        with self._lock:
            links, self.links = self.links, []
        for link in links:
            link.reset()

    def resume(self) -> None:
        self.mode = "pass"

    def close(self) -> None:
        self._closing = True
        self.cut()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        except OSError:
            pass
        self.listener.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.accepted += 1
            if self.mode == "cut":
                _Link(client, socket.socket()).reset()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _Link(client, socket.socket()).reset()
                continue
            for sock in (client, upstream):
                sock.setblocking(False)
            link = _Link(client, upstream)
            with self._lock:
                self.links.append(link)
            for src, dst, down in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(link, src, dst, down), daemon=True).start()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket, down: bool) -> None:
        """Forward ``src`` to ``dst`` as the mode says, until either end closes."""
        pending = b""
        try:
            while not link.closed:
                mode = self.mode
                if mode == "freeze":
                    time.sleep(TICK_S)
                    continue
                if not pending:
                    if not select.select([src], [], [], TICK_S)[0]:
                        continue
                    pending = src.recv(65536)
                    if not pending:
                        dst.shutdown(socket.SHUT_WR)
                        return
                    continue  # the mode may have changed while it waited
                if not select.select([], [dst], [], TICK_S)[1]:
                    continue
                if mode == "trickle" and down:
                    step = max(1, int(self.rate * TICK_S))
                    sent = dst.send(pending[:step])
                    time.sleep(TICK_S)
                else:
                    sent = dst.send(pending)
                pending = pending[sent:]
                if down:
                    self.forwarded += sent
        except (OSError, ValueError):  # reset by a peer or by ``cut``
            pass
        finally:
            if not link.closed:
                link.reset()
                with self._lock:
                    if link in self.links:
                        self.links.remove(link)
