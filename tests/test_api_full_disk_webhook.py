"""An API read whose webhook event finds the disk full (a real 2 MiB tmpfs: needs root, skipped
otherwise; the real server and models).

Before: the call was counted and the plates read, then queueing the webhook event failed and the
client got a 503 without its results; its retry was counted again.  Now the client gets its 201
with the results, and the webhook event is held in memory until there is room, as a camera's
is: the reference API's webhooks are a side effect of the read.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import requests
from test_state_dir import fill, small_fs

__all__ = ["small_fs"]  # the fixture, used by name


def test_a_read_whose_webhook_event_finds_the_disk_full_is_answered_and_the_event_counted(
        small_fs: Path, api_factory: Any, sample_images: list[Path], caplog: pytest.LogCaptureFixture) -> None:
    # a target that takes the connection and never answers: its worker waits on the first event and
    # writes nothing meanwhile, so the room left goes to the reads alone, in order
    silent = socket.create_server(("127.0.0.1", 0))
    hook = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
    try:
        _read_on_a_full_disk(small_fs, api_factory({"webhooks": {"timeout_s": 600, "targets": [
            {"url": hook, "image": True}]}}, state_dir=small_fs / "state"), hook, sample_images[0], caplog)
    finally:
        silent.close()


def _read_on_a_full_disk(small_fs: Path, api: Any, hook: str, sample: Path, caplog: pytest.LogCaptureFixture) -> None:
    image = sample.read_bytes()

    def read() -> requests.Response:
        return requests.post(api.url + "/v1/plate-reader/", files={"upload": ("car.jpg", image)}, timeout=60)

    first = read()
    assert first.status_code == 201, first.text
    plates = [r["plate"] for r in first.json()["results"]]
    assert plates
    filler = fill(small_fs / "filler")
    # room for the counters' rows, not for many a queued image
    os.truncate(filler, os.path.getsize(filler) - 4 * len(image))
    sink = f"webhook:{hook}"
    webhooks = api.runtime.webhooks
    for calls in range(2, 40):
        with caplog.at_level(logging.ERROR, "edge_alpr.api.app"):
            answer = read()
        assert answer.status_code == 201, answer.text
        assert [r["plate"] for r in answer.json()["results"]] == plates
        assert answer.json()["usage"]["calls"] == calls  # each read counted once
        if webhooks.outbox.stats()["held"].get(sink):
            break
    else:
        raise AssertionError("the disk never filled")
    stats = webhooks.outbox.stats()
    assert stats["held"] == {sink: 1} and not stats["dropped"].get(sink), stats
    logged = [r.getMessage() for r in caplog.records if r.name == "edge_alpr.api.app"]
    assert not logged, logged  # held, not lost: the outbox says the full disk, once
