"""The API under hostile or broken clients, over real sockets against the real server.

Each test is a scenario from the hardening review: slow clients (slowloris) must not starve the
worker pool and get a JSON 408; broken bodies are a JSON 4xx, never a 5xx; a flood of form
fields or ``regions`` is refused at once; parallel decompression bombs keep the memory bounded;
huge or truncated images get a clear 413 / 400 and are not counted; a whitespace token is a
config error; shutdown does not wait for each hanging webhook target in turn.  Bounds are
generous (seconds) so that they are liveness checks, not benchmarks.
"""

from __future__ import annotations

import io
import json
import math
import os
import socket
import struct
import threading
import time
import weakref
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from waiting import wait_for

from edge_alpr import config
from edge_alpr.errors import ConfigError
from tests.conftest import jpeg_bytes

READ = "/v1/plate-reader/"
SMALL_JPEG = jpeg_bytes(160, 120)
LARGEST = math.isqrt(config.ApiConfig().max_pixels)  # side of the largest square image accepted


# ----------------------------------------------------------------------------- raw HTTP helpers

def address(api: Any) -> tuple[str, int]:
    host, port = api.url.removeprefix("http://").split(":")
    return host, int(port)


# bytes read past a response (the start of the next one, when pipelined), by socket
_LEFTOVER: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def read_response(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (status, lower-cased headers, body) or raise ``TimeoutError``."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    data = _LEFTOVER.pop(sock, b"")
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    _LEFTOVER[sock] = body[length:]
    return status, headers, body[:length]


def rest_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """What the server sends after a response, until it closes the connection."""
    data = _LEFTOVER.pop(sock, b"")
    sock.settimeout(timeout)
    while chunk := sock.recv(65536):
        data += chunk
    return data


def json_detail(status: int, headers: dict[str, str], body: bytes, expected: int | tuple[int, ...]
                ) -> str:
    wanted = expected if isinstance(expected, tuple) else (expected,)
    assert status in wanted, (status, body)
    assert headers.get("content-type", "").startswith("application/json"), headers
    obj = json.loads(body)
    assert set(obj) == {"detail"} and isinstance(obj["detail"], str) and obj["detail"]
    return str(obj["detail"])


def head(length: int | None = None, chunked: bool = False, extra: str = "") -> bytes:
    lines = [f"POST {READ} HTTP/1.1", "Host: localhost", "Content-Type: application/x-www-form-urlencoded"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


class Trickler(threading.Thread):
    """A slowloris client: sends ``prefix`` at once, then ``payload`` a byte per ``interval``.

    When the server drops it, it records the reply's status and, if ``reconnect``, starts over,
    so that the pressure lasts until ``stop`` is set.
    """

    def __init__(self, addr: tuple[str, int], prefix: bytes, payload: bytes, interval: float,
                 reconnect: bool = True) -> None:
        super().__init__(daemon=True)
        self.addr, self.prefix, self.payload = addr, prefix, payload
        self.interval, self.reconnect = interval, reconnect
        self.stop = threading.Event()
        self.replies: list[tuple[int, dict[str, str], bytes, float]] = []

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            with socket.create_connection(self.addr, timeout=30) as sock:
                if self.prefix:
                    sock.sendall(self.prefix)
                for i in range(len(self.payload)):
                    if self.stop.wait(self.interval):
                        return
                    try:
                        sock.sendall(self.payload[i:i + 1])
                    except OSError:
                        break
                    sock.setblocking(False)
                    try:
                        peeked = sock.recv(1, socket.MSG_PEEK)
                    except BlockingIOError:
                        peeked = None
                    except OSError:
                        peeked = b""
                    sock.setblocking(True)
                    if peeked is not None:
                        break  # the server answered (or closed): read it below
                try:
                    status, headers, body = read_response(sock, 5)
                    self.replies.append((status, headers, body, time.monotonic() - started))
                except (OSError, ValueError):
                    self.replies.append((0, {}, b"", time.monotonic() - started))
            if not self.reconnect:
                return


@pytest.fixture
def tricklers() -> Iterator[list[Trickler]]:
    started: list[Trickler] = []
    yield started
    for t in started:
        t.stop.set()
    for t in started:
        t.join(10)


def slow_header_client(addr: tuple[str, int], interval: float = 1.0, reconnect: bool = True
                       ) -> Trickler:
    return Trickler(addr, b"", head(100_000) + b"upload=" + b"A" * 1000, interval, reconnect)


def slow_body_client(addr: tuple[str, int], interval: float = 1.0, reconnect: bool = True
                     ) -> Trickler:
    return Trickler(addr, head(1000), b"regions=fr&" * 100, interval, reconnect)


def timed_post(url: str, data: bytes = SMALL_JPEG) -> tuple[int, float]:
    started = time.monotonic()
    response = requests.post(url + READ, files={"upload": ("car.jpg", data)}, timeout=15)
    return response.status_code, time.monotonic() - started


# ----------------------------------------------------------------------------- 1. slowloris

def test_slow_clients_do_not_starve_the_workers(api_factory: Any, tricklers: list[Trickler]
                                                ) -> None:
    server = api_factory()  # the default config: 4 worker threads
    addr = address(server)
    tricklers.extend([slow_header_client(addr), slow_header_client(addr),
                      slow_body_client(addr), slow_body_client(addr)])
    for t in tricklers:
        t.start()
    time.sleep(1.5)  # every slow client has connected and sent something
    for _ in range(3):
        try:
            status, elapsed = timed_post(server.url)
        except requests.Timeout:
            pytest.fail("a normal request waited 15 s behind 4 slow clients")
        assert status == 201
        assert elapsed < 2.0, f"a normal request took {elapsed:.1f} s behind 4 slow clients"


def test_a_slow_header_client_gets_a_json_408(api: Any, tricklers: list[Trickler]) -> None:
    slow = slow_header_client(address(api), interval=0.2, reconnect=False)
    tricklers.append(slow)
    slow.start()
    slow.join(12)
    assert slow.replies, "a client sending its headers at 5 bytes/s was never dropped"
    status, headers, body, elapsed = slow.replies[0]
    assert "time" in json_detail(status, headers, body, 408).lower()
    assert elapsed < 8


def test_a_slow_body_client_gets_a_json_408(api: Any, tricklers: list[Trickler]) -> None:
    slow = slow_body_client(address(api), interval=0.5, reconnect=False)
    tricklers.append(slow)
    slow.start()
    slow.join(12)
    assert slow.replies, "a client sending its body at 2 bytes/s was never dropped"
    status, headers, body, elapsed = slow.replies[0]
    json_detail(status, headers, body, 408)
    assert elapsed < 8


# ----------------------------------------------------------------------------- 2. broken bodies

def test_a_body_shorter_than_its_length_then_a_pause_is_408(api: Any) -> None:
    with socket.create_connection(address(api), timeout=30) as sock:
        started = time.monotonic()
        sock.sendall(head(1000) + b"regions=fr")
        status, headers, body = read_response(sock, 12)
    json_detail(status, headers, body, 408)
    assert time.monotonic() - started < 8


def test_a_body_shorter_than_its_length_then_eof_is_400(api: Any) -> None:
    with socket.create_connection(address(api), timeout=30) as sock:
        sock.sendall(head(1000) + b"regions=fr")
        sock.shutdown(socket.SHUT_WR)
        status, headers, body = read_response(sock, 12)
    message = json_detail(status, headers, body, 400)
    assert "1000" in message and "10" in message


@pytest.mark.parametrize("chunks", [b"zz\r\nabc\r\n0\r\n\r\n", b"5\r\nabc", b"3\r\nabcXY0\r\n\r\n"])
def test_a_malformed_chunked_body_is_400(api: Any, chunks: bytes) -> None:
    with socket.create_connection(address(api), timeout=30) as sock:
        sock.sendall(head(chunked=True) + chunks)
        sock.shutdown(socket.SHUT_WR)
        status, headers, body = read_response(sock, 12)
        assert rest_until_closed(sock) == b"", "the rest of a malformed body was read as a request"
    assert "chunk" in json_detail(status, headers, body, 400).lower()


def test_a_chunked_body_without_its_terminator_then_a_pause_is_408(api: Any) -> None:
    with socket.create_connection(address(api), timeout=30) as sock:
        started = time.monotonic()
        sock.sendall(head(chunked=True) + b"a\r\nregions=fr\r\n")
        status, headers, body = read_response(sock, 12)
    json_detail(status, headers, body, 408)
    assert time.monotonic() - started < 8


def test_a_chunked_upload_still_works(api: Any, sample_images: list[Path]) -> None:
    def chunks() -> Iterator[bytes]:
        data = sample_images[0].read_bytes()
        for i in range(0, len(data), 7000):
            yield data[i:i + 7000]

    response = requests.post(api.url + READ, data=chunks(),
                             headers={"Content-Type": "application/octet-stream"}, timeout=30)
    # a raw octet-stream body is not a form: the API says so, in JSON, with a 4xx
    assert 400 <= response.status_code < 500 and "detail" in response.json()


# ----------------------------------------------------------------------------- 3. regions flood

def test_a_regions_flood_is_refused_at_once(api: Any) -> None:
    body = b"&".join([b"regions=fr"] * 900_000)
    assert len(body) > 9_000_000
    started = time.monotonic()
    response = requests.post(api.url + READ, data=body, timeout=60,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    elapsed = time.monotonic() - started
    assert response.status_code == 400, (response.status_code, response.text[:200])
    assert "fields" in response.json()["detail"]
    assert elapsed < 5, f"a field flood took {elapsed:.1f} s to refuse"


def test_regions_are_deduplicated_and_capped(api: Any) -> None:
    from edge_alpr.engine.regions import ALL_REGIONS

    ok = requests.post(api.url + READ, files={"upload": ("c.jpg", SMALL_JPEG)},
                       data={"regions": ["fr", "FR", " fr"] * 30 + ["gb"] * 30}, timeout=30)
    assert ok.status_code == 201, ok.text
    many = sorted(ALL_REGIONS)[:40]
    refused = requests.post(api.url + READ, files={"upload": ("c.jpg", SMALL_JPEG)},
                            data={"regions": ",".join(many)}, timeout=30)
    assert refused.status_code == 400
    assert "regions" in refused.json()["detail"] and "40" in refused.json()["detail"]
    flood = requests.post(api.url + READ, json={"upload": "AAAA", "regions": ["fr"] * 100_000},
                          timeout=30)
    assert flood.status_code == 400


def test_a_multipart_field_flood_is_refused(api: Any) -> None:
    boundary = "b0undary"
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"camera_id\"\r\n\r\nx\r\n").encode()
    body = part * 50_000 + f"--{boundary}--\r\n".encode()
    started = time.monotonic()
    response = requests.post(api.url + READ, data=body, timeout=60,
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 400 and "fields" in response.json()["detail"]
    assert time.monotonic() - started < 5


# ----------------------------------------------------------------------------- 4, 5. images

def png_bytes(width: int, height: int) -> bytes:
    """A real PNG of a black greyscale image: a few KB that decode to width x height pixels."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (width, height)).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def png_header(width: int, height: int, idat: bool = True) -> bytes:
    """A PNG that declares ``width`` x ``height`` and carries almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if idat:
        out += chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    return out + chunk(b"IEND", b"")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.base = rss_bytes()
        self.peak = self.base
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.005):
            self.peak = max(self.peak, rss_bytes())


def calls(api: Any) -> int:
    return int(requests.get(api.url + "/v1/statistics/", timeout=10).json()["usage"]["calls"])


def test_parallel_decompression_bombs_keep_memory_bounded(api: Any) -> None:
    bomb = png_bytes(LARGEST, LARGEST)  # the largest image the default api.max_pixels accepts
    requests.post(api.url + READ, files={"upload": ("s.jpg", SMALL_JPEG)}, timeout=30)  # warm up
    sampler = PeakRss()
    sampler.start()
    statuses: list[int] = []

    def post() -> None:
        r = requests.post(api.url + READ, files={"upload": ("bomb.png", bomb)}, timeout=120)
        statuses.append(r.status_code)
        assert r.headers["Content-Type"].startswith("application/json")
        if r.status_code == 503:
            assert int(r.headers["Retry-After"]) >= 1

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    sampler.done.set()
    sampler.join()
    grown = (sampler.peak - sampler.base) / 2**20
    assert sorted(set(statuses)) <= [201, 503] and 201 in statuses, statuses
    assert grown < 600, f"8 parallel {LARGEST}x{LARGEST} bombs grew the server by {grown:.0f} MiB"


@pytest.mark.parametrize("idat", [True, False])
def test_a_100_megapixel_header_is_413_with_a_clear_message(api: Any, idat: bool) -> None:
    response = requests.post(api.url + READ, timeout=30,
                             files={"upload": ("big.png", png_header(10_000, 10_000, idat))})
    assert response.status_code == 413, response.text
    message = response.json()["detail"]
    assert "object at 0x" not in message and "10000x10000" in message
    assert str(config.ApiConfig().max_pixels) in message


def test_a_truncated_png_is_400_and_not_counted(api: Any) -> None:
    data = png_bytes(LARGEST, LARGEST)
    before = calls(api)
    for cut in (12, 20, len(data) // 2):
        response = requests.post(api.url + READ, files={"upload": ("t.png", data[:-cut])},
                                 timeout=60)
        assert response.status_code == 400, (cut, response.status_code)
        assert "truncated" in response.json()["detail"]
    assert calls(api) == before


def test_unidentified_images_do_not_leak_object_reprs(api: Any) -> None:
    response = requests.post(api.url + READ, files={"upload": ("x.png", b"\x89PNG\r\n\x1a\nxx")},
                             timeout=30)
    assert response.status_code == 400 and "object at 0x" not in response.json()["detail"]


# ----------------------------------------------------------------------------- 6. token

@pytest.mark.parametrize("token", ["   ", "\n", "\t \r\n"])
def test_a_whitespace_token_is_a_config_error(tmp_path: Path, recognizer: Any,
                                              monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    from edge_alpr.api.server import build

    monkeypatch.setenv("EDGE_ALPR_API_TOKEN", token)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = config.from_dict({"state_dir": str(tmp_path), "api": {"host": "0.0.0.0", "port": 0}})
    with pytest.raises(ConfigError, match="EDGE_ALPR_API_TOKEN"):
        build(cfg, recognizer=recognizer).close()


def test_a_token_with_surrounding_whitespace_is_stripped(api_factory: Any) -> None:
    server = api_factory(token="  s3cret\n")
    ok = requests.get(server.url + "/info/", headers={"Authorization": "Token s3cret"}, timeout=10)
    assert ok.status_code == 200


# ----------------------------------------------------------------------------- 7c. shutdown

@pytest.fixture
def hanging_target() -> Iterator[tuple[str, list[socket.socket]]]:
    """An HTTP 'server' that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    stop.set()
    thread.join(5)
    for s in accepted:
        s.close()
    listener.close()


def test_close_waits_on_one_deadline_for_hanging_webhook_targets(
        tmp_path: Path, recognizer: Any, monkeypatch: pytest.MonkeyPatch,
        hanging_target: tuple[str, list[socket.socket]]) -> None:
    from edge_alpr.api.server import build

    base, accepted = hanging_target
    monkeypatch.delenv("EDGE_ALPR_API_TOKEN", raising=False)
    cfg = config.from_dict({
        "state_dir": str(tmp_path), "mqtt": {"enabled": False}, "stream": {"enabled": False},
        "api": {"port": 0},
        "webhooks": {"targets": [f"{base}/hook{i}" for i in range(4)], "timeout_s": 30},
    })
    runtime = build(cfg, recognizer=recognizer)
    try:
        url = f"http://127.0.0.1:{runtime.server.port}"
        assert requests.post(url + READ, files={"upload": ("c.jpg", SMALL_JPEG)},
                             timeout=30).status_code == 201
        assert wait_for(lambda: len(accepted) >= 4), "the webhook workers did not connect"
    finally:
        started = time.monotonic()
        runtime.close()
        elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"close took {elapsed:.1f} s with 4 hanging webhook targets"


# ----------------------------------------------------------------------------- all at once

def test_resources_stay_bounded_under_a_mixed_attack(api: Any, tricklers: list[Trickler]) -> None:
    addr = address(api)
    tricklers.extend([slow_header_client(addr), slow_header_client(addr),
                      slow_body_client(addr), slow_body_client(addr)])
    for t in tricklers:
        t.start()
    bomb = png_bytes(LARGEST, LARGEST)
    flood = b"&".join([b"regions=fr"] * 900_000)
    stop = threading.Event()
    attacks: list[int] = []

    def attack(body: bytes, files: bool) -> None:
        while not stop.is_set():
            try:
                if files:
                    r = requests.post(api.url + READ, files={"upload": ("b.png", body)}, timeout=60)
                else:
                    r = requests.post(api.url + READ, data=body, timeout=60, headers={
                        "Content-Type": "application/x-www-form-urlencoded"})
                attacks.append(r.status_code)
            except requests.RequestException:
                attacks.append(0)

    sampler = PeakRss()
    sampler.start()
    threads = [threading.Thread(target=attack, args=(bomb, True), daemon=True) for _ in range(3)]
    threads.append(threading.Thread(target=attack, args=(flood, False), daemon=True))
    for t in threads:
        t.start()
    time.sleep(1.5)
    try:
        times = []
        for _ in range(5):
            status, elapsed = timed_post(api.url)
            assert status == 201
            times.append(elapsed)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        sampler.done.set()
        sampler.join()
    assert max(times) < 2.0, f"normal requests took {times} under attack"
    assert all(s in (201, 400, 408, 503) for s in attacks), attacks
    grown = (sampler.peak - sampler.base) / 2**20
    assert grown < 700, f"the server grew by {grown:.0f} MiB under attack"
