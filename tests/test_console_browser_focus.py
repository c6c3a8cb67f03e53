"""The console's refreshes leave the keyboard where it is, in a real browser (headless Chromium
over its DevTools protocol).

An operator who tabs to a plate crop (or any link) right after the page has loaded keeps it
focused through the refreshes: a part the server renders alike is not rendered again, the
first refresh included (the page's parts came with the page, not from a refresh), and a part
that changed (a new event) is rendered anew with the focus on the same element of it (the same
event's crop), not dropped on the page's body.

Marked ``browser``: skipped, saying why, where Chromium or ``websocket-client`` is missing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import requests
from chromium import BROWSER_MARKS, Chromium
from conftest import SAMPLES
from console_service import unreachable_camera
from waiting import wait_for

from edge_alpr import config
from edge_alpr.api.console_search import RECENT_EVENTS
from edge_alpr.service import build as build_service
from edge_alpr.stream.health import camera_state

pytest_plugins = ["chromium"]
pytestmark = BROWSER_MARKS

PARTS = ("trouble", "cameras", "health", "events", "lists", "counters")
CROPS = "#events tr[data-event] td[data-label=Crop] a"


def _read(url: str, picture: str, camera: str) -> None:
    with open(SAMPLES / picture, "rb") as f:
        r = requests.post(f"{url}/v1/plate-reader/", files={"upload": f}, data={"camera_id": camera}, timeout=60)
    assert r.status_code == 201 and r.json()["results"], r.text


def _refreshed(browser: Chromium) -> bool:
    before = browser.evaluate("document.body.dataset.refreshed || '0'")
    return wait_for(lambda: browser.evaluate("document.body.dataset.refreshed || '0'") != before, 15)


def test_a_focused_crop_stays_focused_through_the_refreshes(api_factory: Any, browser: Chromium) -> None:
    api = api_factory({"history": {"api_reads": True}})
    _read(api.url, "03_romanian_t604.jpg", "door")
    browser.log_console()
    browser.open(f"{api.url}/")
    rows = browser.evaluate(f"document.querySelectorAll('{CROPS}').length")
    assert rows >= 1
    # focused before the first refresh (3 s after the load), as a keyboard user would
    browser.evaluate(f"window.crop = document.querySelectorAll('{CROPS}')[{rows - 1}]; window.crop.focus();"
                     f"window.kids = {list(PARTS)}.map(id => document.getElementById(id).firstElementChild)")
    assert browser.evaluate("document.body.dataset.refreshed") is None  # not refreshed yet
    assert _refreshed(browser) and _refreshed(browser)
    # nothing changed: no part was rendered again, and the crop is still the focused element
    assert browser.evaluate(f"{list(PARTS)}.filter((id, i) => "
                            "document.getElementById(id).firstElementChild !== window.kids[i])") == []
    assert browser.evaluate("document.activeElement === window.crop")

    # a new event: the events are rendered anew, and the focus is on the same event's crop
    event = browser.evaluate("window.crop.closest('tr').dataset.event")
    _read(api.url, "03_romanian_t604.jpg", "yard")
    assert wait_for(lambda: browser.evaluate(f"document.querySelectorAll('{CROPS}').length") == rows + 1, 15)
    assert not browser.evaluate("document.body.contains(window.crop)")  # the row was rendered anew
    assert browser.evaluate("document.activeElement.closest('tr[data-event]')?.dataset.event") == event
    assert browser.evaluate("document.activeElement.matches('td[data-label=Crop] a')")
    assert browser.console_errors() == []


def test_plates_are_added_one_after_another_from_the_keyboard(api_factory: Any, browser: Chromium) -> None:
    """The watch lists are rendered anew after each edit: the focus stays in the plate box of the
    list the operator adds to (the second of two here), not on the first list's, nor dropped."""
    api = api_factory()
    for name in ("staff", "visitors"):
        r = requests.put(f"{api.url}/v1/watchlists/{name}/", json={"plates": []}, timeout=10)
        assert r.status_code in (200, 201), r.text
    browser.log_console()
    browser.open(f"{api.url}/")
    box = "form[data-list=visitors] input[name=plate]"
    assert browser.evaluate("document.querySelectorAll('form[data-action=add]').length") == 2
    for plate in ("B144MOS", "CJ12ABC"):
        browser.evaluate(f"{{ const b = document.querySelector('{box}'); b.focus(); b.value = '{plate}';"
                         "b.form.requestSubmit(); }")
        assert wait_for(lambda p=plate: p in browser.evaluate("document.getElementById('lists').innerText"), 15)
        assert browser.evaluate(f"document.activeElement === document.querySelector('{box}')"), \
            browser.evaluate("document.activeElement.outerHTML")
    stored = requests.get(f"{api.url}/v1/watchlists/visitors/", timeout=10).json()
    assert [p["plate"] for p in stored["plates"]] == ["B144MOS", "CJ12ABC"]
    assert browser.console_errors() == []


