"""What an operator sees on the console, checked in its HTML (no browser needed; the browser
test checks the same in Chromium where it is installed).

A camera that cannot open is shown as the health state ``/info/`` and MQTT report
(``reconnecting``, then ``failed``, in red with its error), never as ``running``.
"""

from __future__ import annotations

import re
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
from waiting import wait_for

from edge_alpr.api.console import Console
from edge_alpr.api.console_status import camera_views
from edge_alpr.api.server import free_port
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_state
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source


def _console(loops: list[CameraLoop] | None = None) -> Console:
    ctx = SimpleNamespace(supervisor=SimpleNamespace(workers=lambda: list(loops or [])))
    return Console(ctx, None)  # type: ignore[arg-type]  # rendering reads neither further


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
    loop.start()
    try:
        assert wait_for(lambda: camera_state(loop) == "reconnecting", 30)
        html = console.render("cameras", cameras=camera_views(console.ctx))
    finally:
        stop.set()
        loop.join(5)
    row = re.search(r"<tr .*?</tr>", html, re.S)
    assert row is not None
    assert row.group(0).startswith('<tr class="bad" data-state="reconnecting">')
    assert "running" not in html and "streaming" not in html
    state = re.search(r'<td data-label="State">(.*?)</td>', html, re.S)
    assert state is not None and "reconnecting" in state.group(1)
    assert re.search(r'class="detail">\d+ errors, the last: cannot open', state.group(1)), state.group(1)

