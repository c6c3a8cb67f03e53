"""The scene over the page draws the plate's box where the plate lies, in a real browser
(headless Chromium over its DevTools protocol): at a desktop's width and on a phone's (the box
scales with the picture), opened by a click or by the keyboard, closed by Esc.  An event
stored before the history kept the frame's size shows its scene without a box.  A click on a
crop's place opens its scene while the crop is still on its way (it loads after the page).

The box expected is worked out here from what the API answered for the photo (its ``box``,
in the photo's pixels) and the photo's own size, against where the browser put the picture.

Marked ``browser``: skipped, saying why, where Chromium or ``websocket-client`` is missing.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import requests
from chromium import BROWSER_MARKS, Chromium
from conftest import SAMPLES
from PIL import Image
from waiting import wait_for

from edge_alpr.history.schema import DATABASE

pytest_plugins = ["chromium"]
pytestmark = BROWSER_MARKS

PHOTOS = ["05_romanian_night_t155.jpg", "03_romanian_t604.jpg"]  # sent in this order: the second is newest
CROP = "#events tr[data-event]:nth-of-type(%d) td[data-label=Crop] a"
RECTS = ("[...['scene-image', 'scene-box'].map(id => document.getElementById(id).getBoundingClientRect())]"
         ".map(r => [r.left, r.top, r.width, r.height])")


def _opened(browser: Chromium) -> bool:
    return bool(browser.evaluate("document.getElementById('scene').open && "
                                 "document.getElementById('scene-image').complete && "
                                 "document.getElementById('scene-image').naturalWidth > 0"))


def _box_on(browser: Chromium, box: dict[str, int], size: tuple[int, int]) -> None:
    """The box drawn is the plate's: its edges within 2 px of where the plate lies on the picture."""
    assert wait_for(lambda: not browser.evaluate("document.getElementById('scene-box').hidden"), 5)
    (left, top, width, height), drawn = browser.evaluate(RECTS)
    sx, sy = width / size[0], height / size[1]
    expected = [left + box["xmin"] * sx, top + box["ymin"] * sy,
                (box["xmax"] - box["xmin"]) * sx, (box["ymax"] - box["ymin"]) * sy]
    assert all(abs(a - b) <= 2 for a, b in zip(drawn, expected)), (drawn, expected)
    assert drawn[2] > 4 and drawn[3] > 2  # a box one sees, not a dot


def test_the_scene_shows_the_plate_s_box_and_an_old_event_its_scene_alone(
        api_factory: Any, browser: Chromium) -> None:
    api = api_factory({"history": {"api_reads": True}})
    reads = []
    for name in PHOTOS:
        with open(SAMPLES / name, "rb") as f:
            r = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f}, data={"camera_id": "door"},
                              timeout=60)
        assert r.status_code == 201 and r.json()["results"], r.text
        reads.append(r.json()["results"][0])
    with Image.open(SAMPLES / PHOTOS[-1]) as photo:
        size = photo.size
    # the older photo's event as one stored before the history kept the frame's size
    with closing(sqlite3.connect(api.state_dir / "history" / DATABASE)) as db:
        db.execute("UPDATE events SET frame_width = NULL, frame_height = NULL WHERE plate = ?",
                   (reads[0]["plate"].upper(),))
        db.commit()

    browser.log_console()
    browser.open(f"{api.url}/")
    newest = CROP % 1
    browser.click(newest)
    assert wait_for(lambda: _opened(browser), 10)
    _box_on(browser, reads[-1]["box"], size)
    assert "the plate outlined" in browser.evaluate("document.getElementById('scene-image').alt")
    browser.press("Escape")
    assert wait_for(lambda: not browser.evaluate("document.getElementById('scene').open"), 5)
    assert wait_for(lambda: browser.evaluate(f"document.activeElement === document.querySelector('{newest}')"), 5)

    # the event from before: its scene alone (not the last one's box)
    browser.click(CROP % 2)
    assert wait_for(lambda: _opened(browser), 10)
    assert browser.evaluate("document.getElementById('scene-box').hidden")
    browser.press("Escape")
    assert wait_for(lambda: not browser.evaluate("document.getElementById('scene').open"), 5)
    assert browser.console_errors() == []

    # a phone: the picture is smaller, the box with it; the keyboard opens it
    browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
    browser.open(f"{api.url}/")
    browser.evaluate(f"document.querySelector('{newest}').focus()")
    browser.press("Enter")
    assert wait_for(lambda: _opened(browser), 10)
    assert browser.evaluate("document.getElementById('scene-image').getBoundingClientRect().width") < 390
    _box_on(browser, reads[-1]["box"], size)


def test_a_crop_s_place_opens_its_scene_while_the_crops_are_on_their_way(
        api_factory: Any, browser: Chromium) -> None:
    """On a slow device the crops arrive after the page has loaded (they load lazily): each
    crop's link is the crop's size from the start, so a click on its place opens the scene, and
    the columns do not move under the pointer as the crops arrive.  The browser holds the crops'
    answers here (DevTools' Fetch) until after the click."""
    api = api_factory({"history": {"api_reads": True}})
    with open(SAMPLES / PHOTOS[-1], "rb") as f:
        r = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f}, timeout=60)
    assert r.status_code == 201 and r.json()["results"], r.text
    link = f"document.querySelector('{CROP % 1}')"
    place = f"(r => [r.left + scrollX, r.top + scrollY, r.width, r.height])({link}.getBoundingClientRect())"

    browser.call("Fetch.enable", patterns=[{"urlPattern": "*/plate.jpg"}])
    browser.open(f"{api.url}/")
    assert browser.evaluate(f"{link}.querySelector('img').naturalWidth") == 0  # still on its way
    held = browser.evaluate(place)
    browser.click(CROP % 1)
    assert wait_for(lambda: browser.evaluate("document.getElementById('scene').open"), 10)
    browser.press("Escape")

    released: set[str] = set()

    def arrived() -> bool:
        """The crops let through, those asked for since too (a refresh renders the rows anew)."""
        for e in list(browser.events):
            held_id = e["params"]["requestId"] if e["method"] == "Fetch.requestPaused" else None
            if held_id and held_id not in released:
                released.add(held_id)
                try:
                    browser.call("Fetch.continueRequest", requestId=held_id)
                except RuntimeError:  # the crop of a row rendered anew since: dropped, nothing to let through
                    pass
        return bool(browser.evaluate(f"{link}.querySelector('img').naturalWidth > 0"))

    assert wait_for(arrived, 10)
    loaded = browser.evaluate(place)
    assert all(abs(a - b) <= 1 for a, b in zip(held, loaded)), (held, loaded)
