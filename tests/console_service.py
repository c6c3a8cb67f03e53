"""The whole service for the console's tests: the camera loop over the bundled sample images,
the history on disk, a watch list that matches one sample, and the API on a loopback socket."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES
from waiting import wait_for

from edge_alpr import config
from edge_alpr.api.console_status import CameraView
from edge_alpr.api.server import free_port
from edge_alpr.fuzzy import CONFUSION_PAIRS
from edge_alpr.service import Service, build

LABELS: dict[str, Any] = json.loads((SAMPLES / "labels.json").read_text())
SWAP = {a: b for pair in CONFUSION_PAIRS[:5] for a, b in (pair, pair[::-1])}


def _confusable(text: str) -> int:
    return sum(c in SWAP for c in text)


# the label with the most characters a reader confuses, and a watch-list entry that has two of
# them swapped (O for 0, 8 for B, ...): the match must forgive them
LABEL = max((p["text"] for v in LABELS.values() for p in v["plates"]), key=lambda t: (_confusable(t), t))
_SWAPPED = [i for i, c in enumerate(LABEL) if c in SWAP][:2]
ENTRY = "".join(SWAP[c] if i in _SWAPPED else c for i, c in enumerate(LABEL)).replace("?", "X")
MAX_DISTANCE = 1 + LABEL.count("?")
HOSTILE = '<script>document.title=1</script><img src=x onerror="document.title=2">'  # a label
CAMERA = "gate<b>"


@contextmanager
def running_service(tmp_path: Path, recognizer: Any, monkeypatch: pytest.MonkeyPatch,
                    token: str | None = None) -> Iterator[tuple[Service, str]]:
    """The service once the camera has read every sample and its events are in the history;
    yields it and the API's base URL."""
    if token is None:
        monkeypatch.delenv("EDGE_ALPR_API_TOKEN", raising=False)
    else:
        monkeypatch.setenv("EDGE_ALPR_API_TOKEN", token)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False},
        "api": {"port": 0, "threads": 4}, "history": {"api_reads": True},
        "stream": {"cameras": [{"id": CAMERA, "source": {"kind": "folder", "watch": False}}]},
        "watchlists": {"deny": {"max_distance": MAX_DISTANCE, "plates": [{"plate": ENTRY, "label": HOSTILE}]}},
    }, "<test>")
    svc = build(cfg, threading.Event(), recognizer=recognizer)
    try:
        history = svc.history
        assert history is not None
        assert wait_for(lambda: svc.cameras[0].stats.ended and
                        history.stats()["events"] >= len(LABELS), 90)
        yield svc, f"http://127.0.0.1:{svc.api.server.port}"
    finally:
        svc.close()


def camera_view(**changes: Any) -> CameraView:
    """One camera's row as the console gets it: a healthy streaming camera, with ``changes``."""
    values: dict[str, Any] = dict(
        index=0, id="gate", source="rtsp://cam/1", state="streaming", fps=4.0, capture_fps=10.0,
        frames_read=100, frames_processed=40, frames_dropped=60, events=3, lag_s=0.1,
        last_frame_s=0.5, crashes=0, errors=0, last_error=None, has_view=True)
    return CameraView(**{**values, **changes})


def unreachable_camera(camera_id: str = "yard") -> dict[str, Any]:
    """A camera whose URL nobody serves: it reconnects every 0.2-0.5 s and is never called failed."""
    return {"id": camera_id, "failed_after_s": 3600,
            "source": {"kind": "opencv", "url": f"http://127.0.0.1:{free_port()}/stream.mjpg",
                       "read_timeout": 1, "reconnect_min": 0.2, "reconnect_max": 0.5}}
