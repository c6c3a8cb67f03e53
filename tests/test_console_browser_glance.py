"""What the console tells an operator at a glance, in a real browser (headless Chromium over its
DevTools protocol); ``test_console_glance.py`` checks the HTML without one.

* A camera that cannot connect beside a webhook that delivers: the page opens with "1 camera
  reconnecting" at the top and ``(1)`` before its title; the webhook starts failing and both
  follow at the next refresh, without a reload; the summary's link takes the keyboard to the
  delivery table; on a phone the summary is on the first screen; without JavaScript the page
  comes with both as of its loading.  The camera's rates and lag are dashes that say why, and
  every header stands over its column as its cells do.
* A plate crop in the events opens the scene over the page, named by plate, camera and time:
  the page stays (and goes on refreshing) behind it; Esc, the Close button and a click beside
  it close it, and the focus goes back to the crop; the keyboard opens it too; it fits a phone.

Marked ``browser``: skipped, saying why, where Chromium or ``websocket-client`` is missing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import requests
from chromium import BROWSER_MARKS, Chromium
from conftest import SAMPLES, Receiver
from console_service import unreachable_camera
from waiting import wait_for

from edge_alpr import config
from edge_alpr.service import build as build_service
from edge_alpr.stream.health import camera_state

pytest_plugins = ["chromium"]
pytestmark = BROWSER_MARKS

SUMMARY = "[...document.querySelectorAll('#trouble a')].map(a => [a.getAttribute('href'), a.textContent])"
# per table: is each header aligned as the cells of its column's first row?
ALIGNED = """[...document.querySelectorAll('%s table')].flatMap(t => {
  const row = t.tBodies[0].rows[0];
  return [...t.tHead.rows[0].cells].map((th, i) =>
    [th.textContent.trim(), getComputedStyle(th).textAlign, getComputedStyle(row.cells[i]).textAlign]);
})"""


def _refreshed(browser: Chromium) -> bool:
    before = browser.evaluate("document.body.dataset.refreshed || '0'")
    return wait_for(lambda: browser.evaluate("document.body.dataset.refreshed || '0'") != before, 15)


def test_the_summary_of_trouble_leads_the_page_and_its_title(
        tmp_path: Path, recognizer: Any, receiver: Receiver, browser: Chromium, no_token: None) -> None:
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}, "api": {"port": 0, "threads": 4},
        "webhooks": {"targets": [receiver.url], "backoff_initial_s": 30},
        "stream": {"cameras": [
            unreachable_camera()]},
    }, "<test>")
    svc = build_service(cfg, threading.Event(), recognizer=recognizer)
    try:
        assert svc.api is not None
        url = f"http://127.0.0.1:{svc.api.server.port}/"
        assert wait_for(lambda: camera_state(svc.cameras[0]) == "reconnecting", 30)
        browser.log_console()
        browser.open(url)
        assert browser.evaluate("document.title") == "(1) edge-alpr console"
        assert browser.evaluate(SUMMARY) == [["#cameras-section", "1 camera reconnecting"]]
        # a camera that never delivered a frame: its rates and lag are not known, and say why
        for label in ("Recognised fps", "Captured fps", "Lag"):
            cell = f"document.querySelector('#cameras td[data-label=\"{label}\"] .unknown')"
            assert browser.evaluate(f"{cell}.firstChild.textContent") == "\u2014"
            assert browser.evaluate(f"{cell}.title") == "no frame captured yet"
        assert browser.evaluate("document.querySelector('#cameras tbody tr').innerText").count("0.00 s") == 0

        # the webhook fails: the summary and the title follow at the next refresh, no reload
        browser.evaluate("window.notReloaded = true")
        receiver.status = 503
        svc.webhooks.publish({"id": "e1", "results": []})
        assert wait_for(lambda: browser.evaluate("document.title") == "(2) edge-alpr console", 20)
        assert browser.evaluate(SUMMARY) == [["#cameras-section", "1 camera reconnecting"],
                                             ["#delivery-section", "1 webhook failing"]]
        assert browser.evaluate("window.notReloaded") is True
        # while it stays so the line is left as it is (a live region: said once, not every 3 s)
        browser.evaluate("window.line = document.querySelector('#trouble p')")
        assert _refreshed(browser) and _refreshed(browser)
        assert browser.evaluate("window.line === document.querySelector('#trouble p')")
        assert browser.evaluate("document.getElementById('trouble').getAttribute('role')") == "status"

        # every header over its column: the numbers' right-aligned, the words' left
        for part in ("#cameras", "#health"):
            columns = browser.evaluate(ALIGNED % part)
            assert columns and all(th == td for _, th, td in columns), columns
            assert any(th == "right" for _, th, _ in columns)

        # the keyboard follows the summary's link to the section it names (a short window: it scrolls)
        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=500, deviceScaleFactor=1, mobile=False)
        browser.evaluate("document.querySelector('#trouble a[href=\"#delivery-section\"]').focus()")
        browser.press("Enter")
        assert wait_for(lambda: browser.evaluate("location.hash") == "#delivery-section", 5)
        top = browser.evaluate("document.getElementById('delivery-section').getBoundingClientRect().top")
        assert browser.evaluate("scrollY") > 0 and -1 < top < 100, top  # scrolled to whole pixels: a fraction above
        assert browser.console_errors() == []

        # a phone: the summary is on the first screen, the page no wider than it
        browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
        browser.open(url)
        assert browser.evaluate("document.getElementById('trouble').getBoundingClientRect().bottom") < 300
        assert browser.evaluate("document.documentElement.scrollWidth") <= 390
        # the rates' meaning is on the screen there (the cards have no headers to hover)
        shown = browser.evaluate("document.getElementById('cameras').innerText")
        assert "Captured fps: frames captured from the source" in shown, shown
        assert "Recognised fps: frames recognised per second" in shown, shown

        # without JavaScript: as of the page's loading, from the server
        browser.call("Emulation.setScriptExecutionDisabled", value=True)
        browser.open(url)
        assert browser.evaluate("document.title") == "(2) edge-alpr console"
        assert browser.evaluate(SUMMARY) == [["#cameras-section", "1 camera reconnecting"],
                                             ["#delivery-section", "1 webhook failing"]]
    finally:
        svc.close()


def test_a_plate_crop_opens_its_scene_over_the_page(api_factory: Any, browser: Chromium) -> None:
    api = api_factory({"history": {"api_reads": True}})
    with open(SAMPLES / "03_romanian_t604.jpg", "rb") as f:
        read = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f}, data={"camera_id": "door"},
                             timeout=60)
    assert read.status_code == 201 and read.json()["results"], read.text
    plate = read.json()["results"][0]["plate"].upper()
    browser.log_console()
    browser.open(f"{api.url}/")
    first = "#events tr[data-event] td[data-label=Crop] a"
    assert browser.evaluate(f"document.querySelector('{first}').getAttribute('href')").endswith("/scene.jpg")
    # the events' Score stands over its numbers
    columns = browser.evaluate(ALIGNED % "#events")
    assert all(th == td for _, th, td in columns) and ["Score", "right", "right"] in columns, columns

    browser.click(first)
    assert wait_for(lambda: browser.evaluate("document.getElementById('scene').open"), 5)
    assert browser.evaluate("location.pathname + location.search") == "/"  # the console, not the picture
    heading = browser.evaluate("document.getElementById('scene-title').textContent")
    when = browser.evaluate("document.querySelector('#events tr[data-event] time').textContent")
    assert heading == f"{plate} \u00b7 door \u00b7 {when}", heading
    assert wait_for(lambda: browser.evaluate("document.getElementById('scene-image').naturalWidth") > 0, 10)
    assert browser.evaluate("document.getElementById('scene-crop').naturalWidth") > 0
    assert browser.evaluate("document.activeElement.id") == "scene-close"
    # the console goes on refreshing behind it
    assert _refreshed(browser) and browser.evaluate("document.getElementById('scene').open")

    browser.press("Escape")
    assert wait_for(lambda: not browser.evaluate("document.getElementById('scene').open"), 5)
    # (the row may have been rendered anew meanwhile: the focus goes to the same event's crop)
    assert wait_for(lambda: browser.evaluate(f"document.activeElement === document.querySelector('{first}')"), 5), \
        browser.evaluate("document.activeElement.outerHTML")

    # the keyboard opens it from the focused crop; the Close button and the backdrop close it
    browser.press("Enter")
    assert wait_for(lambda: browser.evaluate("document.getElementById('scene').open"), 5)
    browser.press("Enter")  # on the Close button, focused as it opens
    assert wait_for(lambda: not browser.evaluate("document.getElementById('scene').open"), 5)
    browser.click(first)
    assert wait_for(lambda: browser.evaluate("document.getElementById('scene').open"), 5)
    for kind in ("mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", type=kind, x=3, y=3, button="left", clickCount=1)
    assert wait_for(lambda: not browser.evaluate("document.getElementById('scene').open"), 5)
    assert browser.console_errors() == []

    # a phone: the dialog and its picture fit the screen
    browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
    browser.open(f"{api.url}/")
    browser.click(first)
    assert wait_for(lambda: browser.evaluate("document.getElementById('scene').open"), 5)
    assert wait_for(lambda: browser.evaluate("document.getElementById('scene-image').naturalWidth") > 0, 10)
    box = browser.evaluate("[...['scene', 'scene-image'].map(id => document.getElementById(id)"
                           ".getBoundingClientRect())].map(r => [r.left, r.right, r.bottom])")
    assert all(left >= 0 and right <= 390 and bottom <= 844 for left, right, bottom in box), box
    assert browser.evaluate("document.getElementById('scene-close').getBoundingClientRect().height") >= 40

    # without JavaScript the crop is a plain link to the picture
    browser.call("Emulation.setScriptExecutionDisabled", value=True)
    browser.open(f"{api.url}/")
    href = browser.evaluate(f"document.querySelector('{first}').href")
    browser.evaluate(f"document.querySelector('{first}').click()")
    assert wait_for(lambda: browser.evaluate("location.href") == href, 10)
