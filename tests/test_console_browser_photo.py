"""The console's "Try a photo" form in a real browser (headless Chromium over its DevTools protocol)
against the real API server with a token, the history of API reads and a watch list.

The admin logs in, picks a bundled sample through the form's file input (``DOM.setFileInputFiles``:
what choosing a file does) with a region, presses Read: the button is disabled and the page says
"Reading…" until the answer, then shows the plate text of the sample's label (``labels.json``,
read by eye, never a model's output) with its watch-list match, the device's processing time, and
the photo on a canvas with the plate box drawn where the label's box is.  The read went through
the API like any client's: counted in the usage, kept in the history as camera ``console``.
A file over the upload limit, a file that is not an image and a picture the device cannot decode
each get a message that says so, and the form works again after each; a picture dropped onto
the section is read at once.  A file dropped elsewhere on the page is neither opened nor read,
and a failed read takes the last result off the page.  At a phone's width the
result fits the screen.  The browser logs no error (no script or image refused by the CSP).

Marked ``browser``: skipped, saying why, where Chromium or ``websocket-client`` is missing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from chromium import BROWSER_MARKS, Chromium
from conftest import SAMPLES, RunningApi
from waiting import wait_for

TOKEN = "photo-s3cret-0123456789"
LABELS: dict[str, Any] = json.loads((SAMPLES / "labels.json").read_text())
SAMPLE = sorted(SAMPLES.glob("*.jpg"))[0]
PLATE = LABELS[SAMPLE.name]["plates"][0]
AMBER, RED = (255, 196, 0), (230, 40, 40)  # the live view's box colours

pytest_plugins = ["chromium"]
pytestmark = BROWSER_MARKS


def _choose(browser: Chromium, path: Path) -> None:
    """Put ``path`` in the form's file input, as choosing it in the file dialog does."""
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", nodeId=root, selector="#photo input[type=file]")["nodeId"]
    browser.call("DOM.setFileInputFiles", files=[str(path)], nodeId=node)


def _status(browser: Chromium) -> str:
    return str(browser.evaluate("document.getElementById('photo-status').textContent"))


def _read(browser: Chromium, path: Path, regions: str = "") -> list[Any]:
    """Choose ``path`` and press Read; what the page says at once: [button disabled, status]."""
    _choose(browser, path)
    got: list[Any] = browser.evaluate(
        f"document.querySelector('#photo input[name=regions]').value = {json.dumps(regions)};"
        "document.querySelector('#photo button').click();"
        "[document.querySelector('#photo button').disabled, document.getElementById('photo-status').textContent]")
    return got


def _idle(browser: Chromium) -> bool:
    return not browser.evaluate("document.querySelector('#photo button').disabled")


def _box_pixels(browser: Chromium, box: list[int], colour: tuple[int, int, int]) -> int:
    """Pixels of ``colour`` on the canvas within 12 px of ``box`` (x0, y0, x1, y1; the image's)."""
    x0, y0, x1, y1 = box[0] - 12, box[1] - 12, box[2] + 12, box[3] + 12
    return int(browser.evaluate(
        f"(() => {{ const c = document.getElementById('photo-canvas');"
        f"const d = c.getContext('2d').getImageData({x0}, {y0}, {x1 - x0}, {y1 - y0}).data; let n = 0;"
        f"for (let i = 0; i < d.length; i += 4) if (d[i] === {colour[0]} && d[i + 1] === {colour[1]}"
        f" && d[i + 2] === {colour[2]}) n++; return n; }})()"))


