"""The console's search form, checked in its HTML (no browser needed; the browser test checks
the time boxes' conversion in Chromium where it is installed).

A search with a bad value keeps every value as it was typed (escaped), says which box is wrong
and marks that one, instead of showing empty boxes beside an error.  Times: the boxes come in
UTC, labelled so (as the events' time column is), in ISO order with the form named (not a
``datetime-local`` box, which shows the locale's order), and the page's script shows them
in the browser's zone and sends them back in UTC.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
import requests
from bottle import FormsDict
from conftest import SAMPLES, RunningApi

from edge_alpr.api.console import FILES
from edge_alpr.api.console_search import search


class _Inputs(HTMLParser):
    """Each ``<input>`` of the search form, by name: its attributes (unescaped)."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str | None]] = {}
        self._in_search = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._in_search = a.get("id") == "search"
        elif tag == "input" and self._in_search and a.get("name"):
            self.inputs[str(a["name"])] = a

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_search = False


def _boxes(html: str) -> dict[str, dict[str, str | None]]:
    parser = _Inputs()
    parser.feed(html)
    return parser.inputs


@pytest.fixture
def api(api_factory: Callable[..., RunningApi]) -> RunningApi:
    return api_factory({"history": {"api_reads": True}})


def test_a_bad_date_keeps_every_value_typed_and_names_its_box(api: RunningApi) -> None:
    typed = {"plate": "AB123", "camera": '"><b>gate', "distance": "2", "since": "yesterday",
             "until": "2024-05-01T10:00", "list": "deny"}
    page = requests.get(f"{api.url}/", params=typed, timeout=10)
    assert page.status_code == 400
    boxes = _boxes(page.text)
    assert {name: boxes[name]["value"] for name in typed} == typed
    assert '"><b>' not in page.text and 'value="&quot;&gt;&lt;b&gt;gate"' in page.text  # escaped
    assert boxes["since"].get("type") in (None, "text") and boxes["until"].get("type") in (None, "text")
    assert [n for n, a in boxes.items() if a.get("aria-invalid") == "true"] == ["since"]
    assert boxes["since"]["aria-describedby"] == "search-error"
    error = re.search(r'<p class="bad" id="search-error" role="alert">(.*?)</p>', page.text)
    assert error and error.group(1).startswith("Since: timestamp &#039;yesterday&#039; is not ISO 8601")
    assert "No events shown: correct the search" in page.text


@pytest.mark.parametrize(("name", "value", "said"), [
    ("distance", "-1", "Distance: must be 0..3, got &#039;-1&#039;"),
    ("plate", "--", "Plate: &#039;--&#039; must hold"),
    ("list", "a b", "List: &#039;a b&#039; is not a watch list name"),
    ("until", "2024-01-01T00:00:00+02:00", "Until: timestamp"),
])
def test_each_bad_value_is_shown_again_and_marked(api: RunningApi, name: str, value: str, said: str) -> None:
    page = requests.get(f"{api.url}/", params={"camera": "gate", name: value}, timeout=10)
    assert page.status_code == 400
    boxes = _boxes(page.text)
    assert boxes[name]["value"] == value and boxes["camera"]["value"] == "gate"
    assert [n for n, a in boxes.items() if a.get("aria-invalid")] == [name]
    assert f'role="alert">{said}' in page.text


def test_a_value_that_is_not_utf8_is_shown_replaced_and_marked() -> None:
    found = search(FormsDict(camera="\xff\xfe", plate="AB1"))  # bottle's Latin-1 of the raw bytes
    assert found.query is None and found.bad == ("camera",) and found.error.startswith("Camera: ")
    assert found.shown["camera"] == "\ufffd\ufffd" and found.shown["plate"] == "AB1"
    assert found.invalid("camera") and not found.invalid("plate")


