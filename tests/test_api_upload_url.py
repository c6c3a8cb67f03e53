"""``upload_url`` against hostile or broken image servers, through the real API over a socket.

The image server here (``tests/image_server.py``) is a raw socket server on loopback that
misbehaves on purpose: it drips its headers or its body a byte at a time, answers garbage, floods
headers, redirects in a loop or to another scheme, breaks its chunked framing, or sends no image.
Every case must be a JSON 4xx within the configured ``timeout_s`` (never a 5xx or a worker held
open), and the good cases (an IPv6 literal, a redirect) must still be read.  The deadline holds for the connection
too: a TLS handshake dripped a byte at a time, a connect or handshake after a redirect that took
most of the time, and a DNS server that never answers (in a namespace of the test's own).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests import stalled_resolver
from tests.image_server import JPEG, READ, TIMEOUT_S, Behaviour, ok, send

pytest_plugins = ["tests.image_server"]


def _drip(head: bytes, unit: bytes) -> Behaviour:
    def behaviour(conn: socket.socket, base: str) -> None:
        conn.sendall(head)
        for _ in range(200):  # 40 s at most, far past the API's deadline
            conn.sendall(unit)
            time.sleep(0.2)
    return behaviour


HOSTILE: dict[str, tuple[Behaviour, int, str]] = {
    "body dripped a byte at a time": (
        _drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x"), 400, "took longer"),
    "headers dripped for ever": (_drip(b"HTTP/1.1 200 OK\r\n", b"X-A: b\r\n"), 400, "took longer"),
    "a garbage status line": (send(b"HELLO THERE\r\n\r\n"), 400, "could not be fetched"),
    "a 70 kB header line": (send(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n"), 400,
                            "could not be fetched"),
    "200 headers": (send(b"HTTP/1.1 200 OK\r\n" + b"X: a\r\n" * 200 + b"\r\n"), 400, "could not be fetched"),
    "a bad chunk size": (send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"), 400,
                         "could not be fetched"),
    "a redirect loop": (send(lambda base: f"HTTP/1.1 302 Found\r\nLocation: {base}/again\r\n"
                             "Content-Length: 0\r\n\r\n".encode()), 400, "HTTP 302"),
    # a Location of text that made the credentials' hiding backtrack (a quadratic pattern, the GIL held)
    "a 60 kB redirect": (send(("HTTP/1.1 302 Found\r\nLocation: http://u@x/" + "//a:b@[" * 8_600 +
                               "\r\nContent-Length: 0\r\n\r\n").encode()), 400, "at most 4096"),
    "a redirect to ftp": (send(b"HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1:21/x.jpg\r\n"
                               b"Content-Length: 0\r\n\r\n"), 400, "only http:// and https://"),
    "an endless chunked body": (_drip(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                                      b"10000\r\n" + b"x" * 0x10000 + b"\r\n"), 413, "max_bytes"),
    "a web page": (send(ok(b"<html><body>login</body></html>")), 400, "not a supported image"),
    "half an image, then close": (send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + JPEG[:500]), 400,
                                  "corrupt or truncated"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_image_server_is_a_prompt_4xx(fetching_api: Any, image_server: Any, case: str) -> None:
    behaviour, status, words = HOSTILE[case]
    server = image_server(behaviour)
    started = time.monotonic()
    response = requests.post(fetching_api.url + READ, data={"upload_url": server.base + "/snap.jpg"}, timeout=30)
    took = time.monotonic() - started
    assert response.status_code == status, (response.status_code, response.text)
    assert words in response.json()["detail"], response.text
    assert took < TIMEOUT_S + 2, took
    # the worker is free again: a plain read is answered
    assert requests.get(fetching_api.url + "/info/", timeout=5).status_code == 200


@pytest.mark.parametrize("url", ["http://[::1/x.jpg", "http://[127.0.0.1]/x.jpg", "http://127.0.0.1:80x/x.jpg",
                                 "http://127.0.0.1:99999/x.jpg", "http://a b/x.jpg", "http://:80/x.jpg",
                                 "http://[::1]%3A" + "9" * 22 + "/x.jpg",  # urllib: a port past getaddrinfo
                                 "file:///etc/passwd", "gopher://127.0.0.1/x",
                                 # a name IDNA cannot encode: a label over 63 characters
                                 "http://" + "a" * 70 + ".example/x.jpg",
                                 "http://u:" + "p" * 300 + "@" + "h" * 64 + "/x"])
def test_a_malformed_upload_url_is_400(fetching_api: Any, url: str) -> None:
    response = requests.post(fetching_api.url + READ, data={"upload_url": url}, timeout=30)
    assert response.status_code == 400, (response.status_code, response.text)
    assert "upload_url" in response.json()["detail"]


def test_an_ipv6_literal_and_a_redirect_are_fetched(fetching_api: Any, image_server: Any) -> None:
    v6 = image_server(send(ok(JPEG)), socket.AF_INET6)
    response = requests.post(fetching_api.url + READ, data={"upload_url": v6.base + "/snap.jpg"}, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "snap.jpg"
    hop = image_server(send(f"HTTP/1.1 301 Moved\r\nLocation: {v6.base}/b.jpg\r\nContent-Length: 0\r\n\r\n".encode()))
    response = requests.post(fetching_api.url + READ, data={"upload_url": hop.base + "/a.jpg"}, timeout=30)
    assert response.status_code == 201, response.text


def test_slow_image_servers_leave_workers_for_other_requests(api_factory: Any, image_server: Any) -> None:
    """Six clients pointed at a server that never finishes, on a server of four workers: at most
    half the workers fetch (each answered 400 at its deadline), the rest are answered 429 with
    ``Retry-After`` at once, and meanwhile ``/info/`` and file uploads are answered promptly.
    Before, four such fetches held every worker for ``timeout_s``."""
    timeout_s = 4.0
    api = api_factory({"api": {"threads": 4, "upload_url": {"enabled": True, "timeout_s": timeout_s}}})
    server = image_server(HOSTILE["body dripped a byte at a time"][0])
    answers: list[tuple[int, str, str | None]] = []

    def fetch() -> None:
        r = requests.post(api.url + READ, data={"upload_url": server.base + "/s.jpg"}, timeout=30)
        answers.append((r.status_code, r.json()["detail"], r.headers.get("Retry-After")))

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # every fetch has begun, or been refused
    for _ in range(3):
        asked = time.monotonic()
        assert requests.get(api.url + "/info/", timeout=30).status_code == 200
        response = requests.post(api.url + READ, files={"upload": ("a.jpg", JPEG)}, timeout=30)
        assert response.status_code == 201, response.text
        assert time.monotonic() - asked < 1.5, time.monotonic() - asked
    for thread in threads:
        thread.join(30)
    assert time.monotonic() - started < timeout_s + 3
    assert sorted(status for status, _, _ in answers) == [400, 400, 429, 429, 429, 429], answers
    for status, said, retry in answers:
        if status == 429:
            assert "throttled" in said and "upload_url" in said and retry == "1", (said, retry)
        else:
            assert "took longer than" in said, said


def test_an_upload_url_with_a_user_and_password_is_a_clear_400(fetching_api: Any, image_server: Any) -> None:
    """Not a name lookup of "user:password@host" (which failed as "Name or service not known"):
    a 400 saying what is wrong, without the password, and nothing is fetched, a redirect's too."""
    server = image_server(send(ok(JPEG)))
    hop = image_server(send(lambda base: (f"HTTP/1.1 302 Found\r\nLocation: http://cam:s3cret@"
                                          f"{server.base.removeprefix('http://')}/b.jpg\r\n"
                                          "Content-Length: 0\r\n\r\n").encode()))
    for url in (server.base.replace("http://", "http://admin:s3cret@") + "/snap.jpg",
                server.base.replace("http://", "http://admin@") + "/snap.jpg", hop.base + "/a.jpg"):
        response = requests.post(fetching_api.url + READ, data={"upload_url": url}, timeout=30)
        assert response.status_code == 400, (url, response.text)
        said = response.json()["detail"]
        assert "user name or password" in said and "s3cret" not in said, said
    assert server.connections == []


