"""The console as an operator sees it on a working device, in headless Chromium (DevTools
protocol), at a desktop's width (1280 px): the picture in the README and docs/console.md.

The whole service, configured as a site would be: a camera ``gate`` reading the bundled sample
images (a folder camera), a camera ``entrance`` whose RTSP URL points at a loopback port nothing
listens on (an IP camera that is unplugged: it reconnects), a real mosquitto as the MQTT sink, a
watch list ``stolen`` holding one sample's plate, and two photos sent through
``POST /v1/plate-reader/`` by a door terminal (``camera_id: door``).  The page must show every
event with the stolen plate's rows marked and labelled, ``gate``'s frame, ``entrance``
reconnecting with since when and why (and at the top, and in the title), the broker taking
every event, and no error in the browser's console.  A worker of the process (``plate-export``,
a real ``FunctionWorker`` whose work really raises, once) crashed and was restarted: the line at
the top says so, with when and why.
``EDGE_ALPR_CONSOLE_SCREENSHOT=docs/console.png make test-browser`` keeps the whole page's
screenshot at that path (the docs' picture).

Marked ``browser``: skipped, saying why, where Chromium (Debian: ``apt-get install chromium``),
``websocket-client`` (the test extra) or mosquitto is missing.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from chromium import BROWSER_MARKS, Chromium
from conftest import SAMPLES
from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr import config
from edge_alpr.api.server import free_port
from edge_alpr.service import build
from edge_alpr.supervision import FunctionWorker, Worker

pytest_plugins = ["mosquitto", "chromium"]

TOKEN = "console-s3cret-0123456789"
LABELS: dict[str, Any] = json.loads((SAMPLES / "labels.json").read_text())
DOOR = ["03_romanian_t604.jpg", "05_romanian_night_t155.jpg"]  # sent in this order by the door
STOLEN = LABELS[DOOR[-1]]["plates"][0]["text"]  # the newest event is a watch-list match
NOTE = "reported stolen 2026-11-30"

pytestmark = BROWSER_MARKS
EXPORT = "/var/lib/edge-alpr/export"  # the error names it whole within the line's 80 characters


def crashing_once(stop: threading.Event) -> Worker:
    """A worker whose first run fails to write (a full disk), then runs until the stop."""
    failed: list[bool] = []

    def work(worker: Worker) -> None:
        if not failed:
            failed.append(True)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), EXPORT)
        stop.wait()

    return FunctionWorker("plate-export", work, stop, backoff_initial_s=0.01, backoff_max_s=0.02)


def test_the_console_of_a_working_site(tmp_path: Path, recognizer: Any, monkeypatch: pytest.MonkeyPatch,
                                       broker: Broker, subscriber: Subscriber, browser: Chromium) -> None:
    monkeypatch.setenv("EDGE_ALPR_API_TOKEN", TOKEN)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    unplugged = free_port()  # nothing listens there: the camera cannot connect
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "api": {"port": 0, "threads": 4},
        "history": {"api_reads": True}, "mqtt": {"port": broker.port, "device_id": "gatehouse"},
        "stream": {"cameras": [
            {"id": "gate", "source": {"kind": "folder", "watch": False}},
            {"id": "entrance", "failed_after_s": 3600,  # reconnecting throughout the test, not failed
             "source": {"kind": "opencv", "url": f"rtsp://127.0.0.1:{unplugged}/stream1"}}]},
        "watchlists": {"stolen": {"plates": [{"plate": STOLEN, "label": NOTE}]}},
    }, "<test>")
    svc = build(cfg, threading.Event(), recognizer=recognizer)
    export_stop = threading.Event()
    export = crashing_once(export_stop)
    svc.supervisor.watch(lambda: [export])
    try:
        export.start()
        assert wait_for(lambda: export.crashes == 1, 10)
        history = svc.history
        assert history is not None
        assert wait_for(lambda: svc.cameras[0].stats.ended and history.stats()["events"] >= len(LABELS), 90)
        url = f"http://127.0.0.1:{svc.api.server.port}"
        for name in DOOR:
            with open(SAMPLES / name, "rb") as f:
                r = requests.post(f"{url}/v1/plate-reader/", files={"upload": f}, data={"camera_id": "door"},
                                  headers={"Authorization": f"Token {TOKEN}"}, timeout=30)
            assert r.status_code == 201, r.text
        total = len(LABELS) + len(DOOR)
        assert wait_for(lambda: history.stats()["events"] == total, 20)
        # the broker has the camera's events (the API's reads are kept in the history only)
        assert wait_for(lambda: len({e["id"] for e in subscriber.on("/gate/plate")}) == len(LABELS), 30)

        browser.log_console()
        browser.call("Emulation.setTimezoneOverride", timezoneId="Europe/Bucharest")
        browser.open(f"{url}/")
        browser.evaluate(f"document.querySelector('input[name=token]').value = {json.dumps(TOKEN)};"
                         "document.querySelector('form').submit()")
        assert wait_for(lambda: browser.evaluate("location.pathname + document.readyState") == "/complete", 20)

        # every event, newest first: the door's two, then the gate camera's
        rows = browser.evaluate("[...document.querySelectorAll('#events tr[data-event]')].map("
                                "r => [...r.cells].map(c => c.innerText.trim()))")
        assert [r[1] for r in rows] == ["door"] * len(DOOR) + ["gate"] * len(LABELS)
        assert sorted(r[2] for r in rows[len(DOOR):]) == sorted(p["text"] for v in LABELS.values()
                                                                for p in v["plates"])
        # the stolen plate's rows, the door's newest first, are marked with the list and its label
        matched = browser.evaluate("[...document.querySelectorAll('#events tr.match')].map("
                                   "r => [...r.cells].filter((c, i) => [1, 2, 5].includes(i))"
                                   ".map(c => c.innerText.replace(/\\s+/g, ' ').trim()))")
        assert matched == [["door", STOLEN, f"stolen {NOTE} ({STOLEN}, 0)"],
                           ["gate", STOLEN, f"stolen {NOTE} ({STOLEN}, 0)"]]
        assert "2 matches since the service started " in browser.evaluate("document.getElementById('lists').innerText")

        # gate read its images and shows the last; entrance reconnects, since when and why
        cameras = browser.evaluate("[...document.querySelectorAll('#cameras tr[data-state]')].map("
                                   "r => [r.cells[0].innerText, r.dataset.state, r.cells[2].innerText])")
        assert [c[:2] for c in cameras] == [["gate", "ended"], ["entrance", "reconnecting"]]
        assert "without frames since " in cameras[1][2]
        # ... which the page's first line and its title say, after the worker restarted once
        line = browser.evaluate("document.getElementById('trouble').innerText")
        assert line.startswith("Needs attention: 1 camera reconnecting, plate-export restarted once (last 2"), line
        assert line.endswith(f"): OSError: [Errno {errno.ENOSPC}] {os.strerror(errno.ENOSPC)}: '{EXPORT}'"), line
        assert browser.evaluate("document.title") == "(2) edge-alpr console"
        assert f"cannot connect to 127.0.0.1 port {unplugged}" in cameras[1][2]
        assert wait_for(lambda: browser.evaluate("document.querySelector('img.view').naturalWidth") > 0, 15)

        # delivery: the broker took every camera event, nothing queued or failing
        sinks = browser.evaluate("[...document.querySelectorAll('#health tbody tr')].map("
                                 "r => [...r.cells].map(c => c.innerText.trim()))")
        assert sinks == [["MQTT", "ok", "0", str(len(LABELS)), "0", ""]]

        # a refresh later the page is the same, and the browser logged no error on the way
        before = browser.evaluate("document.body.dataset.refreshed || '0'")
        assert wait_for(lambda: browser.evaluate("document.body.dataset.refreshed || '0'") != before, 15)
        assert browser.evaluate("document.getElementById('message').textContent") == ""
        assert browser.console_errors() == []

        shot = browser.screenshot(tmp_path / "console.png", whole_page=True)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000
        keep = os.environ.get("EDGE_ALPR_CONSOLE_SCREENSHOT")
        if keep:
            shutil.copyfile(tmp_path / "console.png", keep)
    finally:
        export_stop.set()
        svc.close()
        export.join(5)
