"""The outbox while another process holds its SQLite file locked.

A real second process takes the lock as a ``sqlite3`` shell or a backup tool does (``BEGIN
EXCLUSIVE``, ``held``).  No event is lost and nothing stalls for long: a ``put`` waits
``WRITE_WAIT_MS`` for the lock, then keeps its events on disk beside the file, said once per
episode with the holder; they go in, ahead of newer ones, once the lock goes (or at the next start
when the service stopped meanwhile).  The delivery workers wait the lock out and still stop at
once; an event sent as the lock came is acknowledged after it, not sent twice.  Opening a locked
file, as ``serve`` does at start, fails with ``DatabaseLocked`` (exit 1: retried by the unit).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from test_history_lock import held, warnings_of
from waiting import wait_for

from edge_alpr import cli, db_lock
from edge_alpr.delivery.outbox import Outbox, OutboxItem
from edge_alpr.delivery.worker import DeliveryWorker
from edge_alpr.errors import DatabaseLocked
from edge_alpr.names import user_name


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock waited for 0.3 s at open and 0.2 s by a write: the same paths, a quicker test."""
    monkeypatch.setattr(db_lock, "BUSY_TIMEOUT_MS", 300)
    monkeypatch.setattr(db_lock, "WRITE_WAIT_MS", 200)


def queued(box: Outbox, sink: str = "mqtt") -> list[object]:
    return [item.payload["n"] for item in box.peek(sink, 100)]


def test_events_put_while_locked_wait_on_disk_and_go_in_first_once_it_lets_go(
        tmp_path: Path, quick: None, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    try:
        box.put("mqtt", {"n": 0})
        with held(path) as holder:
            started = time.monotonic()
            box.put_many([("mqtt", {"n": 1}, None), ("webhook:x", {"n": 1}, b"jpeg")])
            assert time.monotonic() - started < 1.0, "a camera must not wait SQLite's 5 s for the lock"
            started = time.monotonic()
            for n in range(2, 6):
                box.put("mqtt", {"n": n})
            assert time.monotonic() - started < 1.5, "0.1 s at most per event while the lock lasts"
            assert (tmp_path / "outbox.sqlite-waiting").is_file()
            stats = box.stats()
            assert stats["pending"] == {"mqtt": 6, "webhook:x": 1} and stats["waiting"] == {"mqtt": 5, "webhook:x": 1}
            with pytest.raises(DatabaseLocked, match=f"pid {holder.pid}"):
                box.peek("mqtt")
            [warning] = warnings_of(caplog)  # once for the episode, naming the file and the holder
            assert warning.startswith(f"outbox: database is locked: another process holds the outbox database {path} "
                                      f"locked: "), warning
            assert f" (pid {holder.pid}, user {user_name(os.geteuid())})" in warning, warning
            assert "backup tool" in warning and f"wait in {path}-waiting" in warning, warning
        assert queued(box) == [0, 1, 2, 3, 4, 5]  # the lock gone: in order, the waiting ones moved in
        [item] = box.peek("webhook:x")
        assert (item.payload, item.blob) == ({"n": 1}, b"jpeg")
        assert not (tmp_path / "outbox.sqlite-waiting").exists()
        assert box.stats()["waiting"] == {"mqtt": 0, "webhook:x": 0}
        assert warnings_of(caplog)[-1].startswith(f"outbox: {path} is writable again after ")
        assert "the 6 queued deliveries that waited in" in warnings_of(caplog)[-1]
        assert len(warnings_of(caplog)) == 2
    finally:
        box.close()


def test_events_still_waiting_at_stop_go_into_the_outbox_at_the_next_start(
        tmp_path: Path, quick: None, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    box.put("mqtt", {"n": 0})
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    with held(path):
        box.put("mqtt", {"n": 1})
        box.put("mqtt", {"n": 2})
        box.close()
    assert warnings_of(caplog)[-1].startswith(f"outbox: 2 event(s) stay in {path}-waiting (another process holds "
                                              f"the outbox database {path} locked")
    with open(tmp_path / "outbox.sqlite-waiting", "ab") as f:
        f.write(b'{"rows": [["torn')  # the process died writing an event: it reached no queue
    box = Outbox(path)
    try:
        assert queued(box) == [0, 1, 2]
        assert not (tmp_path / "outbox.sqlite-waiting").exists()
        assert any("line 3 skipped" in w for w in warnings_of(caplog))
    finally:
        box.close()


def test_the_bounds_hold_while_events_wait_and_what_they_drop_is_counted(tmp_path: Path, quick: None) -> None:
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path, max_rows=3)
    try:
        with held(path):
            for n in range(5):
                box.put("mqtt", {"n": n})
            assert box.stats()["waiting"] == {"mqtt": 3}
        assert queued(box) == [2, 3, 4]
        assert box.stats()["dropped"] == {"mqtt": 2}
    finally:
        box.close()


def test_a_worker_waits_out_the_lock_sends_each_event_once_and_stops_at_once(tmp_path: Path, quick: None) -> None:
    """The lock comes while an event is being sent: its ack waits for the lock, it is not sent
    again; meanwhile the worker looks again each second, and a stop ends it at once."""
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    stop = threading.Event()
    sent: list[int] = []
    locks = ExitStack()

    def send(item: OutboxItem) -> None:
        sent.append(item.payload["n"])
        if len(sent) == 1:
            locks.enter_context(held(path))  # the ack of this one meets the lock

    worker = DeliveryWorker(box, "mqtt", send, stop, idle_poll_s=0.1)
    try:
        for n in range(3):
            box.put("mqtt", {"n": n})
        worker.start()
        deadline = time.monotonic() + 10
        while not sent and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)
        assert sent == [0] and worker.is_alive()
        box.put("mqtt", {"n": 3})  # waits beside the file meanwhile
        locks.close()
        while (len(sent) < 4 or worker.state.sent < 4) and time.monotonic() < deadline:  # sent, then acked
            time.sleep(0.05)
        assert sent == [0, 1, 2, 3] and worker.state.sent == 4, sent
        assert queued(box) == []
        locks.enter_context(held(path))
        box.put("mqtt", {"n": 4})
        time.sleep(0.5)  # the worker meets the lock: it waits on the stop event
        started = time.monotonic()
        stop.set()
        box.wake()
        worker.join(5)
        assert not worker.is_alive() and time.monotonic() - started < 0.5
    finally:
        stop.set()
        locks.close()
        box.close()