# ----------------------------------------------------------------------------- the connection's time

def _drip_tls(conn: socket.socket, base: str) -> None:
    """After the ClientHello: a TLS handshake record of 16 KiB, its bytes a tenth of a second
    apart (no read waits long, the handshake never ends; no certificate is ever sent)."""
    conn.sendall(b"\x16\x03\x03\x40\x00")
    for _ in range(400):
        conn.sendall(b"\x02")
        time.sleep(0.1)


def _redirect_late(target: str, delay: float) -> Behaviour:
    """A redirect to ``target``, sent after ``delay`` s of the fetch's time."""
    def behaviour(conn: socket.socket, base: str) -> None:
        time.sleep(delay)
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n".encode())
    return behaviour


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A loopback port whose connects hang: its listen queue is full and nothing accepts."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = []
    for _ in range(4):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        queued.append(sock)
    probe = socket.socket()
    probe.settimeout(0.3)
    with pytest.raises(TimeoutError):
        probe.connect(("127.0.0.1", port))
    probe.close()
    yield port
    for sock in [*queued, listener]:
        sock.close()


def _late_by(fetching_api: Any, url: str) -> float:
    """Seconds a fetch of ``url`` took, once answered with the documented 400."""
    started = time.monotonic()
    response = requests.post(fetching_api.url + READ, data={"upload_url": url}, timeout=30)
    took = time.monotonic() - started
    assert response.status_code == 400, (response.status_code, response.text)
    assert "took longer than" in response.json()["detail"], response.text
    assert requests.get(fetching_api.url + "/info/", timeout=5).status_code == 200
    return took


