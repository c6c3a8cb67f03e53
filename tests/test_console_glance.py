"""What the console tells an operator at a glance, checked in its HTML (no browser; the browser
test ``test_console_browser_glance.py`` checks the same in Chromium).

* The page opens with what needs attention, each thing a link to the section that says more,
  and its title counts them (a tab in the background shows it): a real service with a camera
  that cannot connect, a webhook where nothing listens, one that sets every event aside (413)
  and MQTT with no broker.  Events dropped are counted from the service's start, not for ever.
* A value not known yet (the lag or the rate of a camera that never delivered a frame) is a
  dash that says why, never ``0.00 s``.
* A column of numbers has its header over the numbers (right-aligned like them).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from conftest import Receiver
from console_service import camera_view, running_service, unreachable_camera
from waiting import wait_for

from edge_alpr import config
from edge_alpr.api.console import FILES, Console
from edge_alpr.api.console_trouble import stalled_workers, summary, title
from edge_alpr.api.server import free_port
from edge_alpr.delivery.mqtt import MQTT_SINK
from edge_alpr.service import build as build_service
from edge_alpr.stream.health import camera_state
from edge_alpr.supervision import FunctionWorker, Supervisor

LINK = re.compile(r'<a href="#([\w-]+)" data-key="[^"]+">([^<]+)</a>')
DASH = re.compile(r'<span class="unknown" title="([^"]+)"><span aria-hidden="true">\u2014</span>'
                  r'<span class="sr-only">not known yet: ([^<]+)</span></span>')


def _summary(html: str) -> tuple[list[tuple[str, str]], str]:
    """The summary's links (target, words) and the title it gives the tab."""
    line = re.search(r'<p class="trouble [a-z]+" data-title="([^"]*)">(.*?)</p>', html, re.S)
    assert line is not None, html[:2000]
    return LINK.findall(line.group(2)), line.group(1)


def test_the_page_opens_with_what_needs_attention_and_counts_it_in_its_title(
        tmp_path: Path, recognizer: Any, receiver: Receiver, no_token: None) -> None:
    receiver.status = 413  # every event set aside for it
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "api": {"port": 0, "threads": 4},
        "mqtt": {"port": free_port(), "retry_initial_s": 5},  # no broker there
        "webhooks": {"targets": [f"http://127.0.0.1:{free_port()}/hook", receiver.url],
                     "backoff_initial_s": 5},
        "stream": {"cameras": [
            unreachable_camera()]},
    }, "<test>")
    svc = build_service(cfg, threading.Event(), recognizer=recognizer)
    try:
        assert svc.api is not None
        url = f"http://127.0.0.1:{svc.api.server.port}"
        calm = requests.get(f"{url}/", timeout=10).text  # before any event: the camera still starts
        if camera_state(svc.cameras[0]) == "starting":
            assert _summary(calm) == ([], "edge-alpr console")
            assert "<title>edge-alpr console</title>" in calm and "Nothing needs attention." in calm
        svc.webhooks.publish({"id": "e1", "results": []})
        svc.outbox.put(MQTT_SINK, {"id": "e1", "camera_id": "yard"})
        mqtt = next(w for w in svc.workers if getattr(w, "sink", "") == MQTT_SINK)
        assert wait_for(lambda: camera_state(svc.cameras[0]) == "reconnecting"
                        and svc.webhooks.status()[0]["consecutive_failures"] >= 1
                        and svc.webhooks.status()[1]["aside"] == 1
                        and mqtt.state.consecutive_failures >= 1, 30)
        page = requests.get(f"{url}/", timeout=10).text
        links, tab = _summary(page)
        assert links == [("cameras-section", "1 camera reconnecting"), ("delivery-section", "MQTT down"),
                         ("delivery-section", "1 webhook failing"), ("delivery-section", "1 event set aside")]
        assert tab == "(4) edge-alpr console" and "<title>(4) edge-alpr console</title>" in page
        # at the top: before the page's sections, each of which it links to
        assert page.index('<div id="trouble"') < page.index("<main>")
        for target, _ in links:
            assert page.count(f'id="{target}"') == 1, target
        # the page's script refreshes it with the parts
        part = requests.get(f"{url}/console/parts", timeout=10).json()["trouble"]
        assert _summary(part) == (links, tab)

        # the camera that never delivered a frame: no rate, no lag, each saying why
        row = re.search(r'<tr class="bad" data-state="reconnecting".*?</tr>', page, re.S)
        assert row is not None
        cells = dict(re.findall(r'<td class="num[^"]*" data-label="([^"]+)">(.*?)</td>', row.group(0), re.S))
        for label in ("Recognised fps", "Captured fps", "Lag"):
            dash = DASH.fullmatch(cells[label])
            assert dash is not None and dash.groups() == ("no frame captured yet",) * 2, cells[label]
        assert "0.00 s" not in row.group(0) and "0.0<" not in row.group(0)
    finally:
        svc.close()


