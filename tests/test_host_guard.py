"""A server without a token answers only requests addressed to this machine (DNS rebinding).

The real server on a loopback socket, spoken to with raw requests whose ``Host`` header is what
a browser would send for the page it is on.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest

from edge_alpr.api.host_guard import host_name


def get(port: int, host: str | None, path: str = "/info/", token: str = "") -> tuple[int, dict[str, Any]]:
    """``GET path`` over a raw socket with this ``Host`` (None: no Host header, as HTTP/1.0)."""
    lines = [f"GET {path} HTTP/1.0" if host is None else f"GET {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    if token:
        lines.append(f"Authorization: Token {token}")
    lines += ["Connection: close", "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body.startswith(b"{") else {}


@pytest.mark.parametrize(("header", "name"), [
    ("localhost:8080", "localhost"), ("LOCALHOST", "localhost"), ("[::1]:8080", "::1"),
    ("127.0.0.1:8080", "127.0.0.1"), ("evil.example.:80", "evil.example"), ("", ""),
    ("[fe80::1%25eth0]:80", "fe80::1%25eth0"), ("::1", "::1"),
    # no host[:port]: None, refused (read loosely, each passed as the IP or name before it)
    ("[::1].evil.example", None), ("[::1]:80.evil.example", None), ("127.0.0.1:8080.evil.example", None),
    ("localhost:80@evil.example", None), ("127.0.0.1%.evil.example", None), ("[evil.example]", None),
    ("localhost:http", None), ("local host", None), ("[::1", None),
])
def test_host_name(header: str, name: str | None) -> None:
    assert host_name(header) == name


def test_a_tokenless_server_refuses_other_names(api_factory: Callable[..., Any]) -> None:
    port = api_factory().runtime.server.port
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "192.168.1.7",
                 f"{socket.gethostname()}:{port}", f"app.localhost:{port}", None):
        status, _ = get(port, host)
        assert status == 200, host
    for host in (f"attacker.example:{port}", "rebind.attacker.example", f"localhost.attacker.example:{port}",
                 "[::1].attacker.example", f"127.0.0.1:{port}.attacker.example", "localhost:80@attacker.example",
                 "127.0.0.1%.attacker.example"):
        status, body = get(port, host)
        assert status == 403, host
        assert "DNS rebinding" in body["detail"] and "api.allowed_hosts" in body["detail"]
    status, _ = get(port, f"attacker.example:{port}", "/")  # the console page too
    assert status == 403


def test_allowed_hosts_adds_names(api_factory: Callable[..., Any]) -> None:
    port = api_factory({"api": {"allowed_hosts": ["ALPR.lan"]}}).runtime.server.port
    assert get(port, f"alpr.lan:{port}")[0] == 200
    assert get(port, f"other.lan:{port}")[0] == 403


def test_with_a_token_the_token_decides(api_factory: Callable[..., Any]) -> None:
    port = api_factory(token="s3cret").runtime.server.port
    assert get(port, "reverse-proxy.example", token="s3cret")[0] == 200
    assert get(port, "reverse-proxy.example")[0] == 403  # no token: refused by the token check


def test_a_long_host_is_not_echoed_whole(api_factory: Callable[..., Any]) -> None:
    """The 403 names the refused Host by its first characters and its length: not the 40 KB a
    client (or a proxy passing on what a client sent) put in it."""
    port = api_factory().runtime.server.port
    host = "a" * 40_000 + ".attacker.example"
    status, body = get(port, host)
    assert status == 403
    assert "DNS rebinding" in body["detail"] and f"({len(host)} characters)" in body["detail"]
    assert len(body["detail"]) < 600, len(body["detail"])
