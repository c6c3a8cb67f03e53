"""A raw MQTT 5 broker on loopback that refuses the events' publishes with a chosen PUBACK
reason code: the codes that mosquitto never sends (Quota exceeded, Payload format invalid, an
implementation's own refusal) come from hosted brokers and their plugins, which cannot run here.

It speaks just enough MQTT 5 for one client: CONNACK, a PUBACK for each QoS 1 PUBLISH (the
``code`` set on it, with an optional Reason String, for topics ending ``/plate``; success for the
rest), SUBACK and PINGRESP.  Byte level, so paho parses what a real broker would send.
"""

from __future__ import annotations

import socket
import struct
import threading

from raw_http import accept_each

CONNECT, PUBLISH, SUBSCRIBE, PINGREQ, DISCONNECT = 1, 3, 8, 12, 14
REASON_STRING = 0x1F  # the MQTT 5 property that carries a broker's words with a reason code


def _read_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _read_packet(conn: socket.socket) -> tuple[int, int, bytes]:
    """One packet: its type, its fixed header's flags, and the rest of it."""
    first = _read_exact(conn, 1)[0]
    length, shift = 0, 0
    while True:
        byte = _read_exact(conn, 1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first >> 4, first & 0x0F, _read_exact(conn, length)


def _packet(kind: int, body: bytes) -> bytes:
    assert len(body) < 128, "short packets only"
    return bytes([kind << 4, len(body)]) + body


class RefusingBroker:
    """Answers each event's PUBLISH (a ``/plate`` topic) with PUBACK ``code`` (and ``reason``,
    when set, as its Reason String); ``port``: where it listens; ``close`` ends it."""

    def __init__(self, code: int = 0x97, reason: str = "") -> None:
        self.code, self.reason = code, reason
        self.acked: list[tuple[str, int]] = []  # (topic, code) of each PUBACK sent
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        accept_each(self._sock, self._serve)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                while True:
                    kind, flags, body = _read_packet(conn)
                    if kind == CONNECT:
                        conn.sendall(_packet(2, b"\x00\x00\x00"))  # no session, success, no properties
                    elif kind == PUBLISH:
                        conn.sendall(self._puback(flags, body))
                    elif kind == SUBSCRIBE:
                        conn.sendall(_packet(9, body[:2] + b"\x00\x00"))  # its id, no properties, QoS 0
                    elif kind == PINGREQ:
                        conn.sendall(b"\xd0\x00")
                    elif kind == DISCONNECT:
                        return
            except (ConnectionError, OSError):
                return

    def _puback(self, flags: int, body: bytes) -> bytes:
        assert (flags >> 1) & 3 == 1, "the events go at QoS 1"
        size = struct.unpack("!H", body[:2])[0]
        topic = body[2:2 + size].decode()
        mid = body[2 + size:4 + size]
        code, props = 0, b""
        if topic.endswith("/plate"):
            with self._lock:
                code = self.code
                if self.reason:
                    words = self.reason.encode()
                    props = bytes([REASON_STRING]) + struct.pack("!H", len(words)) + words
        with self._lock:
            self.acked.append((topic, code))
        return _packet(4, mid + bytes([code, len(props)]) + props)

    def close(self) -> None:
        self._sock.close()