def test_events_dropped_are_counted_from_the_service_s_start(
        api_factory: Any, tmp_path: Path) -> None:
    """The outbox holds one event (``max_rows``) for a webhook where nothing listens: each new
    one drops the oldest.  The outbox's own count is kept across restarts; the summary's is not."""
    state = tmp_path / "state"
    settings = {"outbox": {"max_rows": 1},
                "webhooks": {"targets": [f"http://127.0.0.1:{free_port()}/hook"], "backoff_initial_s": 30}}
    api = api_factory(settings, state_dir=state)
    hooks = api.runtime.webhooks
    for n in range(4):
        hooks.publish({"id": f"a{n}", "results": []})
    assert wait_for(lambda: hooks.status()[0]["dropped"] >= 3 and hooks.status()[0]["consecutive_failures"])
    lost = hooks.status()[0]["dropped"]
    links, tab = _summary(requests.get(f"{api.url}/", timeout=10).text)
    assert links == [("delivery-section", "1 webhook failing"),
                     ("delivery-section", f"{lost} events dropped since the service started")]
    assert tab == "(2) edge-alpr console"

    api.runtime.close()
    api = api_factory(settings, state_dir=state)  # a restart: the outbox still counts them
    hooks = api.runtime.webhooks
    assert hooks.status()[0]["dropped"] == lost
    assert not any("dropped" in words for _, words in _summary(requests.get(f"{api.url}/", timeout=10).text)[0])
    for n in range(2):
        hooks.publish({"id": f"b{n}", "results": []})
    assert wait_for(lambda: hooks.status()[0]["dropped"] == lost + 2)
    assert ("delivery-section", "2 events dropped since the service started") in \
        _summary(requests.get(f"{api.url}/", timeout=10).text)[0]


def _console() -> Console:
    """A console for rendering its templates: that reads no more of the context than this."""
    ctx: Any = SimpleNamespace(supervisor=SimpleNamespace(workers=list))
    return Console(ctx, ctx)


