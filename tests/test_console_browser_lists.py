"""Watch-list edits from the console keep every plate, in a real browser (headless Chromium over
its DevTools protocol) and the real API server.

* Two plates added in quick succession to one list are both kept: each Add is one request that
  the device applies under its lock (``PUT /v1/watchlists/<name>/plates/<plate>/``), not a read
  of the whole list and a write of it back, where the second write dropped the first plate.
* The lists' refreshes after each edit overlap: an answer to an older request that arrives
  last does not put back the list as it was before the later edit.  The page's ``fetch`` holds
  the first refresh's (real) answer until the second has been shown, as a slow network would.

Marked ``browser``: skipped, saying why, where Chromium or ``websocket-client`` is missing.
"""

from __future__ import annotations

from typing import Any

import requests
from chromium import BROWSER_MARKS, Chromium
from waiting import wait_for

pytest_plugins = ["chromium"]
pytestmark = BROWSER_MARKS

BOX = "form[data-list=visitors] input[name=plate]"


def _new_list(url: str) -> None:
    r = requests.put(f"{url}/v1/watchlists/visitors/", json={"plates": []}, timeout=10)
    assert r.status_code == 200, r.text


def _add(browser: Chromium, plate: str) -> None:
    browser.evaluate(f"{{ const b = document.querySelector('{BOX}'); b.value = '{plate}'; b.form.requestSubmit(); }}")


def _shown(browser: Chromium) -> list[str]:
    return browser.evaluate("[...document.querySelectorAll('[data-list=visitors] td.plate')].map(td => td.textContent)")


def _stored(url: str) -> list[str]:
    return [p["plate"] for p in requests.get(f"{url}/v1/watchlists/visitors/", timeout=10).json()["plates"]]


def test_two_plates_added_at_once_are_both_kept(api_factory: Any, browser: Chromium) -> None:
    api = api_factory()
    _new_list(api.url)
    browser.log_console()
    browser.open(f"{api.url}/")
    _add(browser, "B144MOS")
    _add(browser, "CJ12ABC")  # before the first Add has been answered
    assert wait_for(lambda: browser.evaluate("document.getElementById('message').textContent")
                    .startswith("Added"), 15)
    assert wait_for(lambda: sorted(_stored(api.url)) == ["B144MOS", "CJ12ABC"], 15), _stored(api.url)
    assert wait_for(lambda: sorted(_shown(browser)) == ["B144MOS", "CJ12ABC"], 15), _shown(browser)
    assert browser.console_errors() == []


def test_an_older_refresh_of_the_lists_answered_last_is_not_shown(api_factory: Any, browser: Chromium) -> None:
    api = api_factory()
    _new_list(api.url)
    browser.log_console()
    browser.open(f"{api.url}/")
    # the next refresh of the lists is answered by the device at once, and handed to the page
    # only when the test says (window.release)
    browser.evaluate("""(() => {
      const real = window.fetch;
      let hold = true;
      window.fetch = (url, init) => {
        const answer = real(url, init);
        if (!hold || !String(url).includes("parts=lists")) return answer;
        hold = false;
        return answer.then((r) => new Promise((resolve) => { window.release = () => resolve(r); }));
      };
    })()""")
    _add(browser, "B144MOS")
    assert wait_for(lambda: browser.evaluate("typeof window.release") == "function", 15)
    _add(browser, "CJ12ABC")
    assert wait_for(lambda: sorted(_shown(browser)) == ["B144MOS", "CJ12ABC"], 15), _shown(browser)
    # the first refresh's answer (the list with B144MOS only) arrives now, after the second's
    before = browser.evaluate("document.body.dataset.refreshed || '0'")
    browser.evaluate("window.release()")
    assert wait_for(lambda: browser.evaluate("document.body.dataset.refreshed || '0'") != before, 15)
    assert sorted(_shown(browser)) == ["B144MOS", "CJ12ABC"]
    assert _stored(api.url) == ["B144MOS", "CJ12ABC"]
    assert browser.console_errors() == []
