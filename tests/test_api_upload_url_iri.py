"""``upload_url`` of non-ASCII text (an IRI), through the real API over a socket to a real image
server on loopback: sent as a browser or curl sends it (the path and query percent-encoded as
UTF-8, the host name in IDNA, ``%XX`` escapes kept), and the fetch's checks (this server itself,
the size limit, user and password) hold for what is sent.  A host name that IDNA refuses is a
400 naming it.  Before, every such URL failed as "'ascii' codec can't encode".  A redirect to
such a URL is followed alike, under the same checks (before: "could not be fetched")."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from edge_alpr.api.fetch_urls import ascii_url
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
    ("Ä\uff01B.Example", "'Ä！B.Example'"),  # quoted as written, not lower-cased as .hostname is
], ids=["a format character", "a label too long", "no host name in ASCII", "capitals"])
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


def _redirect(location: str) -> bytes:
    """A 302 to ``location``, its non-ASCII text sent as UTF-8 bytes, as servers send it."""
    return f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()


@pytest.mark.parametrize("written", ["raw", "percent-encoded"])
def test_a_redirect_to_a_non_ascii_host_is_followed_in_idna(fetching_api: Any, image_server: Any,
                                                             written: str) -> None:
    """The redirect's host is sent in IDNA and its path percent-encoded as the first URL's are,
    whether the ``Location`` holds the text itself or its UTF-8 percent-encoded (a host so written
    is the same name).  Before, the host reached the name lookup percent-encoded: "could not be
    fetched"."""
    server = image_server(send(ok(JPEG)))
    port = urlsplit(server.base).port
    host = WIDE_LOOPBACK if written == "raw" else quote(WIDE_LOOPBACK)
    hop = image_server(send(_redirect(f"http://{host}:{port}/Straße.jpg?ort=Köln")))
    response = _read(fetching_api, hop.base + "/a.jpg")
    assert response.status_code == 201, response.text
    assert _request_line(server) == "GET /Stra%C3%9Fe.jpg?ort=K%C3%B6ln HTTP/1.1"
    assert b"\r\nHost: 127.0.0.1:%d\r\n" % port in server.requests[0], server.requests


def test_a_redirect_to_a_non_ascii_host_passes_the_first_urls_checks(fetching_api: Any, image_server: Any) -> None:
    """What the redirect's host is in IDNA is checked as a first URL's is: this server itself, a
    user and password, a host name IDNA refuses (named, as the client's would be); nothing of it
    is fetched.  Each is quoted as the server wrote it, not as urllib escaped it."""
    own = urlsplit(fetching_api.url).port
    server = image_server(send(ok(JPEG)))
    port = urlsplit(server.base).port
    redirects = "upload_url redirects to a URL whose host name "
    refused = {
        f"http://{WIDE_LOOPBACK}:{own}/Straße.jpg": "upload_url leads to this server itself",
        f"http://admin:s3cret@{WIDE_LOOPBACK}:{port}/Straße.jpg": "upload_url redirects to 'http://" + WIDE_LOOPBACK,
        "http://a\uff01b.example/x.jpg": redirects + "'a！b.example' is 'a!b.example' in IDNA",
        "http://" + "ü" * 70 + ".example/x.jpg": redirects + "'" + "ü" * 70,
        "http://%FF%FE.example/x.jpg": redirects + "'%FF%FE.example' is not UTF-8",
    }
    for location, words in refused.items():
        hop = image_server(send(_redirect(location)))
        response = _read(fetching_api, hop.base + "/a.jpg")
        assert response.status_code == 400, (location, response.text)
        detail = response.json()["detail"]
        assert detail.startswith(words) and "s3cret" not in detail, detail
        assert ("admin" in location) == ("has a user name or password" in detail), detail
    assert server.requests == []


def test_a_percent_encoded_host_name_is_the_name_it_encodes(fetching_api: Any, image_server: Any) -> None:
    """A client's URL whose host is its UTF-8 %XX escapes is fetched as the name they stand for,
    as a browser reads it; before, urllib looked the decoded name up and failed to send it
    ("'latin-1' codec can't encode").  An IPv6 zone is kept."""
    server = image_server(send(ok(JPEG)))
    port = urlsplit(server.base).port
    response = _read(fetching_api, f"http://{quote(WIDE_LOOPBACK)}:{port}/Bild.jpg")
    assert response.status_code == 201, response.text
    assert b"\r\nHost: 127.0.0.1:%d\r\n" % port in server.requests[0], server.requests
    assert ascii_url("http://b%C3%BCcher.example/ä") == "http://xn--bcher-kva.example/%C3%A4"
    assert ascii_url("http://[fe80::1%25eth0]:81/ä") == "http://[fe80::1%25eth0]:81/%C3%A4"