def test_each_kind_of_trouble_is_named_and_counted() -> None:
    """A worker that stops beating (a real one, past its deadline) beside cameras, sinks, the
    history and the quota as the parts report them."""
    stop = threading.Event()
    supervisor = Supervisor()
    late = FunctionWorker("retention", lambda w: stop.wait(), stop, deadline_s=0.1)
    supervisor.watch(lambda: [late])
    late.start()
    try:
        assert wait_for(lambda: late.overdue() > 0, 5)
        ctx: Any = SimpleNamespace(supervisor=supervisor)  # all that the function reads
        stalled = stalled_workers(ctx)
    finally:
        stop.set()
        late.join(5)
    assert stalled == ["retention"]
    sink = {"pending": 0, "aside": 0, "delivered": 0, "dropped": 0, "failures": 0}
    items = summary(
        [camera_view(state="failed"), camera_view(state="failed"), camera_view(view_problem="dark"),
         camera_view(state="starting"), camera_view(state="ended"), camera_view()],
        [{**sink, "sink": "MQTT", "state": "disabled"}, {**sink, "sink": "webhook a", "state": "disabled"},
         {**sink, "sink": "webhook b", "state": "disabled", "aside": 2}, {**sink, "sink": "webhook c", "state": "ok"}],
        {"calls": 100, "max_calls": 100, "history_waiting": 3, "history_dropped": 1}, stalled, 0)
    assert [(t.part, t.text) for t in items] == [
        ("cameras-section", "2 cameras failed"), ("cameras-section", "1 camera sees nothing useful"),
        ("delivery-section", "MQTT disabled"), ("delivery-section", "2 webhooks disabled"),
        ("delivery-section", "2 events set aside"), ("counters-section", "retention stalled"),
        ("counters-section", "history locked: 3 events waiting"),
        ("counters-section", "1 event not kept in the history"),
        ("counters-section", "this month's API calls used up")]
    # the things concerned: 2 cameras, 1 camera, MQTT, 2 webhooks, the events aside, 1 worker,
    # the history twice, the quota
    assert title(items) == "(11) edge-alpr console"
    assert summary([camera_view(), camera_view(state="ended")], [{**sink, "sink": "MQTT", "state": "ok"}],
                   {"calls": 3, "max_calls": 0}, [], 0) == []


def test_a_value_not_known_yet_is_a_dash_that_says_why() -> None:
    console = _console()
    html = console.render("cameras", cameras=[
        camera_view(frames_read=0, frames_processed=0, fps=0.0, capture_fps=0.0, lag_s=0.0, last_frame_s=None),
        camera_view(index=1, frames_read=12, frames_processed=0, fps=0.0, capture_fps=2.0, lag_s=0.0),
        camera_view(index=2, lag_s=0.25)])
    rows = re.findall(r"<tr .*?</tr>", html, re.S)
    cells = [dict(re.findall(r'<td class="num[^"]*" data-label="([^"]+)">(.*?)</td>', r, re.S)) for r in rows]
    never, still, busy = cells
    for label in ("Recognised fps", "Captured fps", "Lag"):
        assert DASH.fullmatch(never[label]), never[label]
    assert never["Last frame"] == "never"
    # frames come but none was recognised yet (the motion gate, a busy recogniser): the rates
    # are known (0.0 recognised a second), the lag is not
    assert (still["Recognised fps"], still["Captured fps"]) == ("0.0", "2.0")
    lag = DASH.fullmatch(still["Lag"])
    assert lag is not None and lag.group(1) == "no frame recognised yet"
    assert (busy["Recognised fps"], busy["Captured fps"], busy["Lag"]) == ("4.0", "10.0", "0.25 s")
    css = (FILES / "console.css").read_text()
    assert re.search(r"\.sr-only \{[^}]*position: absolute", css)  # read out, not shown


class _Columns:
    """Per table of an HTML fragment: each header cell's classes and each first-row cell's."""

    def __init__(self, html: str) -> None:
        self.tables = []
        for table in re.findall(r"<table.*?</table>", html, re.S):
            head = re.findall(r"<th(?: class=\"([^\"]*)\")?[ >]", table)  # a header may have a title
            body = table.split("<tbody>")[1] if "<tbody>" in table else ""
            first = re.search(r"<tr.*?</tr>", body, re.S)
            cells = re.findall(r"<td(?: class=\"([^\"]*)\")?", first.group(0)) if first else []
            self.tables.append((head, cells))