def test_opening_a_locked_outbox_names_the_file_and_the_holder(tmp_path: Path, quick: None) -> None:
    path = tmp_path / "outbox.sqlite"
    Outbox(path).close()
    with held(path, "exclusive") as holder, pytest.raises(DatabaseLocked) as raised:
        Outbox(path)
    assert str(raised.value).startswith(f"state_dir: cannot open the outbox database: another process holds the "
                                        f"outbox database {path} locked: "), raised.value
    assert f"(pid {holder.pid}, user " in str(raised.value)


@pytest.mark.parametrize("database", ["outbox.sqlite", "usage.sqlite"])
def test_serve_on_a_locked_state_database_exits_1_for_the_unit_to_retry(
        tmp_path: Path, quick: None, capsys: pytest.CaptureFixture[str], database: str) -> None:
    """Not a config error (78, never restarted) nor a traceback: the lock goes, a restart helps."""
    state = tmp_path / "state"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"state_dir": str(state), "api": {"port": 0}, "mqtt": {"enabled": False}}))
    Outbox(state / "outbox.sqlite").close()
    from edge_alpr.usage import Usage

    Usage(state / "usage.sqlite").close()
    with held(state / database, "exclusive") as holder:
        assert cli.main(["serve", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    what = database.split(".")[0]
    assert f"edge-alpr: error: state_dir: cannot open the {what} database: another process holds the {what} " \
           f"database {state / database} locked: " in err, err
    assert f"(pid {holder.pid}, user " in err and "Traceback" not in err, err


def test_events_waiting_after_a_line_torn_by_a_crash_are_not_lost(tmp_path: Path, quick: None) -> None:
    """The process died writing the first waiting line of an episode, so the file holds only
    that torn line (no newline): the next episode's events are appended after it, and must not
    become part of the torn line (skipped at the next start)."""
    path = tmp_path / "outbox.sqlite"
    Outbox(path).close()
    (tmp_path / "outbox.sqlite-waiting").write_bytes(b'{"rows": [["torn')
    box = Outbox(path)
    with held(path):
        box.put("mqtt", {"n": 1})
        box.put("mqtt", {"n": 2})
        box.close()  # still locked: they stay beside the file until the next start
    box = Outbox(path)
    try:
        assert queued(box) == [1, 2]
    finally:
        box.close()


def test_a_lock_that_went_is_not_left_as_the_sinks_last_error(tmp_path: Path, quick: None) -> None:
    """An idle worker meets the lock (a nightly backup): once it lets go, /info/ and the console
    must not go on naming a lock that is gone while no new event comes."""
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    stop = threading.Event()
    worker = DeliveryWorker(box, "mqtt", lambda item: None, stop, idle_poll_s=0.1)
    worker.start()
    try:
        with held(path):
            assert wait_for(lambda: worker.state.last_error is not None, 10)
            assert "database is locked" in str(worker.state.last_reason)
        assert wait_for(lambda: worker.state.last_error is None, 5), worker.state
        assert worker.state.last_reason is None
    finally:
        stop.set()
        box.wake()
        worker.join(5)
        box.close()
