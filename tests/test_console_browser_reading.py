"""How the console's page reads in a real browser (headless Chromium over its DevTools
protocol), at a desktop's width and a phone's: an event's row as tall as its crop (the crop's
link, focused, outlines the crop), and a watch list's heading that reads as a name followed by
its details, not one long bold line; and at every width from a phone's to a desktop's, no
section of a real site's page (a camera with a long RTSP URL that cannot connect, a webhook
that fails) holds a column past its right edge.

Marked ``browser``: skipped, saying why, where Chromium or ``websocket-client`` is missing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import requests
from chromium import BROWSER_MARKS, Chromium
from conftest import SAMPLES
from waiting import wait_for

from edge_alpr import config
from edge_alpr.api.request import MAX_CAMERA_ID_CHARS
from edge_alpr.api.server import free_port
from edge_alpr.service import build as build_service
from edge_alpr.stream.health import camera_state
from edge_alpr.supervision import FunctionWorker, Worker

pytest_plugins = ["chromium"]
pytestmark = BROWSER_MARKS

SOURCES = "[...document.querySelectorAll('#cameras td[data-label=Source]')].map(td => td.textContent)"
PHOTOS = ["05_romanian_night_t155.jpg"]
CROP = "#events tr[data-event]:nth-of-type(%d) td[data-label=Crop] a"
# per camera: is its Source cell's text on one line?
ONE_LINE = ("[...document.querySelectorAll('#cameras td[data-label=Source]')].map(td => {"
            "const r = document.createRange(); r.selectNodeContents(td);"
            "return new Set([...r.getClientRects()].map(q => Math.round(q.top))).size === 1; })")


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

# per camera: the words of its state (the State cell's first line: reconnecting, source ended)
# each on one line (a URL in an error below may break anywhere, a word of the state not)
WHOLE_WORDS = ("[...document.querySelectorAll('#cameras td[data-label=State]')].flatMap(td => {"
               "const text = td.firstChild; const out = [];"
               "for (const m of text.textContent.matchAll(/\\S+/g)) {"
               "const r = document.createRange(); r.setStart(text, m.index); r.setEnd(text, m.index + m[0].length);"
               "if (new Set([...r.getClientRects()].map(q => Math.round(q.top))).size > 1) out.push(m[0]); }"
               "return out; })")

# per card of a table (a phone's width): the cells whose content starts left of their label's end
UNDER_LABEL = ("[...document.querySelectorAll('table.cards td')].filter(td => {"
               "const r = document.createRange(); r.selectNodeContents(td);"
               "const content = Math.min(...[...r.getClientRects()].map(q => q.left));"
               "const label = td.getBoundingClientRect().left + parseFloat(getComputedStyle(td, '::before').width);"
               "return content < label; }).map(td => td.dataset.label)")


def test_no_section_holds_a_column_past_its_edge_at_any_width(
        tmp_path: Path, recognizer: Any, browser: Chromium, no_token: None) -> None:
    """From a small phone's 320 px (where the photo form's file box and the search's date boxes went
    past the edge) to a desktop's 1280, through a tablet upright and half a laptop's
    screen (641-960 px, where the cameras' table of nine columns was laid out wider than its
    section, Lag, Last frame and Events hidden past the edge), every section's content fits it;
    and where there is room (1100 px and up, beside a long URL and a long error) a short camera
    URL is not broken over two lines.  A camera's URL of about 100 characters fits too, at every
    width from 990 to 1300 px in steps of 2 (it held the cameras' table past its section from
    1001 px, where URLs stopped breaking anywhere, to about 1100), broken over lines.  A camera's
    state is never broken inside a word (from 761 to 1000 px, where its cell may break a URL of
    an error anywhere, it read ``reconnectin`` / ``g``); on a phone each card's value stands beside
    its label, never under it."""
    dead = free_port()
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}, "api": {"port": 0, "threads": 4},
        "webhooks": {"targets": [f"http://127.0.0.1:{free_port()}/hooks/edge-alpr/plate-events"],
                     "backoff_initial_s": 30},
        "stream": {"cameras": [
            {"id": "gate", "source": {"kind": "folder", "watch": False}},
            {"id": "entrance-north", "failed_after_s": 3600,
             "source": {"kind": "opencv", "url": f"rtsp://127.0.0.1:{dead}/Streaming/Channels/101",
                        "read_timeout": 1, "reconnect_min": 0.2, "reconnect_max": 0.5}},
            {"id": "yard", "failed_after_s": 3600,
             "source": {"kind": "opencv", "url": f"rtsp://127.0.0.1:{dead}/Streaming/Channels/201?"
                                                 "transportmode=unicast&profile=Profile_2&stream=substream-main-hd",
                        "read_timeout": 1, "reconnect_min": 0.2, "reconnect_max": 0.5}}]},
    }, "<test>")
    svc = build_service(cfg, threading.Event(), recognizer=recognizer)
    try:
        assert svc.api is not None and svc.history is not None
        history = svc.history
        assert wait_for(lambda: svc.cameras[0].stats.ended and history.stats()["events"] > 0
                        and camera_state(svc.cameras[1]) == camera_state(svc.cameras[2]) == "reconnecting"
                        and svc.webhooks is not None and svc.webhooks.status()[0]["consecutive_failures"] > 0, 60)
        browser.open(f"http://127.0.0.1:{svc.api.server.port}/")
        past = ("[...document.querySelectorAll('section')].filter(s => s.scrollWidth > s.clientWidth + 1)"
                ".map(s => [s.querySelector('h2').textContent, s.scrollWidth - s.clientWidth])")
        assert len(browser.evaluate(SOURCES)[2]) >= 100
        for width in (320, 390, 641, 700, 761, 800, 860, 900, 960, *range(990, 1301, 2)):
            browser.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                         mobile=width < 640)
            assert browser.evaluate("innerWidth") == width
            assert browser.evaluate(past) == [], width
            assert browser.evaluate(WHOLE_WORDS) == [], width
            if width <= 760:  # cards: each value beside its label, not under it
                assert browser.evaluate(UNDER_LABEL) == [], width
            if width >= 1100:  # with room to spare a short URL stays whole, on one line
                assert browser.evaluate(ONE_LINE)[:2] == [True, True], width
        assert browser.evaluate(ONE_LINE) == [True, True, False]  # 1300 px: the long one breaks
    finally:
        svc.close()


def test_a_long_camera_id_without_a_break_fits_every_section(
        tmp_path: Path, recognizer: Any, browser: Chromium, no_token: None) -> None:
    """A camera id of 64 characters (the API's longest) with no hyphen or space to break at, as
    a site names one (``EinfahrtTiefgarageNordseite...``): in the cameras table, under its live
    view and in the events it read, it held the Cameras section 150-190 px wider than a phone's
    screen (the live view's caption) and the Cameras and Events sections 240-270 px wider than an
    800 px window (the tables' Camera columns), each section scrolled sideways.  It breaks where
    the line ends, from a phone's width to a desktop's.  So does the summary of trouble atop the
    page, outside every section, where ``camera-<id> restarted 2 times`` held the page 619 px wide
    at 320 px: the page itself is measured, not only its sections.  The crashes are a worker's of
    the camera's name that fails for real (a camera's own crash needs a fault made in its code)."""
    name = ("EinfahrtTiefgarageNordseiteHauptgebaeudeKameraZweiLinksObenRampe" * 2)[:MAX_CAMERA_ID_CHARS]
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}, "api": {"port": 0, "threads": 4},
        "history": {"api_reads": True},
        "stream": {"cameras": [{"id": name, "failed_after_s": 3600,
                                "source": {"kind": "opencv", "url": f"rtsp://127.0.0.1:{free_port()}/live",
                                           "read_timeout": 1, "reconnect_min": 0.2, "reconnect_max": 0.5}}]},
    }, "<test>")
    svc = build_service(cfg, threading.Event(), recognizer=recognizer)
    stop = threading.Event()
    crashes = [2]

    def work(worker: Worker) -> None:
        if crashes[0]:
            crashes[0] -= 1
            raise RuntimeError("a crash of the camera's worker")
        stop.wait()

    crashing = FunctionWorker(f"camera-{name}", work, stop, backoff_initial_s=0.01, backoff_max_s=0.02)
    svc.supervisor.watch(lambda: [crashing])
    crashing.start()
    try:
        assert svc.api is not None
        url = f"http://127.0.0.1:{svc.api.server.port}"
        assert wait_for(lambda: crashing.crashes == 2, 10)
        with open(SAMPLES / PHOTOS[0], "rb") as f:  # an event of that camera
            r = requests.post(f"{url}/v1/plate-reader/", files={"upload": f}, data={"camera_id": name}, timeout=60)
        assert r.status_code == 201 and r.json()["results"], r.text
        past = ("[...document.querySelectorAll('section')].filter(s => s.scrollWidth > s.clientWidth + 1)"
                ".map(s => [s.querySelector('h2').textContent, s.scrollWidth - s.clientWidth])")
        for width in (320, 390, 641, 800, 1000, 1280):
            browser.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                         mobile=width < 640)
            browser.open(f"{url}/")
            shown = browser.evaluate("[...document.querySelectorAll('#events td[data-label=Camera], "
                                     "#cameras td[data-label=Camera], .views figcaption')].map(e => e.textContent)")
            assert shown == [name] * 3, width
            trouble = browser.evaluate("document.getElementById('trouble').textContent")
            assert f"camera-{name} restarted 2 times" in trouble, width
            assert browser.evaluate(past) == [], width
            assert browser.evaluate("document.documentElement.scrollWidth") <= width, width
    finally:
        stop.set()
        crashing.join(5)
        svc.close()
