"""The console in a real browser: headless Chromium over its DevTools protocol, against the whole
service (camera loop over the bundled samples, history on disk, a watch list, a token).

It logs in through the form, sees the recent events and the watch-list match, sees an event
that arrives after the page loaded (the page's script refreshed it), sees the camera's live
view, checks that the hostile watch-list label ran no script, creates a watch list and adds a
plate through the page (the script's writes carry the CSRF token), and takes a screenshot
(under the test's temporary folder: the docs' picture is tests/test_console_scene.py's, of a
realistic site, not of these hostile names).  Then at a phone's width (390 px) no cell lies
past the screen's edge and the match is labelled, and with JavaScript off the page says so,
shows the events (times in UTC) and hides the edit controls.  The search's time boxes show the
browser's time zone (Asia/Kolkata, set for the test) and send UTC; a bad value is shown again
beside the error that names its box.

Marked ``browser``: skipped, saying why, where Chromium (Debian: ``apt-get install chromium``)
or ``websocket-client`` (the test extra) is missing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from chromium import BROWSER_MARKS, Chromium
from conftest import SAMPLES
from console_service import running_service
from waiting import wait_for

TOKEN = "browser-s3cret"
SHOWN_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC(?:[+-]\d\d:\d\d)?")  # the zone named

pytest_plugins = ["chromium"]
pytestmark = BROWSER_MARKS


def _js(value: Any) -> str:
    return json.dumps(value)


def test_console_in_chromium(tmp_path: Path, recognizer: Any, monkeypatch: pytest.MonkeyPatch,
                             browser: Chromium) -> None:
    with running_service(tmp_path, recognizer, monkeypatch, token=TOKEN) as (svc, url):
        browser.open(f"{url}/")
        assert browser.evaluate("location.pathname") == "/login"
        browser.evaluate(f"document.querySelector('input[name=token]').value = {_js(TOKEN)};"
                         "document.querySelector('form').submit()")
        assert wait_for(lambda: browser.evaluate("location.pathname + document.readyState") == "/complete", 20)
        assert browser.evaluate("document.cookie") == ""  # HttpOnly: the page's scripts cannot read it

        kept = svc.history.stats()["events"]  # type: ignore[union-attr]
        assert browser.evaluate("document.querySelectorAll('#events tr[data-event]').length") == kept
        matched = browser.evaluate("[...document.querySelectorAll('#events tr.match')].map(r => r.textContent)")
        assert matched and all("deny" in row for row in matched)
        # the hostile label is shown as text and ran nothing
        assert '<script>document.title=1</script>' in browser.evaluate("document.getElementById('lists').innerText")
        assert browser.evaluate("[...document.scripts].map(s => s.src ? new URL(s.src).pathname : 'inline')") \
            == ["/console/static/patch.js", "/console/static/console.js", "/console/static/search.js",
                "/console/static/photo.js", "/console/static/scene.js"]
        assert wait_for(lambda: browser.evaluate("document.querySelector('img.view').naturalWidth") > 0, 15)

        # an event after the page loaded appears without a reload
        with open(sorted(SAMPLES.glob("*.jpg"))[0], "rb") as f:
            r = requests.post(f"{url}/v1/plate-reader/", files={"upload": f}, data={"camera_id": "door"},
                              headers={"Authorization": f"Token {TOKEN}"}, timeout=30)
        assert r.status_code == 201
        assert wait_for(lambda: browser.evaluate(
            "[...document.querySelectorAll('#events tr[data-event]')].some(r => r.cells[1].textContent == 'door')"), 20)
        assert browser.evaluate("document.querySelectorAll('#events tr[data-event]').length") == kept + 1
        # every event time, refreshed ones too, is shown in the browser's zone with the UTC on hover
        times = browser.evaluate("[...document.querySelectorAll('#events time')].map("
                                 "t => [t.dateTime, t.title, t.textContent, t.dataset.local])")
        assert len(times) == kept + 1
        for stamp, title, shown, local in times:
            assert local == "1" and title == stamp + " (UTC)" and SHOWN_TIME.fullmatch(shown), shown

        # a watch list created and filled through the page, seen through the API
        browser.evaluate("const f = document.querySelector('form[data-action=create]');"
                         "f.elements.name.value = 'visitors'; f.requestSubmit()")
        assert wait_for(lambda: browser.evaluate("!!document.querySelector('form[data-list=visitors]')"), 15)
        browser.evaluate("const g = document.querySelector('form[data-list=visitors]');"
                         "g.elements.plate.value = 'ab-123-cd'; g.elements.label.value = 'Visitor <b>A</b>';"
                         "g.requestSubmit()")
        assert wait_for(lambda: "AB123CD" in browser.evaluate("document.getElementById('lists').innerText"), 15)
        stored = requests.get(f"{url}/v1/watchlists/visitors/", headers={"Authorization": f"Token {TOKEN}"},
                              timeout=10).json()
        assert stored["plates"] == [{"plate": "AB123CD", "label": "Visitor <b>A</b>", "max_distance": None}]
        assert browser.evaluate("document.getElementById('message').textContent") == "Added ab-123-cd to visitors."
        assert browser.evaluate("document.title") == "edge-alpr console"

        shot = browser.screenshot(tmp_path / "console.png")
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000

        # the search's time boxes take the browser's own time, named, and the query stays UTC
        browser.call("Emulation.setTimezoneOverride", timezoneId="Asia/Kolkata")  # UTC+5:30, no DST
        browser.open(f"{url}/?since=2024-05-01T04:30:00Z")
        assert browser.evaluate("document.querySelector('input[name=since]').value") == "2024-05-01 10:00:00"
        zone = browser.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
        assert zone in ("Asia/Kolkata", "Asia/Calcutta")  # as the browser's ICU names it
        assert browser.evaluate("[...document.querySelectorAll('span.zone')].map(s => s.textContent)") \
            == [f"({zone})"] * (3 if kept else 2)  # the events' time column, since, until
        browser.evaluate("const s = document.getElementById('search');"
                         "s.elements.until.value = '2024-05-01T12:00'; s.requestSubmit()")
        assert wait_for(lambda: "until=" in browser.evaluate("location.search"), 15)
        browser.settle()
        assert browser.evaluate("location.search") == "?since=2024-05-01T04%3A30%3A00Z&until=2024-05-01T06%3A30%3A00Z"
        assert browser.evaluate("document.querySelector('input[name=until]').value") == "2024-05-01 12:00:00"
        # a bad value is shown again, as typed, beside the error that names its box
        browser.open(f"{url}/?plate=AB1&since=yesterday")
        assert browser.evaluate("[...document.querySelectorAll('#search input')].map(i => i.value).join()") \
            == "AB1,,,yesterday,,"
        assert browser.evaluate("document.querySelector('[aria-invalid]').name") == "since"
        assert browser.evaluate("document.getElementById('search-error').textContent").startswith("Since: ")
        # ... and the cameras, delivery and counters go on refreshing around it, the error kept
        before = browser.evaluate("document.body.dataset.refreshed || '0'")
        assert wait_for(lambda: browser.evaluate("document.body.dataset.refreshed || '0'") != before, 15)
        assert "Since" not in browser.evaluate("document.getElementById('message').textContent")
        assert "No events shown" in browser.evaluate("document.getElementById('events').innerText")
        assert browser.evaluate("document.querySelector('[aria-invalid]').value") == "yesterday"
        browser.call("Emulation.setTimezoneOverride", timezoneId="")

        # at a phone's width nothing is cut off: each table row becomes a card of labelled cells
        browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1,
                     mobile=True)
        browser.open(f"{url}/")
        assert browser.evaluate("document.documentElement.scrollWidth") <= 390
        assert browser.evaluate("[...document.querySelectorAll('#cameras td, #events td, #health td')]"
                                ".filter(td => td.getBoundingClientRect().right > innerWidth + 0.5).length") == 0
        labels = browser.evaluate("[...document.querySelectorAll('#events tr.match td')].map("
                                  "td => [getComputedStyle(td, '::before').content, td.innerText])")
        assert ['"Watch list"', True] in [[label, "deny" in text] for label, text in labels]

        # without JavaScript the page says what works, and offers no control that needs the script
        browser.call("Emulation.setScriptExecutionDisabled", value=True)
        browser.open(f"{url}/")
        assert "reload it" in browser.evaluate("document.querySelector('p.noscript').innerText")
        assert browser.evaluate("getComputedStyle(document.querySelector('form[data-action=create]')).display") \
            == "none"
        assert browser.evaluate("document.querySelectorAll('#events tr[data-event]').length") == kept + 1
        assert browser.evaluate("document.querySelector('#events time').textContent").endswith(" UTC")