def test_the_time_boxes_come_in_utc_in_iso_order_and_name_their_form(api: RunningApi) -> None:
    """Text boxes, not ``datetime-local`` ones (whose order is the browser locale's: 05/01/2024
    in en-US), showing the day and the clock in ISO order, the form they take as placeholder."""
    page = requests.get(f"{api.url}/", params={"since": "2024-05-01T08:00:00Z",
                                               "until": "2024-05-01T09:30:00.250+00:00"}, timeout=10)
    assert page.status_code == 200
    boxes = _boxes(page.text)
    assert boxes["since"]["value"] == "2024-05-01 08:00:00" and boxes["since"].get("type") in (None, "text")
    assert boxes["until"]["value"] == "2024-05-01 09:30:00.250"
    for name in ("since", "until"):
        assert boxes[name]["placeholder"] == "YYYY-MM-DD hh:mm:ss" and "24-hour" in str(boxes[name]["title"])
    assert boxes["since"]["data-zone"] == boxes["until"]["data-zone"] == "utc"
    for name in ("Since", "Until"):  # labelled UTC: the page's script names the browser's zone
        assert f'<label>{name} <span class="zone">(UTC)</span> <input name="{name.lower()}"' in page.text
    assert not any(a.get("aria-invalid") for a in boxes.values()) and "search-error" not in page.text
    # the CSV link and the query keep UTC
    assert "since=2024-05-01T08%3A00%3A00&amp;" in page.text
    events = requests.get(f"{api.url}/v1/events/", params={"since": "2024-05-01T08:00:00"}, timeout=10)
    assert events.status_code == 200


def test_the_events_time_column_names_its_zone(api_factory: Callable[..., RunningApi],
                                              sample_images: list[Any]) -> None:
    api = api_factory({"history": {"api_reads": True}})
    r = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": sample_images[0].read_bytes()}, timeout=30)
    assert r.status_code == 201
    page = requests.get(f"{api.url}/", timeout=10).text
    assert '<th>Time <span class="zone">(UTC)</span></th>' in page
    script, search_js = (FILES / "console.js").read_text(), (FILES / "search.js").read_text()
    # the scripts rename every zone label, and send the local boxes back in UTC
    assert 'querySelectorAll("span.zone")' in script and '.id !== "search"' in search_js
    assert "toISOString()" in search_js


def test_without_a_history_a_search_in_the_address_is_ignored(api_factory: Callable[..., RunningApi]) -> None:
    """Without a history there is no search form, so a bad value in the address could be neither
    seen nor corrected, and the refresh resent it every tick (400s: cameras, delivery and
    counters stayed as first shown).  The page and its parts ignore the search instead."""
    api = api_factory({"history": {"enabled": False, "api_reads": False}})
    page = requests.get(f"{api.url}/", params={"since": "yesterday", "plate": "AB1"}, timeout=10)
    assert page.status_code == 200, page.text
    assert "history is off" in page.text and "correct the search" not in page.text
    parts = requests.get(f"{api.url}/console/parts", params={"since": "yesterday", "parts": "live"}, timeout=10)
    assert parts.status_code == 200, parts.text
    assert {"cameras", "health", "counters"} <= set(parts.json())
    assert "history is off" in parts.json()["events"]


def test_every_bad_box_is_marked_at_once(api: RunningApi) -> None:
    """A bad plate and a bad date: both are marked and named, not the plate alone (which sent the
    operator back a second time for the date); the good boxes are not."""
    page = requests.get(f"{api.url}/", params={"plate": "--", "camera": "gate", "since": "yesterday",
                                               "list": "a b"}, timeout=10)
    assert page.status_code == 400
    boxes = _boxes(page.text)
    assert [n for n, a in boxes.items() if a.get("aria-invalid") == "true"] == ["plate", "since", "list"]
    assert all(boxes[n]["aria-describedby"] == "search-error" for n in ("plate", "since", "list"))
    error = re.search(r'id="search-error" role="alert">(.*?)</p>', page.text)
    assert error, page.text
    said = html.unescape(error.group(1)).split("; ")
    assert [part.split(":")[0] for part in said] == ["Plate", "Since", "List"], said
    assert "'yesterday'" in said[1]


