"""Every time the console shows, in a real browser (headless Chromium over its DevTools protocol),
reads one way and names its zone: an operator holds them against the UTC timestamps of MQTT,
the webhooks and the API, and against the device's log.

The whole service: a folder camera over the bundled samples (events), a camera whose source
cannot open (without frames since when), a webhook target where nothing listens (failing since
when), a watch list (matches since when) and the month's counter (resets when).  With the
browser in Asia/Kolkata (UTC+05:30) and in America/Sao_Paulo (UTC-03:00; neither zone has
daylight saving time), each time in each part is the instant of its ``datetime`` (UTC) in that
zone, written ``2026-05-01 15:30:00 UTC+05:30``, whatever the browser's locale (en-US, set, puts
the month first), with the exact UTC stamp on hover; at a phone's width a time breaks only
between its day and its clock.  Without JavaScript the same times are
UTC, and say so.  The expected text is computed here from the ``datetime`` and the zones' fixed
offsets.

Marked ``browser``: skipped, saying why, where Chromium or ``websocket-client`` is missing.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from chromium import BROWSER_MARKS, Chromium
from waiting import wait_for

from edge_alpr import config
from edge_alpr.api.server import free_port
from edge_alpr.service import build

pytest_plugins = ["chromium"]
pytestmark = BROWSER_MARKS

PARTS = ("events", "cameras", "health", "counters", "lists")
ZONES = {"Asia/Kolkata": timedelta(hours=5, minutes=30), "America/Sao_Paulo": timedelta(hours=-3)}
TIMES = ("[...document.querySelectorAll('#{part} time')].map(t => [t.dateTime, t.textContent, t.title])")


def _expected(stamp: str, offset: timedelta | None) -> str:
    """``stamp`` (ISO 8601 UTC) as the page must show it at ``offset`` (None: UTC)."""
    utc = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if offset is None:
        return utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    minutes = int(offset.total_seconds() // 60)
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return (utc + offset).strftime("%Y-%m-%d %H:%M:%S") + f" UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _check(browser: Chromium, offset: timedelta | None) -> None:
    for part in PARTS:
        times = browser.evaluate(TIMES.format(part=part))
        assert times, f"#{part} shows no time"
        for stamp, text, title in times:
            assert stamp.endswith("Z") and text == _expected(stamp, offset), (part, stamp, text)
            assert title == f"{stamp} (UTC)", (part, title)


def test_every_time_shown_reads_alike_and_names_its_zone(
        tmp_path: Path, recognizer: Any, monkeypatch: pytest.MonkeyPatch, browser: Chromium) -> None:
    monkeypatch.delenv("EDGE_ALPR_API_TOKEN", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}, "api": {"port": 0, "threads": 4},
        "webhooks": {"targets": [f"http://{nowhere}/hook"], "backoff_initial_s": 5},
        "watchlists": {"stolen": {"plates": [{"plate": "B123ABC", "label": "reported"}]}},
        "stream": {"cameras": [
            {"id": "gate", "source": {"kind": "folder", "watch": False}},
            {"id": "yard", "source": {"kind": "opencv", "url": f"http://{nowhere}/stream.mjpg", "read_timeout": 1,
                                      "reconnect_min": 0.2, "reconnect_max": 0.5}}]},
    }, "<test>")
    svc = build(cfg, threading.Event(), recognizer=recognizer)
    try:
        webhooks = svc.api.webhooks
        assert webhooks is not None
        assert wait_for(lambda: svc.cameras[0].stats.ended and webhooks.status()[0]["consecutive_failures"] > 0, 90)
        url = f"http://127.0.0.1:{svc.api.server.port}/"
        browser.call("Emulation.setLocaleOverride", locale="en-US")
        for zone, offset in ZONES.items():
            browser.call("Emulation.setTimezoneOverride", timezoneId=zone)
            browser.open(url)
            _check(browser, offset)
            # and so after a refresh, which renders the parts again
            before = browser.evaluate("document.body.dataset.refreshed || '0'")
            assert wait_for(lambda was=before: browser.evaluate("document.body.dataset.refreshed || '0'") != was, 15)
            _check(browser, offset)
        # on a phone a time breaks between its day and its clock, if at all: never inside either
        browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
        browser.open(url)
        _check(browser, offset)
        broken = ("[...document.querySelectorAll('time')].filter(t => t.children.length !== 2 || "
                  "[...t.children].some(s => s.getClientRects().length !== 1)).map(t => t.textContent)")
        assert browser.evaluate(broken) == []

        browser.call("Emulation.setScriptExecutionDisabled", value=True)
        browser.open(url)
        _check(browser, None)
    finally:
        svc.close()


@pytest.mark.parametrize("sent", ["2024-10-27T01:30:00Z", "2024-10-27T00:30:00Z"])
def test_a_time_of_the_hour_the_clocks_go_back_is_sent_again_as_it_came(
        api_factory: Any, browser: Chromium, sent: str) -> None:
    """Europe/Bucharest goes from UTC+03:00 back to UTC+02:00 at 01:00 UTC on 2024-10-27: 00:30
    and 01:30 UTC are both 03:30 there.  A bad search (the plate) comes back with its good Since
    in the browser's zone; the plate corrected, the search is sent with the Since it came with,
    either of the two, not the first 03:30 for both (the later one an hour early)."""
    api = api_factory({"history": {"api_reads": True}})
    browser.log_console()
    browser.call("Emulation.setTimezoneOverride", timezoneId="Europe/Bucharest")
    try:
        browser.open(f"{api.url}/?plate=--&since={sent}")
        assert browser.evaluate("document.querySelector('input[name=since]').value").startswith("2024-10-27 03:30")
        browser.evaluate("const s = document.getElementById('search');"
                         "s.elements.plate.value = 'B144MOS'; s.requestSubmit()")
        assert wait_for(lambda: "B144MOS" in browser.evaluate("location.search"), 15)
        browser.settle()
        assert browser.evaluate("location.search") == f"?plate=B144MOS&since={sent.replace(':', '%3A')}"
        # a time typed into the box is read as the browser reads it
        browser.evaluate("const t = document.getElementById('search');"
                         "t.elements.since.value = '2024-10-27T05:00'; t.requestSubmit()")
        assert wait_for(lambda: "T03%3A00" in browser.evaluate("location.search"), 15)
        # the bad search's page itself answers 400, as it should: no other error
        assert [e for e in browser.console_errors() if "400 (Bad Request)" not in e] == []
    finally:
        browser.call("Emulation.setTimezoneOverride", timezoneId="")


def test_the_time_boxes_read_in_iso_order_whatever_the_locale(api_factory: Any, browser: Chromium) -> None:
    """The search's Since and Until boxes were ``datetime-local`` boxes, which a browser shows in
    its locale's order (Chromium in en-US: ``05/01/2024, 01:30:00 PM``, May or January, and a
    12-hour clock) beside times written 2024-05-01 13:30:00 everywhere else on the page.  They
    are text boxes in ISO order, 24-hour, with the form they take as placeholder, with the page's
    locale en-US and de-DE; a time typed in that form is read in the browser's zone and sent in UTC."""
    api = api_factory({"history": {"api_reads": True}})
    browser.log_console()
    browser.call("Emulation.setTimezoneOverride", timezoneId="Asia/Kolkata")  # UTC+05:30
    box = "document.querySelector('#search input[name={}]')"
    try:
        for locale in ("en-US", "de-DE"):
            browser.call("Emulation.setLocaleOverride", locale=locale)
            browser.open(f"{api.url}/?since=2024-05-01T08:00:00Z")
            assert browser.evaluate("Intl.DateTimeFormat().resolvedOptions().locale") == locale
            for name in ("since", "until"):
                assert browser.evaluate(f"{box.format(name)}.type") == "text", (locale, name)
                assert browser.evaluate(f"{box.format(name)}.placeholder") == "YYYY-MM-DD hh:mm:ss"
            assert browser.evaluate(f"{box.format('since')}.value") == "2024-05-01 13:30:00", locale
            browser.evaluate(f"{box.format('until')}.value = '2024-05-02 05:30';"
                             "document.getElementById('search').requestSubmit()")
            assert wait_for(lambda: "until" in browser.evaluate("location.search"), 15)
            browser.settle()
            assert browser.evaluate("location.search") == \
                "?since=2024-05-01T08%3A00%3A00Z&until=2024-05-02T00%3A00%3A00Z", locale
            assert browser.evaluate(f"{box.format('until')}.value") == "2024-05-02 05:30:00", locale
            browser.call("Emulation.setLocaleOverride")  # cleared before the next one is set
        assert browser.console_errors() == []
    finally:
        browser.call("Emulation.setTimezoneOverride", timezoneId="")


