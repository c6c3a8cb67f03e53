"""The API server is not called stalled by the first requests after an idle spell.

Its worker counts as stalled while requests wait for a thread and none finished within the
deadline (``serve_loop.REQUEST_DEADLINE_S``).  An idle server is beaten only when something asks
(the systemd watchdog, MQTT's health): run without either (``edge-alpr run`` in a terminal or a
container, MQTT off), a console opened after a minute of quiet asked for its page, styles,
scripts and crops at once, some waited for a thread, and the page's summary said "Needs
attention: http stalled" while every request was answered in milliseconds.  Here the deadline is
0.5 s (the same rule, sooner), the server is left idle past it, then asked 12 pages at once on 2
threads: no page, and no ``/info/``, calls it stalled.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from edge_alpr.api import serve_loop

BURST = 12


def _burst(url: str) -> list[str]:
    pages: list[str] = []
    start = threading.Barrier(BURST)

    def ask() -> None:
        start.wait()
        pages.append(requests.get(f"{url}/", timeout=30).text)

    threads = [threading.Thread(target=ask) for _ in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return pages


def test_requests_after_an_idle_spell_are_no_stall(api_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve_loop, "REQUEST_DEADLINE_S", 0.5)
    api = api_factory({"api": {"threads": 2}})
    for _ in range(3):
        time.sleep(1.0)  # idle past the deadline: nothing asks the server how it is meanwhile
        pages = _burst(api.url)
        assert len(pages) == BURST and all("edge-alpr" in p for p in pages)
        assert [p for p in pages if "http stalled" in p] == []
        http = [w for w in requests.get(f"{api.url}/info/", timeout=10).json()["workers"] if w["name"] == "http"]
        assert [w["state"] for w in http] == ["running"]