def test_a_since_after_its_until_marks_both(api: RunningApi) -> None:
    """Each time is good alone, but together they leave no time between them: both boxes are at
    fault (which one was mistyped the page cannot know), and the page says so instead of
    answering "No event matches the search."."""
    page = requests.get(f"{api.url}/", params={"since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"},
                        timeout=10)
    assert page.status_code == 400
    boxes = _boxes(page.text)
    assert [n for n, a in boxes.items() if a.get("aria-invalid") == "true"] == ["since", "until"]
    assert boxes["since"]["value"] == "2024-05-02 00:00:00" and boxes["until"]["value"] == "2024-05-01 00:00:00"
    assert 'role="alert">Until is before Since' in page.text and "No event matches" not in page.text
    # the same times, the right way round: a search, no error
    page = requests.get(f"{api.url}/", params={"since": "2024-05-01T00:00:00Z", "until": "2024-05-02T00:00:00Z"},
                        timeout=10)
    assert page.status_code == 200 and "search-error" not in page.text


def test_a_since_equal_to_its_until_marks_both(api: RunningApi) -> None:
    """The search finds ``since <= ts < until``: equal times leave no time between them, the same
    fault as a Since after its Until (not "No event matches the search.")."""
    same = "2024-05-01T00:00:00Z"
    page = requests.get(f"{api.url}/", params={"since": same, "until": same}, timeout=10)
    assert page.status_code == 400
    boxes = _boxes(page.text)
    assert [n for n, a in boxes.items() if a.get("aria-invalid") == "true"] == ["since", "until"]
    assert 'role="alert">Until is the same as Since, so no event can be in between' in page.text
    assert "No event matches" not in page.text


def test_a_bad_search_still_shows_its_good_times_in_their_boxes_and_checks_their_order(api: RunningApi) -> None:
    """With a bad plate beside them, times that parse come back in the boxes' form (``...Z`` as
    typed would be read in the browser's zone, where the boxes beside it are), and a Since after its Until is
    said then too, not only once the plate is corrected."""
    page = requests.get(f"{api.url}/", params={"plate": "--", "since": "2024-05-02T00:00:00Z",
                                               "until": "2024-05-01T00:00:00Z"}, timeout=10)
    assert page.status_code == 400
    boxes = _boxes(page.text)
    assert boxes["since"]["value"] == "2024-05-02 00:00:00"
    assert boxes["until"]["value"] == "2024-05-01 00:00:00"
    assert [n for n, a in boxes.items() if a.get("aria-invalid") == "true"] == ["plate", "since", "until"]
    error = re.search(r'id="search-error" role="alert">(.*?)</p>', page.text)
    assert error and html.unescape(error.group(1)).startswith("Plate: '--' must hold")
    assert "Until is before Since" in error.group(1)


def test_a_crop_s_text_is_the_plate_as_its_row_shows_it(api_factory: Any) -> None:
    """A crop's alternative text (read by a screen reader, shown where the crop does not load:
    the device gone before a lazy crop arrived) named the plate as stored, ``plate b144mos``,
    beside the row's ``B144MOS``."""
    api = api_factory({"history": {"api_reads": True}})
    with open(SAMPLES / "03_romanian_t604.jpg", "rb") as f:
        r = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f}, timeout=60)
    assert r.status_code == 201 and r.json()["results"], r.text
    page = requests.get(f"{api.url}/", timeout=10).text
    row = r'<td data-label="Plate" class="plate">([^<(]+?)(?: \(|</td>).*?<img class="crop" [^>]*alt="([^"]*)"'
    rows = re.findall(row, page, re.S)
    assert rows, page
    assert [alt for _, alt in rows] == [f"plate {plate.strip()}" for plate, _ in rows]
    assert all(plate.strip() == plate.strip().upper() for plate, _ in rows)
