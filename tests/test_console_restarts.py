"""A worker that crashed and was restarted is named in the console's summary of trouble: how
many times, when the last was and its error in a few words (the whole on hover, credentials
hidden), for a day after its last crash; the title counts it.  The workers are real
(``supervision.FunctionWorker``) and really raise; the page comes from the real server over a
socket.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime
from html import unescape
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests
from waiting import wait_for

from edge_alpr import config
from edge_alpr.api.console_trouble import RESTARTS_SHOWN_S, SHORT_ERROR, restarted_workers, title
from edge_alpr.api.server import build
from edge_alpr.supervision import FunctionWorker, Supervisor, Worker

SECRET = "hunter2"
WHY = (f"cannot write to https://export:{SECRET}@archive.example/upload: the archive answered "
       "with a page nobody reads to the end of, and more\nTraceback-like second line")
ITEM = re.compile(r'<a href="#([\w-]+)" data-key="[^"]+" title="([^"]*)">'
                  r'([^<]*) \(last <time datetime="([^"]+)"[^>]*>.*?</time>\)'
                  r'(?:: ([^<]*))?</a>', re.S)


def crashing(times: int, stop: threading.Event, name: str = "plate-export") -> Worker:
    """A worker whose work raises ``times`` times, then waits for the stop (a real restart each time)."""
    left = [times]

    def work(worker: Worker) -> None:
        if left[0]:
            left[0] -= 1
            raise RuntimeError(WHY)
        stop.wait()

    return FunctionWorker(name, work, stop, backoff_initial_s=0.01, backoff_max_s=0.02)


def test_a_restarted_worker_leads_the_page_with_when_how_often_and_why(
        tmp_path: Path, recognizer: Any, no_token: None) -> None:
    stop = threading.Event()
    supervisor = Supervisor()
    worker, calm = crashing(2, stop), crashing(0, stop, "retention")
    supervisor.watch(lambda: [worker, calm])
    cfg = config.from_dict({"state_dir": str(tmp_path / "state"), "api": {"port": 0, "threads": 4},
                            "mqtt": {"enabled": False}, "stream": {"enabled": False}}, "<test>")
    runtime = build(cfg, recognizer=recognizer, supervisor=supervisor)
    try:
        url = f"http://127.0.0.1:{runtime.server.port}"
        assert "Nothing needs attention." in requests.get(f"{url}/", timeout=10).text
        began = time.time()
        worker.start()
        calm.start()
        assert wait_for(lambda: worker.crashes == 2, 10)
        page = requests.get(f"{url}/", timeout=10).text
        line = re.search(r'<p class="trouble bad" data-title="([^"]*)">(.*?)</p>', page, re.S)
        assert line is not None, page[:3000]
        assert line.group(1) == "(1) edge-alpr console" and "<title>(1) edge-alpr console</title>" in page
        (part, hover, words, at, short), = ITEM.findall(line.group(2))
        assert (part, words) == ("counters-section", "plate-export restarted 2 times")
        stamp = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        assert began - 1 <= stamp <= time.time() + 1
        # the error in a few words: its first line, cut short, no password; the whole on hover
        assert SECRET not in page
        short = unescape(short)
        assert short.startswith("RuntimeError: cannot write to https://") and short.endswith("\u2026")
        assert len(short) <= SHORT_ERROR and "\n" not in short
        assert unescape(hover).startswith("RuntimeError: cannot write to https://") \
            and unescape(hover).endswith("Traceback-like second line")
        # the refreshed part says the same
        assert requests.get(f"{url}/console/parts", timeout=10).json()["trouble"] == \
            re.search(r'<div id="trouble" role="status">(.*?)</div>', page, re.S).group(1)
    finally:
        stop.set()
        runtime.close()
        for w in (worker, calm):
            w.join(5)


def test_a_restart_stays_listed_for_a_while_after_the_last_crash_and_comes_back_with_the_next() -> None:
    stop = threading.Event()
    supervisor = Supervisor()
    workers = [crashing(1, stop)]
    supervisor.watch(lambda: workers)
    ctx: Any = SimpleNamespace(supervisor=supervisor)  # all that the function reads
    assert restarted_workers(ctx) == []  # not crashed (not even started)
    workers[0].start()
    try:
        assert wait_for(lambda: workers[0].crashes == 1, 10)
        listed = restarted_workers(ctx)
        assert [t.text for t in listed] == ["plate-export restarted once"] and title(listed) == "(1) edge-alpr console"
        assert RESTARTS_SHOWN_S >= 12 * 3600  # an operator looking once a day sees last night's
        # past the window without a new crash it is off the line
        time.sleep(0.3)
        assert restarted_workers(ctx, shown_s=0.2) == []
        # a new crash (a second worker of the service) puts it back on
        workers.append(crashing(1, stop, "delivery-hook"))
        workers[1].start()
        assert wait_for(lambda: workers[1].crashes == 1, 10)
        assert [t.text for t in restarted_workers(ctx, shown_s=0.2)] == ["delivery-hook restarted once"]
    finally:
        stop.set()
        for w in workers:
            w.join(5)