def test_a_photo_tried_in_the_console_shows_its_plate(
        api_factory: Callable[..., RunningApi], browser: Chromium, tmp_path: Path) -> None:
    api = api_factory({"history": {"api_reads": True},
                       "watchlists": {"stolen": {"plates": [{"plate": PLATE["text"], "label": "Red car"}]}}},
                      token=TOKEN)
    auth = {"Authorization": f"Token {TOKEN}"}
    browser.log_console()
    browser.open(f"{api.url}/login")
    browser.evaluate(f"document.querySelector('input[name=token]').value = {json.dumps(TOKEN)};"
                     "document.querySelector('form').submit()")
    browser.settle()
    assert browser.evaluate("location.pathname") == "/"
    assert wait_for(lambda: _idle(browser), 10)  # the script enabled the form
    assert "kept in the history" in browser.evaluate("document.querySelector('#try .note').textContent")

    busy, said = _read(browser, SAMPLE, "ro")
    assert busy and said == f"Reading {SAMPLE.name}…"
    assert wait_for(lambda: _idle(browser), 60)
    assert _status(browser) == f"Read {SAMPLE.name}.", _status(browser)
    rows = browser.evaluate("[...document.querySelectorAll('#photo-plates tbody tr')].map("
                            "r => [r.className, ...[...r.cells].map(c => c.textContent)])")
    assert [row[:2] for row in rows] == [["match", PLATE["text"]]]
    assert rows[0][5] == "stolen: Red car"
    assert browser.evaluate("document.getElementById('photo-summary').textContent").startswith("1 plate read in ")
    assert browser.evaluate("[document.getElementById('photo-canvas').width, "
                            "document.getElementById('photo-canvas').height]") \
        == [LABELS[SAMPLE.name]["width"], LABELS[SAMPLE.name]["height"]]
    assert _box_pixels(browser, PLATE["box"], RED) > 100  # the matched plate's box, in red
    assert _box_pixels(browser, PLATE["box"], AMBER) == 0

    # like any API read: counted, and kept in the history as camera "console", which the page shows
    assert wait_for(lambda: browser.evaluate(
        "[...document.querySelectorAll('#events tr[data-event]')].map(r => r.cells[1].textContent).join()")
        == "console", 15)
    assert requests.get(f"{api.url}/v1/statistics/", headers=auth, timeout=10).json()["usage"]["calls"] == 1
    events = requests.get(f"{api.url}/v1/events/", headers=auth, timeout=10).json()["results"]
    assert [(e["camera_id"], e["plate"].upper()) for e in events] == [("console", PLATE["text"])]

    # a file over the limit is refused before it is sent, naming the limit
    big = tmp_path / "huge.jpg"
    big.write_bytes(SAMPLE.read_bytes().ljust(11_000_000, b"\0"))
    busy, said = _read(browser, big)
    assert not busy and said.startswith("huge.jpg is 10.5 MiB: the device takes photos up to 10 MiB"), said
    # a file that is not an image, and one that says it is a JPEG but is not: the device's words
    _, said = _read(browser, SAMPLES / "labels.json")
    assert said == "labels.json is not an image (application/json): choose a JPEG, PNG, BMP or WebP photo."
    fake = tmp_path / "fake.jpg"
    fake.write_text("not a picture")
    _read(browser, fake)
    assert wait_for(lambda: _idle(browser), 30)
    assert _status(browser).startswith("The device refused the photo (400): the upload is not a supported image")
    assert browser.evaluate("document.getElementById('photo-status').className") == "bad"
    assert requests.get(f"{api.url}/v1/statistics/", headers=auth, timeout=10).json()["usage"]["calls"] == 1

    # a picture dropped onto the section is read at once
    dropped = sorted(SAMPLES.glob("*.jpg"))[2]
    data = base64.b64encode(dropped.read_bytes()).decode()
    browser.evaluate(
        f"const t = new DataTransfer(); t.items.add(new File([Uint8Array.from(atob({json.dumps(data)}), "
        f"c => c.charCodeAt(0))], {json.dumps(dropped.name)}, {{type: 'image/jpeg'}}));"
        "document.getElementById('try').dispatchEvent(new DragEvent('drop', {dataTransfer: t, bubbles: true}))")
    assert wait_for(lambda: _status(browser) == f"Read {dropped.name}.", 60), _status(browser)
    assert browser.evaluate("[...document.querySelectorAll('#photo-plates td.plate')].map(c => c.textContent)") \
        == [LABELS[dropped.name]["plates"][0]["text"]]

    # at a phone's width the result fits the screen
    browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
    browser.open(f"{api.url}/")
    assert wait_for(lambda: _idle(browser), 10)
    _read(browser, SAMPLE)
    assert wait_for(lambda: _idle(browser), 60) and _status(browser) == f"Read {SAMPLE.name}."
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390
    assert browser.evaluate("[...document.querySelectorAll('#try canvas, #try td, #try input, #try button')]"
                            ".filter(e => e.getBoundingClientRect().right > innerWidth + 0.5).length") == 0
    assert browser.evaluate("document.querySelector('#photo button').getBoundingClientRect().height") >= 44
    # the browser logs the fake photo's 400 (as for any failed request), and nothing else
    assert [e for e in browser.console_errors() if "status of 400" not in e] == []


