"""``upload_url`` of non-ASCII text (an IRI), through the real API over a socket to a real image
server on loopback: sent as a browser or curl sends it (the path and query percent-encoded as
UTF-8, the host name in IDNA, ``%XX`` escapes kept), and the fetch's checks (this server itself,
the size limit, user and password) hold for what is sent.  A host name that IDNA refuses is a
400 naming it.  Before, every such URL failed as "'ascii' codec can't encode"."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from edge_alpr.api.fetch import ascii_url
from tests.image_server import JPEG, READ, ImageServer, ok, send

pytest_plugins = ["tests.image_server"]

# the full-width form of 127.0.0.1 (digits U+FF10-FF19, full stops U+FF0E): IDNA maps it to ASCII
WIDE_LOOPBACK = "".join(chr(0xFF10 + int(c)) if c.isdigit() else "\uff0e" for c in "127.0.0.1")


def _read(api: Any, url: str) -> requests.Response:
    return requests.post(api.url + READ, data={"upload_url": url}, timeout=30)


def _request_line(server: ImageServer) -> str:
    [request] = server.requests
    return request.split(b"\r\n", 1)[0].decode("ascii")


def test_a_non_ascii_path_and_query_are_sent_percent_encoded(fetching_api: Any, image_server: Any) -> None:
    server = image_server(send(ok(JPEG)))
    response = _read(fetching_api, server.base + "/Straße/Größe.jpg?ort=Köln")
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "Größe.jpg"
    assert _request_line(server) == "GET /Stra%C3%9Fe/Gr%C3%B6%C3%9Fe.jpg?ort=K%C3%B6ln HTTP/1.1"


def test_percent_escapes_beside_non_ascii_text_are_kept(fetching_api: Any, image_server: Any) -> None:
    server = image_server(send(ok(JPEG)))
    response = _read(fetching_api, server.base + "/a%20b/%C3%A9t%C3%A9-ü.jpg?x=%26y")
    assert response.status_code == 201, response.text
    assert _request_line(server) == "GET /a%20b/%C3%A9t%C3%A9-%C3%BC.jpg?x=%26y HTTP/1.1"


def test_a_non_ascii_host_name_is_sent_in_idna(fetching_api: Any, image_server: Any) -> None:
    server = image_server(send(ok(JPEG)))
    port = urlsplit(server.base).port
    response = _read(fetching_api, f"http://{WIDE_LOOPBACK}:{port}/Bild.jpg")
    assert response.status_code == 201, response.text
    assert b"\r\nHost: 127.0.0.1:%d\r\n" % port in server.requests[0], server.requests
    # RFC 3492's own example of a name in IDNA, and an IDN with a port and a path
    assert ascii_url("http://Bücher.example:8080/ä?b=ö") == "http://xn--bcher-kva.example:8080/%C3%A4?b=%C3%B6"


@pytest.mark.parametrize(("host", "named"), [
    ("a\u200eb.example", r"'a\u200eb.example'"),  # a left-to-right mark: no character IDNA takes
    ("ü" * 70 + ".example", "'" + "ü" * 70),  # a label over 63 characters
    ("a\uff01b.example", "'a！b.example'"),  # a full-width '!': an ASCII form that is no host name
], ids=["a format character", "a label too long", "no host name in ASCII"])
def test_a_host_name_idna_refuses_is_a_400_naming_it(fetching_api: Any, host: str, named: str) -> None:
    response = _read(fetching_api, f"http://{host}/x.jpg")
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert "upload_url's host name" in detail and named in detail and "IDNA" in detail, detail


def test_the_fetch_checks_hold_for_the_encoded_url(fetching_api: Any, image_server: Any) -> None:
    """A full-width host that is this server itself, an image over max_bytes at a non-ASCII path,
    and a user and password before a non-ASCII host: each refused as its ASCII twin is."""
    own = urlsplit(fetching_api.url).port
    response = _read(fetching_api, f"http://{WIDE_LOOPBACK}:{own}/Straße.jpg")
    assert response.status_code == 400 and "this server itself" in response.json()["detail"], response.text
    big = image_server(send(ok(b"\xff" * 300_000)))
    response = _read(fetching_api, big.base + "/Straße.jpg")
    assert response.status_code == 413 and "max_bytes" in response.json()["detail"], response.text
    port = urlsplit(big.base).port
    response = _read(fetching_api, f"http://admin:s3cret@{WIDE_LOOPBACK}:{port}/Straße.jpg")
    assert response.status_code == 400 and "user name or password" in response.json()["detail"], response.text
    assert len(big.requests) == 1  # the one too large
