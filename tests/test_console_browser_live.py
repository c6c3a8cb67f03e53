"""The console's live parts in a real browser (headless Chromium over its DevTools protocol):
what an operator sees when the device goes away and comes back, and when a camera cannot open.

* The API server stops while the page is open: the page says since when the device has not
  answered and dims what it shows, and its title says so; the server starts again on the same port and state: the
  page clears both by itself, without a reload.
* A camera whose source cannot open (nothing listens on its port) beside one that read the
  sample images: its row says since when it has been without frames, in the browser's zone
  (Asia/Kolkata, set for the test); the page asks for no live view of it (no 404 every
  refresh) and fetches the other camera's view once, not again while its frame is unchanged;
  on a phone's width the controls are big enough for a finger.
* A webhook target where nothing listens beside one that answers 413: the first's row says since
  when it has been failing, in the browser's zone, the other's how many events it set aside;
  at a desktop's width the table shows every column, the last error too.

Marked ``browser``: skipped, saying why, where Chromium or ``websocket-client`` is missing.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from chromium import BROWSER_MARKS, Chromium
from waiting import wait_for

from edge_alpr import config
from edge_alpr.api.server import build as build_api
from edge_alpr.api.server import free_port
from edge_alpr.service import build as build_service

pytest_plugins = ["chromium"]
pytestmark = BROWSER_MARKS


def test_the_page_says_the_device_is_gone_and_recovers_when_it_is_back(
        tmp_path: Path, recognizer: Any, browser: Chromium, no_token: None) -> None:
    port = free_port()
    cfg = config.from_dict({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False},
                            "stream": {"enabled": False}, "api": {"port": port, "threads": 4}}, "<test>")
    runtime = build_api(cfg, recognizer=recognizer)
    try:
        browser.open(f"http://127.0.0.1:{port}/")
        assert browser.evaluate("document.getElementById('message').textContent") == ""
        runtime.close()
        assert wait_for(lambda: browser.evaluate("document.getElementById('message').textContent")
                        .startswith("Not refreshed since "), 20)
        said = browser.evaluate("document.getElementById('message').textContent")
        # since when, as every time on the page: the browser's zone, named by its offset
        assert re.match(r"Not refreshed since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC(?:[+-]\d\d:\d\d)?: "
                        "no connection to the device", said), said
        assert browser.evaluate("document.body.classList.contains('stale')")
        assert browser.evaluate("getComputedStyle(document.querySelector('main')).opacity") != "1"
        # and a tab in the background says so in its title
        assert browser.evaluate("document.title") == "(!) edge-alpr console: no answer"
        assert browser.evaluate("location.pathname") == "/"  # still the page, not an error page
    finally:
        runtime.close()
    runtime = build_api(cfg, recognizer=recognizer)  # the same port and state: a restart
    try:
        assert wait_for(lambda: browser.evaluate("document.getElementById('message').textContent") == ""
                        and not browser.evaluate("document.body.classList.contains('stale')"), 20)
        assert browser.evaluate("getComputedStyle(document.getElementById('message')).display") == "none"
        assert browser.evaluate("document.title") == "edge-alpr console"
    finally:
        runtime.close()


def test_a_camera_without_frames_says_since_when_and_costs_no_view_request(
        tmp_path: Path, recognizer: Any, browser: Chromium, no_token: None) -> None:
    dead = f"http://127.0.0.1:{free_port()}/stream.mjpg"  # nothing listens there
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}, "api": {"port": 0, "threads": 4},
        "stream": {"cameras": [
            {"id": "gate", "source": {"kind": "folder", "watch": False}},
            {"id": "yard", "source": {"kind": "opencv", "url": dead, "read_timeout": 1,
                                      "reconnect_min": 0.2, "reconnect_max": 0.5}}]},
    }, "<test>")
    svc = build_service(cfg, threading.Event(), recognizer=recognizer)
    try:
        assert wait_for(lambda: svc.cameras[0].stats.ended, 90)
        browser.call("Emulation.setTimezoneOverride", timezoneId="Asia/Kolkata")
        browser.open(f"http://127.0.0.1:{svc.api.server.port}/")
        rows = "document.querySelectorAll('#cameras tr[data-state]')"
        assert browser.evaluate(f"[...{rows}].map(r => r.dataset.state)")[1] in ("reconnecting", "failed")
        # since when, shown in the browser's zone (the UTC time on hover), and for how long
        since = browser.evaluate(f"{rows}[1].querySelector('.since time').dataset.local")
        assert since == "1"
        text = browser.evaluate(f"{rows}[1].querySelector('.since').textContent")
        assert text.startswith("without frames since ") and text.endswith(" s)"), text
        title = browser.evaluate(f"{rows}[1].querySelector('.since time').title")
        assert title.endswith("Z (UTC)"), title

        # two refreshes later: the view of the camera with a frame was fetched once, the other never
        for _ in range(2):
            before = browser.evaluate("document.body.dataset.refreshed || '0'")
            assert wait_for(lambda was=before: browser.evaluate("document.body.dataset.refreshed || '0'") != was,
                            15)
        fetched = browser.evaluate("performance.getEntriesByType('resource').map(e => e.name)"
                                   ".filter(n => n.includes('/view.jpg'))")
        assert [n for n in fetched if "/cameras/1/" in n] == []
        assert len([n for n in fetched if "/cameras/0/" in n]) == 1, fetched
        assert browser.evaluate("document.querySelectorAll('img.view')[0].naturalWidth") > 0
        assert browser.evaluate("document.querySelectorAll('img.view')[1].hidden")
        assert not browser.evaluate("document.querySelectorAll('p.noview')[1].hidden")

        # a phone: every control is at least 40 px high (a finger's size), the page no wider
        browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1,
                     mobile=True)
        browser.open(f"http://127.0.0.1:{svc.api.server.port}/")
        heights = browser.evaluate("[...document.querySelectorAll('input, button, #search a')]"
                                   ".map(e => e.getBoundingClientRect().height).filter(h => h > 0)")
        assert heights and min(heights) >= 40, heights
        assert browser.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        svc.close()


def test_a_failing_sink_says_since_when_in_the_browser_s_zone(
        api_factory: Any, receiver: Any, browser: Chromium) -> None:
    receiver.status = 413  # each event set aside for it
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    api = api_factory({"webhooks": {"targets": [receiver.url, dead], "backoff_initial_s": 5}})
    hooks = api.runtime.webhooks
    hooks.publish({"id": "e1", "results": []})
    assert wait_for(lambda: hooks.status()[0]["aside"] == 1 and hooks.status()[1]["consecutive_failures"] == 1)
    browser.call("Emulation.setTimezoneOverride", timezoneId="Asia/Kolkata")
    browser.open(f"{api.url}/")
    rows = "document.querySelectorAll('#health tbody tr')"
    assert browser.evaluate(f"{rows}[0].querySelector('.aside').textContent") == "1 set aside"
    assert browser.evaluate(f"{rows}[0].querySelector('.since')") is None
    time_ = f"{rows}[1].querySelector('.since time')"
    assert browser.evaluate(f"{time_}.dataset.local") == "1"
    utc = browser.evaluate(f"{time_}.title")
    assert utc.endswith("Z (UTC)"), utc
    # the time shown is the UTC one in Kolkata's zone, its offset named
    assert browser.evaluate(f"{time_}.textContent").endswith(" UTC+05:30")
    text = browser.evaluate(f"{rows}[1].querySelector('.since').textContent")
    assert text.startswith("failing since ") and text.endswith(" s)"), text
    # at a desktop's width every column is in view, the last error too: none lies past the
    # section's edge, to be found only by scrolling the table sideways
    assert browser.evaluate("innerWidth") >= 1200
    assert browser.evaluate("[...document.querySelectorAll('#health td')].filter(td => "
                            "td.getBoundingClientRect().right > td.closest('section').getBoundingClientRect().right)"
                            ".map(td => td.dataset.label)") == []
    # it stays so across the page's refreshes (the part is rendered again by the server)
    before = browser.evaluate("document.body.dataset.refreshed || '0'")
    assert wait_for(lambda: browser.evaluate("document.body.dataset.refreshed || '0'") != before, 15)
    assert browser.evaluate(f"{time_}.dataset.local") == "1"