def _drag(browser: Chromium, selector: str, kind: str, path: Path) -> bool:
    """Whether the page cancels the browser's own action for a ``kind`` drag event carrying the
    file ``path`` on ``selector`` (for a file, opening it in place of the page)."""
    data = base64.b64encode(path.read_bytes()).decode()
    return bool(browser.evaluate(
        f"(() => {{ const t = new DataTransfer(); t.items.add(new File([Uint8Array.from("
        f"atob({json.dumps(data)}), c => c.charCodeAt(0))], {json.dumps(path.name)}, {{type: 'image/jpeg'}}));"
        f"const e = new DragEvent({json.dumps(kind)}, {{dataTransfer: t, bubbles: true, cancelable: true}});"
        f"document.querySelector({json.dumps(selector)}).dispatchEvent(e);"
        "return e.defaultPrevented; })()"))


def _drop_at(browser: Chromium, selector: str, path: Path) -> None:
    """Drag ``path`` from outside the browser and drop it on ``selector``, through the browser's
    own input (the DevTools protocol's drag events), as a person does with the mouse."""
    x, y = browser.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                            "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                            "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
    data = {"items": [], "files": [str(path)], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        browser.call("Input.dispatchDragEvent", type=kind, x=x, y=y, data=data)


def _result(browser: Chromium) -> list[Any]:
    """What the page shows as the read's result: [shown, the plates in its table, its summary]."""
    got: list[Any] = browser.evaluate(
        "[!document.getElementById('photo-result').hidden,"
        "[...document.querySelectorAll('#photo-plates td.plate')].map(c => c.textContent),"
        "document.getElementById('photo-summary').textContent]")
    return got


def test_a_photo_dropped_off_the_form_and_a_failed_read_leave_nothing_misleading(
        api_factory: Callable[..., RunningApi], browser: Chromium, tmp_path: Path) -> None:
    """A file dropped anywhere but on "Try a photo" is neither opened by the browser in place of
    the console nor read (a read costs a call, a history event and a webhook post); a read that
    fails takes the last photo's result off the page, so it is not taken for the new photo's.

    Headless Chromium opens no dropped file whatever the page does, so the first is checked
    where it is decided: the page cancels the browser's own action for a file dragged over or
    dropped onto any part of it (what keeps a windowed browser on the console)."""
    api = api_factory({"usage": {"max_calls": 2}})
    auth: dict[str, str] = {}
    browser.log_console()
    browser.open(f"{api.url}/")
    assert wait_for(lambda: _idle(browser), 10)
    browser.evaluate("window.stayed = true")  # gone if the page is left or loaded again
    for outside in ("header h1", "#events", "#lists", "main"):
        assert _drag(browser, outside, "dragover", SAMPLE), outside
        assert _drag(browser, outside, "drop", SAMPLE), outside
    _drop_at(browser, "#events", SAMPLE)
    assert _status(browser) == "" and _result(browser) == [False, [], ""]
    assert requests.get(f"{api.url}/v1/statistics/", headers=auth, timeout=10).json()["usage"]["calls"] == 0
    # dropped onto the form's section it is read at once
    _drop_at(browser, "#try", SAMPLE)
    assert wait_for(lambda: _status(browser) == f"Read {SAMPLE.name}.", 60), _status(browser)
    assert _result(browser)[:2] == [True, [PLATE["text"]]]
    assert browser.evaluate("window.stayed") is True and browser.evaluate("location.pathname") == "/"

    # a picture the device cannot decode (400): the status says why, the last result is gone
    fake = tmp_path / "fake.jpg"
    fake.write_text("not a picture")
    _read(browser, fake)
    assert wait_for(lambda: _idle(browser), 30)
    assert _status(browser).startswith("The device refused the photo (400)"), _status(browser)
    assert _result(browser) == [False, [], ""]
    # the month's quota spent (403, as the API answers it) after a good read: the same
    _read(browser, SAMPLE)
    assert wait_for(lambda: _idle(browser), 60) and _result(browser)[:2] == [True, [PLATE["text"]]]
    other = sorted(SAMPLES.glob("*.jpg"))[2]
    _read(browser, other)
    assert wait_for(lambda: _idle(browser), 30)
    assert _status(browser).startswith("The device refused the photo (403): Monthly call limit"), _status(browser)
    assert _result(browser) == [False, [], ""]
    # and a file refused before it is sent, after a result was shown, takes it away as well
    browser.evaluate("document.getElementById('photo-result').hidden = false")
    _read(browser, SAMPLES / "labels.json")
    assert _status(browser).startswith("labels.json is not an image") and _result(browser)[0] is False
    assert [e for e in browser.console_errors() if "status of 400" not in e and "status of 403" not in e] == []