def test_the_focused_older_events_link_stays_focused_when_a_new_event_moves_its_cursor(
        api_factory: Any, browser: Chromium) -> None:
    """The "Older events" link's address carries the cursor of the page's last event, which
    changes with every new event: the link is found again by what it is (rel="next")."""
    api = api_factory({"history": {"api_reads": True}})
    for _ in range(RECENT_EVENTS + 1):
        _read(api.url, "03_romanian_t604.jpg", "door")
    browser.log_console()
    browser.open(f"{api.url}/")
    browser.evaluate("window.older = document.querySelector('#events a[rel=next]'); window.older.focus()")
    href = browser.evaluate("window.older.getAttribute('href')")
    _read(api.url, "03_romanian_t604.jpg", "yard")
    assert wait_for(lambda: browser.evaluate("document.querySelector('#events a[rel=next]').getAttribute('href')")
                    != href, 15)
    assert not browser.evaluate("document.body.contains(window.older)")  # rendered anew
    assert browser.evaluate("document.activeElement === document.querySelector('#events a[rel=next]')"), \
        browser.evaluate("document.activeElement.outerHTML")
    assert browser.console_errors() == []


def test_a_focused_item_of_the_trouble_summary_stays_focused_when_its_words_change(
        tmp_path: Path, recognizer: Any, browser: Chromium, no_token: None) -> None:
    """Several of the summary's items link to the same section (#cameras-section): the focused
    one is found again by its key (``data-key``), not by its address, when the summary changes
    ("2 cameras reconnecting" becomes "1 camera reconnecting")."""
    cams = [{**unreachable_camera(name), "failed_after_s": after}
            for name, after in (("gate", 1), ("yard", 8), ("dock", 3600))]
    cfg = config.from_dict({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False},
                            "api": {"port": 0, "threads": 4}, "stream": {"cameras": cams}}, "<test>")
    svc = build_service(cfg, threading.Event(), recognizer=recognizer)
    try:
        assert svc.api is not None
        assert wait_for(lambda: camera_state(svc.cameras[0]) == "failed", 30)
        assert camera_state(svc.cameras[1]) == "reconnecting"
        browser.log_console()
        browser.open(f"http://127.0.0.1:{svc.api.server.port}/")
        links = "[...document.querySelectorAll('#trouble a')]"
        assert browser.evaluate(f"{links}.map(a => a.textContent)") == ["2 cameras reconnecting", "1 camera failed"]
        browser.evaluate(f"window.item = {links}[0]; window.item.focus()")
        assert wait_for(lambda: browser.evaluate(f"{links}.map(a => a.textContent)")
                        == ["1 camera reconnecting", "2 cameras failed"], 30)
        assert not browser.evaluate("document.body.contains(window.item)")  # rendered anew
        assert browser.evaluate("document.activeElement.textContent") == "1 camera reconnecting"
        assert browser.console_errors() == []
    finally:
        svc.close()