def test_a_time_before_the_year_1000_shows_four_digits(api_factory: Any, browser: Chromium) -> None:
    """The events table and the Since box wrote year 999 as ``999-03-04``, where the JSON, the
    CSV and the page without script say 0999."""
    api = api_factory({"history": {"api_reads": True}})
    sample = sorted((Path(__file__).parent.parent / "edge_alpr" / "samples").glob("*.jpg"))[0].read_bytes()
    r = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": ("car.jpg", sample)},
                      data={"timestamp": "0999-03-04T05:06:07Z"}, timeout=30)
    assert r.status_code == 201, r.text
    browser.call("Emulation.setTimezoneOverride", timezoneId="UTC")
    try:
        browser.open(f"{api.url}/?since=0999-03-04T05:06:07Z")
        shown = browser.evaluate("[...document.querySelectorAll('#events time')].map(t => t.textContent)")
        assert "0999-03-04 05:06:07 UTC" in shown, shown
        assert browser.evaluate("document.querySelector('input[name=since]').value") == "0999-03-04 05:06:07"
    finally:
        browser.call("Emulation.setTimezoneOverride", timezoneId="")


# What a person types in Since, and the query's since (UTC) with the browser in Asia/Kolkata
# (UTC+05:30 all year since 1945), worked out by hand from that offset.  Without a zone the
# server reads a time as UTC: each of these was sent as typed, five and a half hours off.
TYPED = [("2024-05-01", "2024-04-30T18:30:00Z"),  # a day alone: its local midnight
         ("2024-05-01 08", "2024-05-01T02:30:00Z"), ("2024-05-01t08:00", "2024-05-01T02:30:00Z"),
         ("2024-05-01 08:00:00.5", "2024-05-01T02:30:00.500Z"), ("2024-02-29 23:59:59", "2024-02-29T18:29:59Z"),
         ("2024-05-01 08:00Z", "2024-05-01 08:00Z")]  # its zone named: sent as typed, read by the server
