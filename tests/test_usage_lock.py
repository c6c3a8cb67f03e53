"""The usage counters while another process holds their SQLite file locked.

A real second process holds the lock (``BEGIN EXCLUSIVE``, as a ``sqlite3`` shell or a backup tool
does).  No call fails for it: each is counted in memory after a short wait (the quota still
applies), said once per episode with the holder, and written once the lock goes; an API read
answers 201, and a webhook queued meanwhile still goes out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from conftest import SAMPLES, Receiver, RunningApi
from test_history_lock import held, warnings_of
from test_usage import Clock

from edge_alpr import db_lock
from edge_alpr.errors import InputError
from edge_alpr.usage import Usage

MAY = datetime(2026, 5, 20, tzinfo=timezone.utc)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_lock, "BUSY_TIMEOUT_MS", 300)
    monkeypatch.setattr(db_lock, "WRITE_WAIT_MS", 200)


def test_calls_counted_while_locked_are_kept_within_the_quota_and_written_after(
        tmp_path: Path, quick: None, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "usage.sqlite"
    usage = Usage(path, max_calls=4, clock=Clock(MAY))
    caplog.set_level(logging.INFO, logger="edge_alpr.usage")
    try:
        usage.take()
        with held(path) as holder:
            started = time.monotonic()
            assert [usage.take().calls for _ in range(3)] == [2, 3, 4]
            assert time.monotonic() - started < 1.0, "a request must not wait SQLite's 5 s per call"
            with pytest.raises(InputError, match="Monthly call limit reached") as over:
                usage.take()  # the quota counts what waits in memory too
            assert over.value.status == 403
            snap = usage.snapshot()
            assert (snap.calls, snap.lifetime_calls) == (4, 4)
            [warning] = warnings_of(caplog)
            assert warning.startswith(f"usage: database is locked: another process holds the usage database {path} "
                                      "locked: "), warning
            assert f"(pid {holder.pid}, user " in warning and "counted in memory" in warning, warning
        snap = usage.snapshot()  # writes what waited
        assert (snap.calls, snap.lifetime_calls) == (4, 4)
        assert warnings_of(caplog)[-1].startswith(f"usage: {path} is writable again after ")
        usage.close()
        usage = Usage(path, max_calls=4, clock=Clock(MAY))
        assert usage.snapshot().calls == 4
    finally:
        usage.close()


def test_closing_while_locked_says_which_counts_are_lost(tmp_path: Path, quick: None,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "usage.sqlite"
    usage = Usage(path)
    caplog.set_level(logging.INFO, logger="edge_alpr.usage")
    with held(path):
        usage.take()
        usage.close()
    assert warnings_of(caplog)[-1].startswith(f"usage: 1 call(s) counted while {path} was locked not written: "
                                              f"another process holds the usage database {path} locked")


def test_an_api_read_is_answered_and_its_webhook_sent_while_the_state_databases_are_locked(
        api_factory: Callable[..., RunningApi], receiver: Receiver, quick: None) -> None:
    """Before: 500 after 5 s for either lock, and the webhook of the read was never queued."""
    api = api_factory({"webhooks": {"targets": [{"url": receiver.url}]}})
    for database in ("usage.sqlite", "outbox.sqlite"):
        with held(api.state_dir / database):
            started = time.monotonic()
            with open(SAMPLES / "01_romanian_t37.jpg", "rb") as f:
                answer = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f}, timeout=60)
            assert answer.status_code == 201, (database, answer.text)
            assert time.monotonic() - started < 2.0, database
    deadline = time.monotonic() + 10
    while len(receiver.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(receiver.requests) == 2
    assert requests.get(f"{api.url}/v1/statistics/", timeout=10).json()["usage"]["calls"] == 2
