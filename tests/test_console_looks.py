"""What an operator sees on the console, checked in its HTML (no browser needed; the browser
test checks the same in Chromium where it is installed).

A camera that cannot open is shown as the health state ``/info/`` and MQTT report
(``reconnecting``, then ``failed``, in red with its error), never as ``running``; a camera with
no frame yet says so instead of a broken image; every cell of a wide table carries its column's
name, which the phone layout shows beside it; the page says what works without JavaScript and
does not offer the watch-list controls that need it.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import requests
from bottle import FormsDict
from conftest import RunningApi
from console_service import camera_view
from waiting import wait_for

from edge_alpr.api.console import FILES, Console
from edge_alpr.api.console_http import SECURITY_HEADERS
from edge_alpr.api.console_search import search
from edge_alpr.api.console_status import camera_views, size
from edge_alpr.api.server import free_port
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_state
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source

# a time as the server writes it: the UTC stamp, its day and clock (each kept whole in a narrow cell)
TIME = r'<time datetime="([^"]+)" title="[^"]+"><span>[-\d]+</span> <span>[:\d]+ UTC</span></time>'

def _console(loops: list[CameraLoop] | None = None) -> Console:
    ctx = SimpleNamespace(supervisor=SimpleNamespace(workers=lambda: list(loops or [])))
    return Console(ctx, None)  # type: ignore[arg-type]  # rendering reads neither further


class _Tables(HTMLParser):
    """Each ``table.cards``: its header names and, per body row, each cell's ``data-label``."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[list[str], list[list[str | None]]]] = []
        self._where = ""  # "th" inside a header cell, "tbody" inside a table's body

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "cards" in (a.get("class") or "").split():
            self.tables.append(([], []))
        elif not self.tables:
            return
        elif tag == "th":
            self._where = "th"
            self.tables[-1][0].append("")
        elif tag == "tbody":
            self._where = "tbody"
        elif tag == "tr" and self._where == "tbody":
            self.tables[-1][1].append([])
        elif tag == "td" and self._where == "tbody":
            self.tables[-1][1][-1].append(a.get("data-label"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "tbody"):
            self._where = ""

    def handle_data(self, data: str) -> None:
        if self._where == "th":
            self.tables[-1][0][-1] += data


def _cards(html: str) -> list[tuple[list[str], list[list[str | None]]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def test_a_camera_that_cannot_open_is_shown_failing_never_running() -> None:
    stream = StreamConfig.from_dict({"cameras": [
        {"id": "dead", "failed_after_s": 60,
         "source": {"kind": "opencv", "url": f"http://127.0.0.1:{free_port()}/stream.mjpg",
                    "read_timeout": 1, "reconnect_min": 0.2, "reconnect_max": 0.5}}]}, "t")
    stop = threading.Event()
    cam = stream.cameras[0]

    def recognise(image: np.ndarray) -> list[Any]:
        return []

    loop = CameraLoop(cam, stream.events, open_source(cam, stop), recognise, lambda e: None, stop)
    console = _console([loop])
    before = console.render("cameras", cameras=camera_views(console.ctx))
    assert 'class="muted" data-state="starting"' in before and "starting (no frame yet)" in before
    started = datetime.now(timezone.utc)
    loop.start()
    try:
        assert wait_for(lambda: camera_state(loop) == "reconnecting", 30)
        time.sleep(1.2)  # so the line says how long, not only since when
        html = console.render("cameras", cameras=camera_views(console.ctx))
    finally:
        stop.set()
        loop.join(5)
    row = re.search(r"<tr .*?</tr>", html, re.S)
    assert row is not None
    # no frame: the page's script fetches no view for it (data-view empty)
    assert row.group(0).startswith('<tr class="bad" data-state="reconnecting" data-index="0" data-view="">')
    assert "running" not in html and "streaming" not in html
    state = re.search(r'<td data-label="State">(.*?)</td>', html, re.S)
    assert state is not None and "reconnecting" in state.group(1)
    # the last error with when it was said: once the camera streams again, a past one
    said = re.search(r'class="detail">\d+ errors, the last \(' + TIME + r'\): cannot open', state.group(1))
    assert said is not None, state.group(1)
    assert started - timedelta(seconds=1) <= datetime.fromisoformat(said.group(1).replace("Z", "+00:00"))
    # since when it has been without frames: a time the script shows in the browser's zone
    since = re.search(r'without frames since ' + TIME + r' \((\d+) s\)', state.group(1))
    assert since is not None, state.group(1)
    began = datetime.fromisoformat(since.group(1).replace("Z", "+00:00"))
    assert started - timedelta(seconds=1) <= began <= started + timedelta(seconds=30)
    assert int(since.group(2)) >= 1


def test_every_cell_of_a_wide_table_is_labelled_for_phones() -> None:
    console = _console()
    event = {"id": "e1", "timestamp": "2024-05-01T10:00:00.000Z", "camera_id": "gate",
             "plate": "b144mos", "score": 0.99, "source": "camera",
             "images": {"plate": "/v1/events/e1/plate.jpg", "scene": "/v1/events/e1/scene.jpg"},
             "match": {"list": "deny", "plate": "B144M0S", "label": "Stolen van", "distance": 0.5}}
    sink = {"sink": "webhook http://h/", "state": "failing", "pending": 6, "delivered": 0,
            "dropped": 0, "failures": 5, "last_error": "URLError: refused"}
    parts = {
        "events": console.render("events", events=[event, {**event, "id": "e2", "match": None}],
                                 enabled=True, error="", searching=False, older="", newest=""),
        "cameras": console.render("cameras", cameras=[camera_view(), camera_view(index=1, id="door", state="failed",
                                                                     errors=3, last_error="cannot open")]),
        "health": console.render("health", sinks=[sink]),
    }
    for name, html in parts.items():
        tables = _cards(html)
        assert len(tables) == 1, name
        headers, rows = tables[0]
        assert len(rows) >= 1 and all(h.strip() for h in headers), (name, headers)  # no blank header
        for cells in rows:
            assert len(cells) == len(headers) and all(cells), (name, cells)
    css = (FILES / "console.css").read_text()
    narrow = css[css.index("@media (max-width: 760px)"):]
    assert "table.cards thead { display: none; }" in narrow and "content: attr(data-label)" in narrow


def test_a_camera_without_a_frame_says_so_instead_of_a_broken_image() -> None:
    console = _console()
    html = console.render("page", version="x", csrf="c", logout=False, refresh_s=3, history=True,
                          search=search(FormsDict()),
                          views=[camera_view(has_view=False), camera_view(index=1, id="door")], csv_url="/",
                          photo={"max_bytes": 1024, "max_mib": "0.001", "also": ""},
                          title="edge-alpr console",
                          parts=dict.fromkeys(("cameras", "events", "lists", "counters", "health", "trouble"), ""))
    figures = re.findall(r"<figure>.*?</figure>", html, re.S)
    assert len(figures) == 2
    assert re.search(r'<img class="view"[^>]*\shidden>', figures[0])
    assert '<p class="noview muted" >No frame recognised yet.</p>' in figures[0]
    assert '<p class="noview muted" hidden>' in figures[1] and " hidden>" not in figures[1].split("<p")[0]
    # the hidden attribute must win over the sheet's display rules (img.view is display: block)
    assert "[hidden] { display: none !important; }" in (FILES / "console.css").read_text()


def test_the_page_says_what_works_without_javascript(api: RunningApi) -> None:
    page = requests.get(f"{api.url}/", timeout=10)
    assert page.status_code == 200
    head = page.text.split("</head>")[0]
    assert '<noscript><link rel="stylesheet" href="/console/static/noscript.css"></noscript>' in head
    banner = re.search(r'<noscript><p class="noscript">(.*?)</p></noscript>', page.text, re.S)
    assert banner is not None and "reload" in banner.group(1) and "/v1/watchlists/" in banner.group(1)
    assert page.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    # no list yet: the section says so, and the form to make one is labelled
    assert "No watch lists yet" in page.text
    assert re.search(r'<label>New list <input name="name"', page.text)

    sheet = requests.get(f"{api.url}/console/static/noscript.css", timeout=10)
    assert sheet.status_code == 200 and sheet.headers["Content-Type"] == "text/css; charset=utf-8"
    assert sheet.headers["X-Content-Type-Options"] == "nosniff"
    assert "form[data-action], button[data-action], .scripted { display: none; }" in sheet.text
    assert requests.get(f"{api.url}/console/static/other.css", timeout=10).status_code == 404



def test_a_failing_sink_says_since_when_and_one_with_events_set_aside_how_many(
        api_factory: Any, receiver: Any) -> None:
    """Real webhooks: a receiver that answers 413 to everything (each event set aside) and a
    target where nothing listens (failing); the delivery table says both."""
    receiver.status = 413
    dead = f"http://127.0.0.1:{free_port()}/hook"
    started = datetime.now(timezone.utc)
    api = api_factory({"webhooks": {"targets": [receiver.url, dead], "backoff_initial_s": 5}})
    hooks = api.runtime.webhooks
    for n in range(2):
        hooks.publish({"id": f"e{n}", "results": []})
    assert wait_for(lambda: hooks.status()[0]["aside"] == 2 and hooks.status()[1]["consecutive_failures"] == 1)
    time.sleep(1.2)  # so the line says how long, not only since when
    html = requests.get(f"{api.url}/", timeout=10).text
    health = html[html.index('<div id="health">'):]
    rows = re.findall(r"<tr class=.*?</tr>", health, re.S)
    assert len(rows) == 2, rows
    aside_row, dead_row = rows
    queued = re.search(r'<td class="num" data-label="Queued">(.*?)</td>', aside_row, re.S)
    assert queued is not None and re.sub(r"<[^>]+>|\s+", " ", queued.group(1)).split() == ["2", "2", "set", "aside"]
    assert "failing since" not in aside_row  # set aside is no failure: its later events go on
    since = re.search(r'failing since ' + TIME + r' \((\d+) s\)', dead_row)
    assert since is not None, dead_row
    began = datetime.fromisoformat(since.group(1).replace("Z", "+00:00"))
    assert started - timedelta(seconds=1) <= began <= started + timedelta(seconds=30)
    assert int(since.group(2)) >= 1
    assert "set aside" not in dead_row


def test_ages_and_sizes_read_at_a_glance() -> None:
    """A camera's last frame three hours ago reads ``3 h ago`` (not ``10800 s ago``), and the
    outbox's and history's sizes are in a unit that shows them (18 small events: not ``0.0 MB``)."""
    console = _console()
    rows = console.render("cameras", cameras=[camera_view(last_frame_s=3 * 3600.0),
                                              camera_view(index=1, id="door", last_frame_s=42.0)])
    ages = re.findall(r'<td class="num wrap" data-label="Last frame">([^<]*)</td>', rows)
    assert ages == ["3 h ago", "42 s ago"]
    c = {"calls": 1, "max_calls": 0, "lifetime_calls": 1, "resets_on": "2027-01-01T00:00:00Z", "workers": [],
         "queued": 18, "queued_bytes": 23_400, "dropped": 0,
         "history_events": 9, "history_bytes": 1_430_000, "history_dropped": 0, "history_waiting": 0}
    text = re.sub(r"<[^>]+>|\s+", " ", console.render("counters", c=c))
    assert "18 queued (23 kB), 0 dropped" in text and "9 events (1.4 MB), 0 not kept" in text
    assert " 0.0 MB" not in text


@pytest.mark.parametrize(("n", "said"), [
    (0, "0 B"), (999, "999 B"), (999.6, "1.0 kB"), (1_000, "1.0 kB"), (9_940, "9.9 kB"), (9_960, "10 kB"),
    (999_499, "999 kB"), (999_999, "1.0 MB"), (9_999_999, "10 MB"), (999_999_999, "1.0 GB"),
    (12_345_678_901, "12 GB")])
def test_a_size_at_a_unit_s_edge_reads_in_the_next_unit(n: float, said: str) -> None:
    """A size that rounds to 1000 of a unit reads as 1.0 of the next (999,999 B: ``1.0 MB``, not
    ``1000 kB``), one that rounds to 10 drops its decimal (``10 MB``, not ``10.0 MB``)."""
    assert size(n) == said


def test_without_a_history_the_page_offers_no_search_and_claims_no_events_kept(
        api_factory: Any, tmp_path: Path) -> None:
    """With the history off, the events' search and its CSV link are not offered (the one finds
    nothing, the other answers 404), and the delivery section, with no sink either, does not say
    that the events are kept here; with the history on, it does, and the search is there."""
    off_api = api_factory({"history": {"enabled": False, "api_reads": False}})
    off = requests.get(f"{off_api.url}/", timeout=10).text
    assert "The event history is off" in off
    assert 'id="search"' not in off and "format=csv" not in off
    assert "neither sent nor kept" in off and "kept here" not in off
    on_api = api_factory({"history": {"api_reads": True}}, state_dir=tmp_path / "on")
    on = requests.get(f"{on_api.url}/", timeout=10).text
    assert 'id="search"' in on and "format=csv" in on
    assert "events are only kept here, in the history" in on


def test_one_restart_is_one_restart() -> None:
    """A camera or worker restarted once says ``1 restart``, more say ``restarts``."""
    console = _console()
    rows = console.render("cameras", cameras=[camera_view(crashes=1), camera_view(index=1, id="door", crashes=3)])
    states = [re.sub(r"\s+", " ", s).strip() for s in re.findall(r'<td data-label="State">(.*?)</td>', rows, re.S)]
    assert states == ["streaming, 1 restart", "streaming, 3 restarts"]
    c = {"calls": 0, "max_calls": 0, "lifetime_calls": 0, "resets_on": "2027-01-01T00:00:00Z",
         "workers": [{"name": "plate-export", "state": "running", "crashes": 1, "last_error": "OSError: disk full"},
                     {"name": "retention", "state": "running", "crashes": 2, "last_error": None}]}
    text = " ".join(re.sub(r"<[^>]+>", " ", console.render("counters", c=c)).split())
    assert "plate-export running, 1 restart: OSError: disk full" in text
    assert text.endswith("retention running, 2 restarts")


def test_each_watch_list_control_names_its_plate_and_list(api_factory: Any) -> None:
    """Two lists' controls are told apart without seeing the page: a screen reader (or a voice
    command) hears ``Remove B144MOS from visitors``, not ``Remove`` once per plate; each name
    starts with the button's visible words."""
    api = api_factory()
    for name, plates in (("visitors", ["B144MOS", "CJ12ABC"]), ("staff", ["B144MOS"])):
        r = requests.put(f"{api.url}/v1/watchlists/{name}/", json={"plates": [{"plate": p} for p in plates]},
                         timeout=10)
        assert r.status_code in (200, 201), r.text
    html = requests.get(f"{api.url}/", timeout=10).text
    lists = html[html.index('<div id="lists">'):]
    lists = lists[:lists.index("</section>")]
    names = re.findall(r'<(?:button|input)\b[^>]*\baria-label="([^"]*)"', lists)
    assert sorted(n for n in names if n.startswith("Remove ")) == \
        ["Remove B144MOS from staff", "Remove B144MOS from visitors", "Remove CJ12ABC from visitors"]
    assert {"Plate to add to staff", "Add to staff", "Delete list staff",
            "Plate to add to visitors", "Add to visitors", "Delete list visitors"} <= set(names)
    labels = sorted(n for n in names if n.startswith("Label"))  # one per list, each naming its list
    assert len(labels) == 2 and "staff" in labels[0] and "visitors" in labels[1], labels
    # every box is named: by its aria-label or by the <label> it sits in (a placeholder is no name)
    unnamed = [tag for tag in re.findall(r"<input\b[^>]*>", lists)
               if "aria-label=" not in tag and not re.search(r"<label>[^<]*$", lists.split(tag)[0])]
    assert unnamed == [], unnamed