def test_a_dripped_tls_handshake_ends_at_the_deadline(fetching_api: Any, image_server: Any) -> None:
    tls = image_server(_drip_tls)
    assert _late_by(fetching_api, tls.base.replace("http:", "https:") + "/snap.jpg") < TIMEOUT_S + 0.6


def test_a_tls_handshake_after_a_slow_redirect_gets_only_what_is_left(fetching_api: Any, image_server: Any
                                                                       ) -> None:
    """The handshake's own timeout started at the handshake: after a redirect that took most of
    ``timeout_s``, it held the worker for another ``timeout_s``."""
    tls = image_server(_drip_tls)
    hop = image_server(_redirect_late(tls.base.replace("http:", "https:") + "/b.jpg", 0.8 * TIMEOUT_S))
    assert _late_by(fetching_api, hop.base + "/a.jpg") < TIMEOUT_S + 0.6


def test_a_connect_after_a_slow_redirect_gets_only_what_is_left(fetching_api: Any, image_server: Any,
                                                                 unanswered_port: int) -> None:
    hop = image_server(_redirect_late(f"http://127.0.0.1:{unanswered_port}/b.jpg", 0.8 * TIMEOUT_S))
    assert _late_by(fetching_api, hop.base + "/a.jpg") < TIMEOUT_S + 0.6


def test_a_dns_server_that_never_answers_holds_no_worker_past_timeout_s(tmp_path: Path) -> None:
    """``getaddrinfo`` takes no timeout: with a silent DNS server it waits the resolver's own
    (5 s here).  Three fetches on a server of two threads, then ``/info/``: all answered within
    the fetch's ``timeout_s`` (1 s), the one fetch a server of two threads runs at once with the
    documented 400, the others with 429."""
    result = stalled_resolver.run_isolated(tmp_path / "resolv.conf")
    if result is None:
        pytest.skip("unprivileged user namespaces are not available (`unshare -rmn true` fails): "
                    "no DNS server of the test's own can stand in for the system's")
    assert result["queries"] > 0, result  # the lookups went to the silent server
    assert sorted(status for status, _, _ in result["answers"]) == [400, 429, 429], result
    assert all("took longer than" in detail for status, detail, _ in result["answers"] if status == 400), result
    assert result["fetched_s"] < 2 * stalled_resolver.TIMEOUT_S + 1.0, result
    assert result["info"] == 200 and result["info_s"] < 1.0, result


def test_an_upload_url_leading_to_the_server_itself_is_a_prompt_400(fetching_api: Any, image_server: Any) -> None:
    """A fetch from the server itself waits for one of its own workers: with every worker
    fetching from itself (more such requests at once than workers) none was left to answer, and
    every client waited out the fetches' deadlines.  Refused when connecting, a redirect's too;
    meanwhile other clients are answered."""
    port = urlsplit(fetching_api.url).port
    own = f"http://127.0.0.1:{port}/info/"
    redirect = image_server(send(b"HTTP/1.1 302 Found\r\nLocation: " + own.encode()
                                 + b"\r\nContent-Length: 0\r\n\r\n"))
    answers: list[tuple[int, str, float]] = []

    def fetch(url: str) -> None:
        started = time.monotonic()
        r = requests.post(fetching_api.url + READ, data={"upload_url": url}, timeout=30)
        answers.append((r.status_code, r.json()["detail"], time.monotonic() - started))

    threads = [threading.Thread(target=fetch, args=(url,))
               for url in [own, f"http://localhost:{port}/v1/statistics/", redirect.base + "/s.jpg"] * 4]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    response = requests.get(fetching_api.url + "/info/", timeout=30)
    assert response.status_code == 200 and time.monotonic() - started < TIMEOUT_S, time.monotonic() - started
    for thread in threads:
        thread.join(30)
    assert len(answers) == 12
    for status, detail, took in answers:
        assert status == 400 and "this server itself" in detail, (status, detail)
        assert took < TIMEOUT_S, took
