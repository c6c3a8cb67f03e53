"""Every answer of the API server says ``X-Content-Type-Options: nosniff``, over a real socket:
JSON successes, the app's JSON errors, the host guard's refusal, ``/metrics``, the console's
pages (once, not twice), and the errors given below the app (cheroot's parser, the connection
gate), so no browser reads a JSON body that echoes a caller's text as HTML or script."""

from __future__ import annotations

import socket
from typing import Any

import requests

from tests.test_api_hardening import address, read_response

NOSNIFF = "x-content-type-options"


def _raw(api: Any, request: bytes) -> tuple[int, dict[str, str]]:
    """Status and lower-cased headers of the answer to ``request`` sent as is."""
    with socket.create_connection(address(api), timeout=10) as sock:
        sock.sendall(request)
        status, headers, _ = read_response(sock, 10)
    return status, headers


def test_json_answers_and_app_errors_say_nosniff(api: Any) -> None:
    answers = {
        "GET /info/": requests.get(api.url + "/info/"),
        "GET /v1/statistics/": requests.get(api.url + "/v1/statistics/"),
        "a 404": requests.get(api.url + "/nowhere"),
        "a 405": requests.delete(api.url + "/info/"),
        "a 400 from the reader": requests.post(api.url + "/v1/plate-reader/", data={"regions": "gb"}),
        "a 400 from the events search": requests.get(api.url + "/v1/events/", params={"limit": "x"}),
        "the host guard's 403": requests.get(api.url + "/info/", headers={"Host": "rebound.example"}),
        "GET /metrics": requests.get(api.url + "/metrics"),
        "the console": requests.get(api.url + "/"),
    }
    for what, response in answers.items():
        assert response.headers.get(NOSNIFF) == "nosniff", (what, response.status_code, response.headers)
    assert answers["GET /info/"].status_code == 200
    assert answers["a 404"].status_code == 404 and answers["a 405"].status_code == 405
    assert answers["a 400 from the reader"].status_code == 400
    assert answers["the host guard's 403"].status_code == 403
    assert answers["a 400 from the events search"].status_code == 400
    # the console's page sets it itself: sent once, not twice
    with socket.create_connection(address(api), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
    head = data.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 200") and head.count(b"x-content-type-options: nosniff") == 1, head


def test_errors_given_below_the_app_say_nosniff(api: Any) -> None:
    for what, request, expected in (
        ("cheroot's parser: a lower-case method", b"get /info/ HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
        ("cheroot's parser: HTTP/2's preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ("the connection gate: ambiguous framing",
         b"POST /v1/plate-reader/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
         b"Content-Length: 44\r\n\r\nhello", 400),
    ):
        status, headers = _raw(api, request)
        assert status == expected, what
        assert headers.get(NOSNIFF) == "nosniff", (what, headers)

