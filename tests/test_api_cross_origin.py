"""A page of another origin cannot embed the server's answers, nor find them in the disk cache.

Over a real socket: every answer says ``Cross-Origin-Resource-Policy: same-origin`` (the routes',
the host guard's, bottle's errors, the connection layer's) and, unless it names its own caching,
``Cache-Control: no-store``.  In headless Chromium (marked ``browser``): a page the admin opens
on another port of the device (same site: the session cookie goes along) or on another site (a
server without a token) cannot load an event's plate crop as an ``<img>``, while the console's
own page still can.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from chromium import Chromium, find_chromium
from conftest import SAMPLES, RunningApi

from edge_alpr.api.console_auth import COOKIE
from tests.test_api_hardening import address, read_response

TOKEN = "cross-origin-s3cret"
CHROMIUM = find_chromium()
CORP = "cross-origin-resource-policy"


def _get(api: RunningApi, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(api.url + path, headers=headers or {}, timeout=10)


def _read_with_crop(api: RunningApi, headers: dict[str, str]) -> str:
    """Post a read kept in the history; the path of its plate crop."""
    sample = sorted(SAMPLES.glob("*.jpg"))[0].read_bytes()
    r = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": ("car.jpg", sample)},
                      headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    events = requests.get(f"{api.url}/v1/events/", headers=headers, timeout=10).json()["results"]
    crop: str = events[0]["images"]["plate"]
    return crop


def test_every_answer_is_same_origin_only_and_not_stored(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory({"history": {"api_reads": True}}, token=TOKEN)
    auth = {"Authorization": f"Token {TOKEN}"}
    crop = _read_with_crop(api, auth)
    answers = {
        "the console": _get(api, "/", headers=auth), "the login form": _get(api, "/login"),
        "a 403": _get(api, "/v1/events/"), "the events": _get(api, "/v1/events/", headers=auth),
        "the CSV": _get(api, "/v1/events/?format=csv", headers=auth),
        "the lists": _get(api, "/v1/watchlists/", headers=auth), "/info/": _get(api, "/info/", headers=auth),
        "the statistics": _get(api, "/v1/statistics/", headers=auth), "/metrics": _get(api, "/metrics", headers=auth),
        "the parts": _get(api, "/console/parts", headers=auth), "a 404": _get(api, "/nowhere", headers=auth),
        "a crop": _get(api, crop, headers=auth), "the script": _get(api, "/console/static/console.js"),
    }
    for what, response in answers.items():
        assert response.headers.get(CORP) == "same-origin", (what, response.status_code, response.headers)
    for what in ("a 403", "the events", "the CSV", "the lists", "/info/", "the statistics", "/metrics",
                 "a 404"):
        assert answers[what].headers.get("cache-control") == "no-store", (what, answers[what].headers)
    assert answers["a crop"].headers["cache-control"] == "private, max-age=86400"  # its own, kept
    assert answers["the script"].headers["cache-control"] == "no-cache"
    with socket.create_connection(address(api), timeout=10) as sock:  # the connection layer's
        sock.sendall(b"POST /v1/plate-reader/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                     b"Content-Length: 44\r\n\r\nhello")
        status, headers, _ = read_response(sock, 10)
    assert status == 400 and headers.get(CORP) == "same-origin" and headers["cache-control"] == "no-store"
    guard = api_factory().url  # a server without a token: the host guard's refusal
    r = requests.get(f"{guard}/info/", headers={"Host": "rebound.example"}, timeout=10)
    assert r.status_code == 403 and r.headers.get(CORP) == "same-origin"


class _AttackerPage(BaseHTTPRequestHandler):
    """Serves one page (``page``) that tries to load an image of the device."""

    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[int]:
    """A web server on another port of this machine: the attacker's pages; its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AttackerPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    pytest.importorskip("websocket", reason="websocket-client (pip install -e '.[test]') drives Chromium")
    if CHROMIUM is None:
        pytest.skip("no Chromium here: apt-get install chromium (Debian)")
    profile = tmp_path / "profile"
    profile.mkdir()
    chrome = Chromium(CHROMIUM, profile)
    yield chrome
    chrome.close()


LOAD = """new Promise((done) => { const i = new Image(); i.onload = () => done("loaded");
  i.onerror = () => done("refused"); i.src = %r; })"""


@pytest.mark.browser
def test_another_origins_page_cannot_embed_a_plate_crop(
        api_factory: Callable[..., RunningApi], attacker: int, browser: Chromium) -> None:
    device = api_factory({"history": {"api_reads": True}}, token=TOKEN)
    crop = device.url + _read_with_crop(device, {"Authorization": f"Token {TOKEN}"})
    open_device = api_factory({"history": {"api_reads": True}}, state_dir=device.state_dir.parent / "open")
    open_crop = open_device.url + _read_with_crop(open_device, {})

    browser.open(f"{device.url}/login")  # the admin logs in
    browser.evaluate(f"document.querySelector('input[name=token]').value = {TOKEN!r};"
                     "document.querySelector('form').submit()")
    browser.settle()
    assert browser.evaluate("location.pathname") == "/"
    assert browser.evaluate(LOAD % crop) == "loaded"  # the console's own page
    _AttackerPage.page = b"<!doctype html><title>cats</title>"
    # another port of the device: the same site, so the Strict cookie goes along
    browser.open(f"http://127.0.0.1:{attacker}/")
    assert browser.evaluate(LOAD % crop) == "refused"
    session = requests.get(crop, cookies={COOKIE: _cookie(browser)}, timeout=10)
    assert session.status_code == 200  # the cookie was good: only the header refused it
    # another site (localhost is not 127.0.0.1's site), against the server without a token
    browser.open(f"http://localhost:{attacker}/")
    assert browser.evaluate(LOAD % open_crop) == "refused"
    browser.open(open_device.url + "/")
    assert browser.evaluate(LOAD % open_crop) == "loaded"


def _cookie(browser: Chromium) -> str:
    cookies = browser.call("Network.getAllCookies")["cookies"]
    return str(next(c["value"] for c in cookies if c["name"] == COOKIE))
