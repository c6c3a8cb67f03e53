"""The cameras table is updated in place at each refresh, in a real browser (headless Chromium
over its DevTools protocol).

Its durations and counts change every second while a camera reconnects, so the table changes at
every refresh.  Drawn anew each time, it dropped the text an operator had selected in it (a
camera's id, to copy), the hover and the focus, and a screen reader read it again.  Its rows
and cells are now kept and only their text is written; a row the server no longer renders is
removed, and one it renders that the page lacks is added (cameras change only with a restart,
so the page's table is made to differ here by hand).

Marked ``browser``: skipped, saying why, where Chromium or ``websocket-client`` is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import BROWSER_MARKS, Chromium
from console_service import unreachable_camera
from waiting import wait_for

from edge_alpr import config
from edge_alpr.service import Service
from edge_alpr.service import build as build_service

pytest_plugins = ["chromium"]
pytestmark = BROWSER_MARKS

ROWS = "[...document.querySelectorAll('#cameras tbody tr')]"
STATE = "document.querySelector('#cameras tbody tr td[data-label=State]').textContent"


@pytest.fixture
def two_cameras(tmp_path: Path, recognizer: Any, no_token: None) -> Iterator[Service]:
    """The service with two cameras that reconnect (their counts and durations change each second)."""
    cfg = config.from_dict({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False},
                            "api": {"port": 0, "threads": 4},
                            "stream": {"cameras": [unreachable_camera("gate"), unreachable_camera("yard")]}}, "<test>")
    svc = build_service(cfg, threading.Event(), recognizer=recognizer)
    try:
        yield svc
    finally:
        svc.close()


def _open(browser: Chromium, svc: Service) -> None:
    assert svc.api is not None
    browser.log_console()
    browser.open(f"http://127.0.0.1:{svc.api.server.port}/")
    assert browser.evaluate(f"{ROWS}.length") == 2


def _changed(browser: Chromium) -> None:
    """Wait until a refresh has changed the first camera's State cell."""
    before = browser.evaluate(STATE)
    assert wait_for(lambda: browser.evaluate(STATE) != before, 20), before


def test_a_refresh_keeps_the_rows_the_selection_and_writes_only_what_changed(
        two_cameras: Service, browser: Chromium) -> None:
    _open(browser, two_cameras)
    # the operator selects the first camera's id; an observer counts the elements a refresh removes
    browser.evaluate(f"window.rows = {ROWS}; window.cells = [...document.querySelectorAll('#cameras td')];"
                     "const id = window.rows[0].querySelector('td[data-label=Camera]');"
                     "getSelection().selectAllChildren(id);"
                     "window.removed = 0; new MutationObserver(ms => { for (const m of ms) "
                     "window.removed += [...m.removedNodes].filter(n => n.nodeType === 1).length })"
                     ".observe(document.getElementById('cameras'), {childList: true, subtree: true})")
    _changed(browser)
    _changed(browser)
    assert browser.evaluate(f"{ROWS}.every((r, i) => r === window.rows[i])")
    assert browser.evaluate("[...document.querySelectorAll('#cameras td')].every((c, i) => c === window.cells[i])")
    assert browser.evaluate("window.removed") == 0
    assert browser.evaluate("getSelection().toString()") == "gate"
    assert browser.console_errors() == []


def test_rows_the_server_no_longer_renders_go_and_those_it_renders_come(
        two_cameras: Service, browser: Chromium) -> None:
    _open(browser, two_cameras)
    # the page's table made to differ from the server's: yard's row gone, a camera 7 that is not
    browser.evaluate(f"window.rows = {ROWS}; window.rows[1].remove();"
                     "const extra = window.rows[0].cloneNode(true); extra.dataset.index = '7';"
                     "extra.querySelector('td').textContent = 'gone';"
                     "document.querySelector('#cameras tbody').append(extra)")
    assert browser.evaluate(f"{ROWS}.map(r => r.dataset.index)") == ["0", "7"]
    _changed(browser)
    assert browser.evaluate(f"{ROWS}.map(r => r.dataset.index)") == ["0", "1"]
    assert browser.evaluate(f"{ROWS}.map(r => r.querySelector('td[data-label=Camera]').textContent)") \
        == ["gate", "yard"]
    assert browser.evaluate(f"{ROWS}[0] === window.rows[0]")  # the row that stayed was kept
    # the whole part as the server renders it now (times aside, which the page shows in its zone)
    html = browser.evaluate("fetch('/console/parts?parts=live').then(r => r.json()).then(p => p.cameras)")
    assert browser.evaluate(f"{ROWS}.length") == html.count("<tr class=")
    assert browser.console_errors() == []


def test_a_refresh_writes_a_kept_row_s_attributes_and_its_changed_times(
        two_cameras: Service, browser: Chromium) -> None:
    """A kept row's attributes (its class, data-state, data-view: a newer frame to fetch) and a
    time whose instant changed are written anew, not only the cells' text; the page's row is
    made to differ from the server's by hand (an unreachable camera's attributes do not change)."""
    _open(browser, two_cameras)
    first = f"{ROWS}[0]"
    assert browser.evaluate(f"{first}.querySelector('time[data-local]') !== null")
    browser.evaluate(f"window.row = {first}; window.row.className = 'was'; window.row.dataset.state = 'was';"
                     "window.row.dataset.view = '99'; window.time = window.row.querySelector('time');"
                     "window.time.setAttribute('datetime', '2001-02-03T04:05:06Z')")
    _changed(browser)
    assert browser.evaluate(f"{first} === window.row && window.row.querySelector('time') === window.time")
    # the row's attributes as the server renders them now
    attrs = "r => [r.className, r.dataset.state, r.dataset.view]"
    fresh = ("fetch('/console/parts?parts=live').then(r => r.json()).then(p => { const t = "
             "document.createElement('template'); t.innerHTML = p.cameras; "
             f"return ({attrs})(t.content.querySelector('tbody tr')) }})")
    assert wait_for(lambda: browser.evaluate(f"({attrs})({first})") == browser.evaluate(fresh), 10), \
        (browser.evaluate(f"({attrs})({first})"), browser.evaluate(fresh))
    assert browser.evaluate("window.row.className") != "was"
    # the time: its instant the server's, shown as that instant in the browser's zone
    stamp, text = browser.evaluate("[window.time.dateTime, window.time.textContent]")
    assert not stamp.startswith("2001-"), stamp
    day = browser.evaluate("(d => [d.getFullYear(), d.getMonth() + 1, d.getDate()]"
                           ".map((n, i) => String(n).padStart(i ? 2 : 4, '0')).join('-'))"
                           "(new Date(window.time.dateTime))")
    assert text.startswith(day + " "), (stamp, text)
    assert browser.console_errors() == []
