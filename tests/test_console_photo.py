"""The console's "Try a photo" form over HTTP: the real server on a loopback socket, with a token.

The page offers the form (a file input for images, regions, the upload limit the page checks
before sending, and what a read does here: counted, kept in the history, sent to the webhooks).
The form's script posts to ``POST /v1/plate-reader/`` with the session cookie and its CSRF token,
as the watch-list edits do; the same post without the CSRF token, with a wrong one, or from a page
of another site (a cross-site multipart form needs no CORS preflight) is refused with a 403 and
neither counted nor kept.  Plates are checked against the samples' labels, never model output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import unescape
from typing import Any

import requests
from conftest import SAMPLES, RunningApi

from edge_alpr.api.console_auth import COOKIE

TOKEN = "photo-form-s3cret-0123"
LABELS: dict[str, Any] = json.loads((SAMPLES / "labels.json").read_text())
SAMPLE = sorted(SAMPLES.glob("*.jpg"))[1]


def _post(url: str, cookie: str, headers: dict[str, str]) -> requests.Response:
    """What the form's script sends: the photo, a region, camera ``console``, the session cookie."""
    return requests.post(f"{url}/v1/plate-reader/", files={"upload": (SAMPLE.name, SAMPLE.read_bytes(), "image/jpeg")},
                         data={"regions": "ro", "camera_id": "console"}, cookies={COOKIE: cookie},
                         headers=headers, timeout=60)


def test_the_page_offers_the_form_and_its_post_needs_the_session_and_csrf(
        api_factory: Callable[..., RunningApi], receiver: Any) -> None:
    api = api_factory({"history": {"api_reads": True}, "usage": {"max_calls": 500},
                       "api": {"max_upload_bytes": 4 * 2**20},
                       "webhooks": {"targets": [{"url": f"http://127.0.0.1:{receiver.port}/hook"}]}},
                      token=TOKEN)
    auth = {"Authorization": f"Token {TOKEN}"}
    login = requests.post(f"{api.url}/login", data={"token": TOKEN}, allow_redirects=False, timeout=10)
    cookie = login.cookies[COOKIE]
    page = requests.get(f"{api.url}/", cookies={COOKIE: cookie}, timeout=10).text
    form = re.search(r'<form id="photo"[^>]*>.*?</form>', page, re.S)
    assert form is not None, "the page has no photo form"
    assert f'data-max-bytes="{4 * 2**20}"' in form.group(0)
    assert re.search(r'<input type="file" name="upload" accept="image/\*"', form.group(0))
    assert 'name="regions"' in form.group(0)
    assert '<script src="/console/static/photo.js" defer></script>' in page
    # without script the form is not offered (noscript.css hides .scripted), and the page says why
    assert '<section class="wide scripted" id="try">' in page and "curl -F upload=@car.jpg" in page
    note = re.search(r'<p class="muted note">(.*?)</p>', page, re.S)
    assert note is not None and "up to 4 MiB" in note.group(1)
    assert "(one of this month's 500), is kept in the history and is sent to the webhooks" in unescape(note.group(1))
    script = requests.get(f"{api.url}/console/static/photo.js", timeout=10)
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]{32})"', page).group(1)  # type: ignore[union-attr]

    own = {"Sec-Fetch-Site": "same-origin", "Origin": api.url}
    refused = {
        "no CSRF token": own,
        "a wrong CSRF token": {**own, "X-CSRF-Token": "0" * 32},
        "another site's form": {"Sec-Fetch-Site": "cross-site", "Origin": "http://attacker.example"},
        "another site's page with the token": {"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": csrf},
        "another port of the device": {"Sec-Fetch-Site": "same-site", "X-CSRF-Token": csrf},
    }
    for what, headers in refused.items():
        r = _post(api.url, cookie, headers)
        assert r.status_code == 403, (what, r.status_code, r.text)
        assert "CSRF" in r.json()["detail"] or "another site" in r.json()["detail"], what
    assert requests.get(f"{api.url}/v1/statistics/", headers=auth, timeout=10).json()["usage"]["calls"] == 0
    assert requests.get(f"{api.url}/v1/events/", headers=auth, timeout=10).json()["count"] == 0

    r = _post(api.url, cookie, {**own, "X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    assert [p["plate"].upper() for p in r.json()["results"]] == [LABELS[SAMPLE.name]["plates"][0]["text"]]
    assert r.json()["camera_id"] == "console"
    events = requests.get(f"{api.url}/v1/events/", headers=auth, timeout=10).json()["results"]
    assert [e["camera_id"] for e in events] == ["console"]
    assert requests.get(f"{api.url}/v1/statistics/", headers=auth, timeout=10).json()["usage"]["calls"] == 1


def test_the_note_names_only_what_a_read_does_here(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory()  # no quota, no history of API reads, no webhooks, no token
    page = requests.get(f"{api.url}/", timeout=10).text
    note = re.search(r'<p class="muted note">(.*?)</p>', page, re.S)
    assert note is not None and "up to 10 MiB" in note.group(1)
    assert note.group(1).endswith("as camera <code>console</code>: it counts as an API call.")