# What the box refuses, and a word of why: other forms without a zone, which the server would
# read as UTC, and fields a Date rolls over (month 13 into the next year, minute 60 into the
# next hour, day 30 of February into March)
REFUSED = [("20240501T0800", "not a time this box reads"), ("2024-W18-3", "not a time this box reads"),
           ("2024-5-1 8:00", "not a time this box reads"), ("yesterday", "not a time this box reads"),
           ("2024-13-01 08:00", "month 13"), ("2024-00-15 08:00", "month 00"), ("2024-02-30 08:00", "day 30"),
           ("2023-02-29 08:00", "day 29"), ("2024-05-01 24:00", "hour 24"), ("2024-05-01 08:60", "minute 60"),
           ("2024-05-01 07:59:60", "second 60"), ("0000-01-01 00:00", "year 0000")]
SINCE = "document.querySelector('#search input[name=since]')"


def _sent(browser: Chromium, value: str) -> str:
    """The query's since once ``value`` is typed in Since and the search submitted."""
    browser.evaluate(f"document.body.dataset.mark = 'old'; {SINCE}.value = {value!r};"
                     "document.getElementById('search').requestSubmit()")
    assert wait_for(lambda: browser.evaluate("document.body ? (document.body.dataset.mark || 'new') : 'old'")
                    == "new", 15), value
    browser.settle()
    return str(browser.evaluate("new URLSearchParams(location.search).get('since')"))


def test_a_typed_time_is_read_in_the_browser_s_zone_or_refused_beside_its_box(
        api_factory: Any, browser: Chromium) -> None:
    """A day alone, an hour alone and a lowercase t are read in the browser's zone; any other form
    without a zone, and a month, day, hour, minute or second out of range, is refused beside the
    box (marked as a bad box is, the search not sent).  A year under 100 is that year, not 19xx;
    a time the clocks skip is read an hour later, as the browser reads it."""
    api = api_factory({"history": {"api_reads": True}})
    browser.log_console()
    browser.call("Emulation.setTimezoneOverride", timezoneId="Asia/Kolkata")
    try:
        browser.open(f"{api.url}/")
        for typed, sent in TYPED:
            assert _sent(browser, typed) == sent, typed
        browser.evaluate("document.body.dataset.mark = 'old'")
        for typed, why in REFUSED:
            said = browser.evaluate(f"{SINCE}.value = {typed!r}; document.getElementById('search').requestSubmit();"
                                    "(document.getElementById('search-typed') || {}).textContent")
            assert said and said.startswith("Since: ") and typed in said and why in said, (typed, said)
            marked = f"[{SINCE}.getAttribute('aria-invalid'), {SINCE}.getAttribute('aria-describedby')]"
            assert browser.evaluate(marked) == ["true", "search-typed"], typed
            assert browser.evaluate("document.getElementById('search-typed').getAttribute('role')") == "alert"
        # the page stayed (no search sent); corrected, the box is sent and the mark is gone
        assert browser.evaluate("document.body.dataset.mark") == "old"
        assert _sent(browser, "2024-05-01 06:00") == "2024-05-01T00:30:00Z"
        assert browser.evaluate(f"{SINCE}.getAttribute('aria-invalid')") is None
        browser.call("Emulation.setTimezoneOverride", timezoneId="Europe/Bucharest")
        browser.open(f"{api.url}/")
        # 2024-03-31 in Bucharest: 03:00 (UTC+02:00) is 04:00 (UTC+03:00), so 03:30 is not a time there
        assert _sent(browser, "2024-03-31 03:30") == "2024-03-31T01:30:00Z"
        browser.call("Emulation.setTimezoneOverride", timezoneId="UTC")
        browser.open(f"{api.url}/")
        assert _sent(browser, "0050-01-01 00:00") == "0050-01-01T00:00:00Z"
        assert [e for e in browser.console_errors() if "400 (Bad Request)" not in e] == []
    finally:
        browser.call("Emulation.setTimezoneOverride", timezoneId="")
