"""How the console's page reads in a real browser (headless Chromium over its DevTools
protocol), at a desktop's width and a phone's: an event's row as tall as its crop (the crop's
link, focused, outlines the crop), and a watch list's heading that reads as a name followed by
its details, not one long bold line.

Marked ``browser``: skipped, saying why, where Chromium or ``websocket-client`` is missing.
"""

from __future__ import annotations

from typing import Any

import requests
from chromium import BROWSER_MARKS, Chromium
from conftest import SAMPLES
from waiting import wait_for

pytest_plugins = ["chromium"]
pytestmark = BROWSER_MARKS

PHOTOS = ["05_romanian_night_t155.jpg"]
CROP = "#events tr[data-event]:nth-of-type(%d) td[data-label=Crop] a"


def test_a_crop_s_link_is_the_crop_s_size_so_its_row_stays_short(api_factory: Any, browser: Chromium) -> None:
    """The link around an event's crop takes the crop's box, at a desktop's width and a phone's:
    no padding of the scene dialog's own ``.scene``, no empty lines of an inline link around a
    block picture (each event's row twice as tall as its crop, its focus ring a broken outline)."""
    api = api_factory({"history": {"api_reads": True}})
    with open(SAMPLES / PHOTOS[0], "rb") as f:
        r = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f}, timeout=60)
    assert r.status_code == 201 and r.json()["results"], r.text
    sizes = ("(() => { const a = document.querySelector('%s'), img = a.querySelector('img');"
             "return [a, img, a.closest('tr')].map(e => e.getBoundingClientRect())"
             ".map(r => [r.width, r.height]); })()" % (CROP % 1))
    for width, height in ((1280, 900), (390, 844)):
        browser.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                     mobile=width < 640)
        browser.open(f"{api.url}/")
        assert wait_for(lambda: browser.evaluate(f"document.querySelector('{CROP % 1} img').naturalWidth > 0"), 10)
        link, crop, row = browser.evaluate(sizes)
        assert crop[1] >= 28 and all(abs(a - b) <= 1 for a, b in zip(link, crop)), (width, link, crop)
        if width > 640:  # a table row: as tall as the crop and the cell's padding, no more
            assert row[1] <= crop[1] + 12, (row, crop)


def test_a_watch_list_s_heading_is_its_name_in_bold_and_its_details_in_plain_text(
        api_factory: Any, browser: Chromium) -> None:
    """The heading's details (plates, distance, matches since when, read-only) are a line of
    grey text: in bold as well, at a phone's width four lines of bold grey, they were hard to
    read and hid the name."""
    api = api_factory({"watchlists": {"stolen": {"plates": [{"plate": "B144MOS", "label": "reported"}]}}})
    weights = ("[...document.querySelectorAll('#lists .list h3')].map(h => "
               "[h.firstChild.textContent.trim(), getComputedStyle(h).fontWeight, "
               "getComputedStyle(h.querySelector('.muted')).fontWeight])")
    browser.open(f"{api.url}/")
    (name, bold, details), = browser.evaluate(weights)
    assert name == "stolen" and int(bold) >= 600 and int(details) <= 400, (name, bold, details)