def test_a_column_of_numbers_has_its_header_over_them() -> None:
    console = _console()
    event = {"id": "e1", "timestamp": "2024-05-01T10:00:00.000Z", "camera_id": "gate", "plate": "b144mos",
             "score": 0.99, "source": "camera", "match": None,
             "images": {"plate": "/v1/events/e1/plate.jpg", "scene": "/v1/events/e1/scene.jpg"}}
    sink = {"sink": "MQTT", "state": "ok", "pending": 1, "aside": 0, "delivered": 20, "dropped": 0,
            "failures": 0, "last_error": None}
    parts = {"cameras": console.render("cameras", cameras=[camera_view()]),
             "health": console.render("health", sinks=[sink]),
             "events": console.render("events", events=[event], enabled=True, error="", searching=False,
                                      older="", newest="")}
    for name, html in parts.items():
        (head, cells), = _Columns(html).tables
        assert len(head) == len(cells) and "num" in cells, name
        assert ["num" in h.split() for h in head] == ["num" in c.split() for c in cells], (name, head, cells)
    # the photo form's table: its rows are made by photo.js, its numbers the cells it marks "num"
    numeric = re.findall(r'cell\(row, "([^"]+)", [^;]*, "num"\)', (FILES / "photo.js").read_text())
    page = (FILES / "page.tpl").read_text()
    photo = re.search(r'<table class="cards" id="photo-plates">.*?</thead>', page, re.S)
    assert numeric and photo is not None
    headers = re.findall(r'<th(?: class="([^"]*)")?>([^<]+)</th>', photo.group(0))
    assert [name for klass, name in headers if klass == "num"] == numeric
    css = (FILES / "console.css").read_text()
    assert re.search(r"(^|\n)th\.num \{ text-align: right; \}", css)


def test_each_rate_is_named_by_the_frames_it_counts() -> None:
    """Two rates side by side: one headed "fps" read as the camera's rate, though it counted the
    frames recognised.  Each header names its frames (captured, then recognised, as the frame
    counts beside them), says more in a legend under the table (read by a screen reader with its
    header, shown on a phone's cards: a header's title is a mouse's alone), and stands over its
    own number."""
    html = _console().render("cameras", cameras=[camera_view(fps=4.0, capture_fps=10.0)])
    heads = re.findall(r"<th([^>]*)>([^<]*)</th>", html)
    cells = re.findall(r'<td class="[^"]*" data-label="([^"]+)">(.*?)</td>|<td data-label="([^"]+)">',
                       re.search(r"<tbody>.*</tbody>", html, re.S).group(0), re.S)
    names = [name.replace("&shy;", "") for _, name in heads]  # a soft hyphen: where a narrow column may break it
    rates = [(i, name) for i, name in enumerate(names) if "fps" in name]
    assert [name for _, name in rates] == ["Captured fps", "Recognised fps"]
    said = {}
    for i, name in rates:
        ref = re.search(r'aria-describedby="([^"]+)"', heads[i][0])
        assert ref, heads[i]
        legend = re.search(rf'<span id="{ref.group(1)}">(.*?)</span>', html, re.S)
        assert legend, ref.group(1)
        said[name] = re.sub(r"<[^>]+>", "", legend.group(1))
    assert said["Captured fps"].startswith("Captured fps: frames captured from the source per second")
    assert said["Recognised fps"].startswith("Recognised fps: frames recognised per second")
    # each number under its own header, the card's label its header's words (a phone)
    column = {name: i for i, name in enumerate(names)}
    shown = {(label or plain): value for label, value, plain in cells}
    assert [label or plain for label, _, plain in cells][column["Captured fps"]] == "Captured fps"
    assert [label or plain for label, _, plain in cells][column["Recognised fps"]] == "Recognised fps"
    assert (shown["Captured fps"], shown["Recognised fps"]) == ("10.0", "4.0")


def test_the_month_s_calls_say_that_camera_events_count(tmp_path: Path, recognizer: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A device whose only client is its camera showed "Calls this month 12" with no API call
    made: its events are counted (``usage.max_calls``), and the counter says so."""
    with running_service(tmp_path, recognizer, monkeypatch) as (svc, url):
        assert svc.history is not None
        events = svc.history.stats()["events"]
        assert events > 0 and svc.api is not None
        part = requests.get(f"{url}/console/parts", timeout=10).json()["counters"]
        text = " ".join(re.sub(r"<[^>]+>", " ", part).split())
        assert f"Calls this month {events} (API reads and camera events; resets " in text, text
