"""A start that fails after the API server began serving leaves none of its threads behind.

``build`` started the server, then the webhook workers; when starting those raised (a thread
that could not start, a Ctrl-C at that moment) the server's threads went on serving on a
listener the caller had closed, and the usage counters stayed open.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from edge_alpr import config
from edge_alpr.api import server
from edge_alpr.delivery.webhooks import Webhooks


class Refused(RuntimeError):
    """Starting the webhook workers failed."""


def test_a_failed_webhook_start_stops_the_server_it_started(tmp_path: Path, recognizer: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_ALPR_API_TOKEN", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)

    def refuse(self: Webhooks) -> None:
        raise Refused("cannot start a thread")

    monkeypatch.setattr(Webhooks, "start", refuse)
    before = set(threading.enumerate())
    cfg = config.from_dict({"state_dir": str(tmp_path / "state"), "api": {"port": 0, "threads": 2},
                            "mqtt": {"enabled": False}, "stream": {"enabled": False}}, "<test>")
    with pytest.raises(Refused):
        server.build(cfg, recognizer=recognizer)
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in left:
        thread.join(5)
    assert not [t.name for t in left if t.is_alive()]
