"""``upload_url`` whose host urllib reads otherwise than the checks, through the real API over a
socket to real image servers on loopback: text after an [IPv6] literal's ']' (``%3A`` and a port:
``urlsplit`` skips it, urllib decodes it into a port), a host escape that decodes to a '@', ':' or
'/', and a redirect's ``Location`` whose host is not UTF-8.  Each is a 400 naming what the client
or the server wrote, and nothing is fetched.  Before: a 500 for a port too large for the name
lookup, a fetch from a port the checks never saw, and messages quoting urllib's escapes."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.image_server import JPEG, READ, ImageServer, ok, send

pytest_plugins = ["tests.image_server"]

HUGE_PORT = "9" * 22  # past what getaddrinfo takes: OverflowError, not OSError


def _read(api: Any, url: str) -> requests.Response:
    return requests.post(api.url + READ, data={"upload_url": url}, timeout=30)


def _redirect(location: bytes) -> bytes:
    return b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"


def _v6_server(image_server: Any) -> tuple[ImageServer, int]:
    server = image_server(send(ok(JPEG)), socket.AF_INET6)
    return server, urlsplit(server.base).port


@pytest.mark.parametrize("after", ["%3A{port}", f"%3A{HUGE_PORT}", "x:{port}", "]:{port}"])
def test_text_after_an_ipv6_literal_is_a_400_naming_the_url(fetching_api: Any, image_server: Any,
                                                            after: str) -> None:
    server, port = _v6_server(image_server)
    url = f"http://[::1]{after.format(port=port)}/x.jpg"
    response = _read(fetching_api, url)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert f"upload_url {url!r} is not a valid URL" in detail and "']'" in detail, detail
    assert server.requests == []
    assert _read(fetching_api, f"http://[::1]:{port}/x.jpg").status_code == 201  # the port where it belongs


@pytest.mark.parametrize("after", ["%3A{port}", f"%3A{HUGE_PORT}"])
def test_a_redirect_to_text_after_an_ipv6_literal_is_a_400(fetching_api: Any, image_server: Any, after: str) -> None:
    server, port = _v6_server(image_server)
    location = f"http://[::1]{after.format(port=port)}/x.jpg"
    hop = image_server(send(_redirect(location.encode())))
    response = _read(fetching_api, hop.base + "/a.jpg")
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"upload_url redirects to {location!r} is not a valid URL")
    assert server.requests == []


@pytest.mark.parametrize(("host", "decoded"), [("evil%40127.0.0.1", "'@'"), ("127.0.0.1%3A{port}", "':'"),
                                               ("127.0.0.1%2Fa", "'/'")])
def test_a_host_escape_that_decodes_to_a_delimiter_is_named(fetching_api: Any, image_server: Any, host: str,
                                                            decoded: str) -> None:
    """Before: "host name 'evil@127.0.0.1' is 'evil@127.0.0.1' in IDNA, which is no host name"."""
    server = image_server(send(ok(JPEG)))
    url = f"http://{host.format(port=urlsplit(server.base).port)}/x.jpg"
    response = _read(fetching_api, url)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert f"upload_url {url!r}" in detail and f"%XX escapes decode to {decoded}" in detail, detail
    assert "IDNA" not in detail, detail
    assert server.requests == []


def test_a_redirect_whose_host_is_not_utf8_is_named_as_the_server_sent_it(fetching_api: Any,
                                                                           image_server: Any) -> None:
    """A Latin-1 byte in the host: the server sent no escape (urllib made '%FC'), so the message
    says the Location is not UTF-8.  A Latin-1 byte in the path is sent as its escape, as before."""
    server = image_server(send(ok(JPEG)))
    port = urlsplit(server.base).port
    hop = image_server(send(_redirect(b"http://b\xfccher.example:%d/x.jpg" % port)))
    response = _read(fetching_api, hop.base + "/a.jpg")
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail.startswith("upload_url redirects to a Location that is not UTF-8"), detail
    assert "0xFC" in detail and r"'b\xfccher.example'" in detail and "%FC" not in detail, detail
    hop = image_server(send(_redirect(b"http://127.0.0.1:%d/Stra\xdfe.jpg" % port)))
    response = _read(fetching_api, hop.base + "/a.jpg")
    assert response.status_code == 201, response.text
    assert server.requests[0].startswith(b"GET /Stra%DFe.jpg HTTP/1.1\r\n"), server.requests
