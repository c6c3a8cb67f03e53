"""The console (``GET /``) through real parts: the service with its camera loop over the bundled
samples, the history in SQLite on disk, the API server on a loopback socket.

Plates are checked against the dataset labels (``edge_alpr/samples/labels.json``), never
against model output; the watch-list label and the camera name carry HTML that must stay inert.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from conftest import SAMPLES, RunningApi
from console_service import CAMERA, ENTRY, HOSTILE, LABEL, MAX_DISTANCE, running_service
from PIL import Image

from edge_alpr.api import auth_throttle, console_auth
from edge_alpr.api.auth_throttle import Client
from edge_alpr.api.console_auth import COOKIE, ConsoleAuth
from edge_alpr.api.console_view import VIEW_WIDTH
from edge_alpr.fuzzy import distance

TOKEN = "console-s3cret"


def _rows(html: str) -> list[str]:
    return re.findall(r"<tr class=\"(?:match)?\" data-event=.*?</tr>", html, re.S)


def test_page_shows_cameras_events_matches_views_and_health(tmp_path: Path, recognizer: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with running_service(tmp_path, recognizer, monkeypatch) as (svc, url):
        r = requests.get(f"{url}/", timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"
        page = r.text
        rows = _rows(page)
        assert len(rows) == svc.history.stats()["events"]  # type: ignore[union-attr]
        matched = [row for row in rows if row.startswith('<tr class="match"')]
        assert matched and all(">deny</span>" in row for row in matched)
        plates = [re.search(r'class="plate">(\w+)', row).group(1) for row in matched]  # type: ignore[union-attr]
        assert all(distance(plate, ENTRY) <= MAX_DISTANCE for plate in plates)
        assert any(distance(plate, LABEL.replace("?", "X")) <= 1 + LABEL.count("?") for plate in plates)
        # hostile names are shown as text, never as markup
        assert "<script>document" not in page and "<img src=x" not in page and "<b>" not in page
        assert "&lt;script&gt;document.title=1&lt;/script&gt;&lt;img src=x onerror=&quot;" in page
        assert f'<td data-label="Camera">{CAMERA.replace("<", "&lt;").replace(">", "&gt;")}</td>' in page
        assert "the bundled sample images" in page and "source ended" in page
        assert "No MQTT broker or webhook is configured" in page
        assert f"History</dt><dd>{len(rows)} events" in page
        for crop in re.findall(r'<img class="crop" src="([^"]+)"', page):
            image = requests.get(f"{url}{crop}", timeout=10)
            assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"

        parts = requests.get(f"{url}/console/parts", timeout=10)
        assert parts.status_code == 200
        assert set(parts.json()) == {"trouble", "cameras", "health", "counters", "events"}
        assert len(_rows(parts.json()["events"])) == len(rows)
        assert "<script>" not in requests.get(f"{url}/console/parts?parts=lists", timeout=10).text

        found = requests.get(f"{url}/", params={"plate": ENTRY, "distance": MAX_DISTANCE}, timeout=10).text
        assert [r.startswith('<tr class="match"') for r in _rows(found)] == [True] * len(matched)
        assert "No event matches the search." in requests.get(
            f"{url}/", params={"camera": "elsewhere"}, timeout=10).text


def test_live_view_is_the_newest_frame_with_its_boxes(tmp_path: Path, recognizer: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with running_service(tmp_path, recognizer, monkeypatch) as (svc, url):
        latest = svc.cameras[0].latest
        assert latest is not None
        frame, results = latest
        r = requests.get(f"{url}/console/cameras/0/view.jpg", timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
        view = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
        height, width = frame.image.shape[:2]
        scale = min(1.0, VIEW_WIDTH / width)
        assert view.shape[:2] == (round(height * scale), round(width * scale))
        assert results, "the last sample has a plate (labels.json)"
        plain = np.asarray(Image.fromarray(frame.image).resize(view.shape[1::-1])).astype(int)
        changed = np.abs(view - plain).sum(axis=2)  # what was drawn, and the JPEG's noise
        for result in results:  # each box's left edge is drawn over the frame
            b = result.box
            x, rows = round(b.xmin * scale), slice(round(b.ymin * scale) + 3, round(b.ymax * scale) - 3)
            assert changed[rows, x:x + 2].mean() > max(150, 5 * np.median(changed))
            assert changed[rows, x + 6:x + 8].mean() < 100  # inside the box: the frame itself
        for missing in ("1", "abc", "99999999999999999999"):
            r = requests.get(f"{url}/console/cameras/{missing}/view.jpg", timeout=10)
            assert r.status_code == 404 and r.json()["detail"]


def test_token_login_cookie_and_csrf(tmp_path: Path, recognizer: Any,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with running_service(tmp_path, recognizer, monkeypatch, token=TOKEN) as (_, url):
        r = requests.get(f"{url}/", allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["Location"] == "/login"
        form = requests.get(f"{url}/login", timeout=10)
        assert form.status_code == 200 and 'name="token"' in form.text and "deny" not in form.text
        for path in ("/console/parts", "/console/cameras/0/view.jpg", "/v1/events/"):
            assert requests.get(f"{url}{path}", timeout=10).status_code == 403, path

        wrong = requests.post(f"{url}/login", data={"token": "guess"}, allow_redirects=False, timeout=10)
        assert wrong.status_code == 403 and "Wrong token" in wrong.text and "Set-Cookie" not in wrong.headers
        ok = requests.post(f"{url}/login", data={"token": TOKEN}, allow_redirects=False, timeout=10)
        assert ok.status_code == 303 and ok.headers["Location"] == "/"
        flags = [f.strip() for f in ok.headers["Set-Cookie"].split(";")]
        assert flags[0].startswith(f"{COOKIE}=") and {"HttpOnly", "SameSite=Strict", "Path=/"} <= set(flags)
        assert "Secure" not in flags and f"Max-Age={console_auth.SESSION_S}" in flags
        proxied = requests.post(f"{url}/login", data={"token": TOKEN}, allow_redirects=False, timeout=10,
                                headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in [f.strip() for f in proxied.headers["Set-Cookie"].split(";")]

        cookie = {COOKIE: ok.cookies[COOKIE]}
        page = requests.get(f"{url}/", cookies=cookie, timeout=10)
        assert page.status_code == 200 and 'action="/logout"' in page.text
        csrf = re.search(r'name="csrf-token" content="([0-9a-f]{32})"', page.text).group(1)  # type: ignore[union-attr]
        assert requests.get(f"{url}/v1/events/", cookies=cookie, timeout=10).status_code == 200
        assert requests.get(f"{url}/console/parts", cookies=cookie, timeout=10).status_code == 200
        assert requests.get(f"{url}/", headers={"Authorization": f"Token {TOKEN}"}, timeout=10).status_code == 200

        body = {"plates": [{"plate": "AB123CD", "label": HOSTILE}]}
        for headers in ({}, {"X-CSRF-Token": "0" * 32}, {"X-CSRF-Token": csrf.upper()}):
            r = requests.put(f"{url}/v1/watchlists/visitors/", json=body, cookies=cookie,
                             headers=headers, timeout=10)
            assert r.status_code == 403 and "CSRF" in r.json()["detail"], headers
        assert requests.get(f"{url}/v1/watchlists/visitors/", cookies=cookie, timeout=10).status_code == 404
        r = requests.put(f"{url}/v1/watchlists/visitors/", json=body, cookies=cookie,
                         headers={"X-CSRF-Token": csrf}, timeout=10)
        assert r.status_code == 200
        lists = requests.get(f"{url}/console/parts?parts=lists", cookies=cookie, timeout=10).json()["lists"]
        assert "AB123CD" in lists and "<script>" not in lists and "&lt;script&gt;" in lists
        assert requests.delete(f"{url}/v1/watchlists/visitors/", cookies=cookie, timeout=10).status_code == 403

        forged = ok.cookies[COOKIE][:-1] + ("0" if ok.cookies[COOKIE][-1] != "0" else "1")
        for value in (forged, "", "x" * 200, "0.0.0"):
            r = requests.get(f"{url}/", cookies={COOKIE: value}, allow_redirects=False, timeout=10)
            assert r.status_code == 303, value
        assert requests.post(f"{url}/logout", cookies=cookie, data={"csrf": "nope"},
                             allow_redirects=False, timeout=10).status_code == 403
        out = requests.post(f"{url}/logout", cookies=cookie, data={"csrf": csrf}, allow_redirects=False,
                            timeout=10)
        assert out.status_code == 303 and "Max-Age=0" in out.headers["Set-Cookie"]


def test_wrong_tokens_are_throttled(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory(token=TOKEN)
    for _ in range(auth_throttle.MAX_FAILURES):
        assert requests.post(f"{api.url}/login", data={"token": "guess"}, timeout=10).status_code == 403
    r = requests.post(f"{api.url}/login", data={"token": TOKEN}, allow_redirects=False, timeout=10)
    assert r.status_code == 429 and "Set-Cookie" not in r.headers


def test_sessions_expire_and_end_with_the_token() -> None:
    now = [1_000_000.0]
    auth = ConsoleAuth(TOKEN, clock=lambda: now[0])
    session = auth.login(TOKEN, Client("192.0.2.1", "192.0.2.1"))
    environ = {"HTTP_COOKIE": f"other=1; {COOKIE}={session}", "REQUEST_METHOD": "GET"}
    assert auth.session(environ) == session
    auth.check(environ)
    now[0] += console_auth.SESSION_S + 1
    assert auth.session(environ) is None
    assert ConsoleAuth("another token", clock=lambda: now[0]).session(
        {"HTTP_COOKIE": f"{COOKIE}={ConsoleAuth(TOKEN, clock=lambda: now[0]).new_session()}"}) is None


def test_a_server_without_token_needs_no_login(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory({"history": {"api_reads": True}})
    with open(sorted(SAMPLES.glob("*.jpg"))[0], "rb") as f:
        r = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f},
                          data={"camera_id": HOSTILE[HOSTILE.index("<img"):]}, timeout=30)  # <= 64 characters
    assert r.status_code == 201
    page = requests.get(f"{api.url}/", timeout=10)
    assert page.status_code == 200 and "/logout" not in page.text and len(_rows(page.text)) == 1
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=&quot;document.title=2&quot;&gt;" in page.text
    assert "No camera runs in this process" in page.text
    r = requests.get(f"{api.url}/login", allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/"


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(("method", "path", "kw", "status"), [
    ("GET", "/?plate=--", {}, 400), ("GET", "/?since=yesterday", {}, 400), ("GET", "/?distance=nan", {}, 400),
    ("GET", "/?until=2024-01-01T00:00:00%2B02:00", {}, 400), ("GET", "/?list=a%20b", {}, 400),
    ("GET", "/?plate=" + "A" * 200, {}, 400), ("GET", "/?plate=%00", {}, 400),
    ("GET", "/?camera=%ff%fe%00", {}, 400), ("GET", "/?bogus=1&limit=x", {}, 200),
    ("GET", "/console/parts?parts=everything", {}, 400), ("GET", "/console/parts?since=x", {}, 400),
    ("GET", "/console/static/%2e%2e%2fconsole.py", {}, 404), ("GET", "/console/static/page.tpl", {}, 404),
    ("POST", "/login", {"data": b"token=%ff%fe\x00", "headers": FORM}, 403),
    ("POST", "/login", {"files": {"token": ("t", b"x")}}, 415),
    ("POST", "/login", {"data": b"\xff" * 300_000, "headers": FORM}, 413),
    ("POST", "/login", {"data": "&".join(["a=1"] * 20), "headers": FORM}, 400),
    ("POST", "/logout", {"data": "csrf=x", "headers": FORM}, 403), ("PUT", "/", {}, 405), ("DELETE", "/login", {}, 405),
])
def test_bad_input_is_never_a_5xx(api_factory: Callable[..., RunningApi], method: str, path: str,
                                  kw: dict[str, Any], status: int) -> None:
    api = api_factory({"history": {"api_reads": True}}, token=TOKEN)
    ok = requests.post(f"{api.url}/login", data={"token": TOKEN}, allow_redirects=False, timeout=10)
    r = requests.request(method, f"{api.url}{path}", cookies={COOKIE: ok.cookies[COOKIE]},
                         allow_redirects=False, timeout=10, **kw)
    assert r.status_code == status, (r.status_code, r.text[:300])
    if path.startswith("/?") and status == 400:
        assert 'class="bad"' in r.text


def test_older_events_page_by_page_keeping_the_search(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory({"history": {"api_reads": True}})
    sample = sorted(SAMPLES.glob("*.jpg"))[0].read_bytes()
    for i in range(55):
        r = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": ("car.jpg", sample)},
                          data={"camera_id": f"cam{i:02d}"}, timeout=30)
        assert r.status_code == 201
    total = api.runtime.history.stats()["events"]  # type: ignore[union-attr]
    assert 55 <= total <= 100

    def cameras(html: str) -> list[str]:
        return re.findall(r"</time></td><td data-label=\"Camera\">(cam\d\d)</td>", html)

    first = requests.get(f"{api.url}/", timeout=10).text
    assert len(_rows(first)) == 50 and "Newest events" not in first
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z"[^>]*>', first)
    older = re.search(r'<a href="(/\?cursor=[^"]+)" rel="next">Older events', first)
    assert older
    second = requests.get(f"{api.url}{older.group(1).replace('&amp;', '&')}", timeout=10).text
    assert len(_rows(second)) == total - 50 and "Older events" not in second
    assert '<a href="/?">&larr; Newest events</a>' in second
    seen = cameras(first) + cameras(second)
    assert sorted(set(seen)) == [f"cam{i:02d}" for i in range(55)]
    assert min(cameras(first)) >= max(cameras(second))  # newest first, the older page after it
    # the live refresh of an older page stays on it
    parts = requests.get(f"{api.url}/console/parts{older.group(1)[1:].replace('&amp;', '&')}", timeout=10)
    assert parts.status_code == 200 and len(_rows(parts.json()["events"])) == total - 50
    # a search keeps its filters in the links and pages within its matches
    searched = requests.get(f"{api.url}/", params={"camera": "cam07"}, timeout=10).text
    assert set(cameras(searched)) == {"cam07"} and "Older events" not in searched
    assert requests.get(f"{api.url}/", params={"cursor": "yesterday"}, timeout=10).status_code == 400


def test_a_time_before_the_year_1000_reads_with_four_digits(api_factory: Callable[..., RunningApi]) -> None:
    """The events table wrote year 999 as ``999-01-01``, where the JSON and the CSV say 0999."""
    api = api_factory({"history": {"api_reads": True}})
    sample = sorted(SAMPLES.glob("*.jpg"))[0].read_bytes()
    r = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": ("car.jpg", sample)},
                      data={"timestamp": "0999-03-04T05:06:07Z"}, timeout=30)
    assert r.status_code == 201 and r.json()["timestamp"].startswith("0999-03-04T05:06:07"), r.text
    page = requests.get(f"{api.url}/", timeout=10).text
    assert "<span>0999-03-04</span> <span>05:06:07 UTC</span>" in page, re.findall(r"<time.*?</time>", page)
