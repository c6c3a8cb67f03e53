"""The event history while another process holds its SQLite database locked.

A real second process takes the lock as the usual culprits do (a second edge-alpr on the same
state folder writing, a backup tool or a ``sqlite3`` shell with a transaction open: ``BEGIN
EXCLUSIVE``).  Nothing is wrong with the folder, so no permission fix is offered: the warning says
that another process holds the database, names it (``/proc/locks``) and the likely causes, the
events wait in memory, and once the lock goes they are all stored, images included.  At start
the same lock ends the service with exit 1, which the unit retries, not 78.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from conftest import SAMPLES, RunningApi
from test_history_faults import Clock, sighting
from test_metrics import scrape

from edge_alpr import lock_holder
from edge_alpr.api.server import free_port
from edge_alpr.history import store, waiting
from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.store import History
from edge_alpr.statedir import user_name

ROOT = Path(__file__).resolve().parent.parent
HOLD = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive":  # no other connection may even read: the file must open in a known mode
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
db.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


@contextmanager
def held(database: Path, mode: str = "normal") -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``database`` locked until the block ends."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(database), mode], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first wait for the lock of 0.3 s, not SQLite's 5 s: the same path, a quicker test."""
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 300)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_locked_history_keeps_every_event_and_names_the_holder(tmp_path: Path, quick: None,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "h"
    history = History(HistoryConfig(min_free_bytes=0), root, clock=Clock())
    database = root / "history.sqlite"
    try:
        assert history.publish(sighting(0))
        caplog.set_level(logging.INFO, logger="edge_alpr.history")
        with held(database) as holder:
            assert history.publish(sighting(1))  # waits: not lost
            started = time.monotonic()
            assert all(history.publish(sighting(n)) for n in range(2, 6))
            assert time.monotonic() - started < 2.0, "a camera must not wait 5 s per plate while locked"
            assert history.get("ev-000001") is None  # in memory meanwhile
            [warning] = warnings_of(caplog)  # once for the episode
            assert warning.startswith(f"history: event ev-000001 of gate waits to be stored ({database}: "
                                      "database is locked); "), warning
            assert f"another process holds the history database {database} locked: " in warning, warning
            assert f" (pid {holder.pid}, user {user_name(os.geteuid())})" in warning, warning
            assert "a second edge-alpr using the same state_dir" in warning and "backup tool" in warning
            assert "chown" not in warning and "check that" not in warning  # no permission fix
        assert history.publish(sighting(6))  # the lock gone: the waiting ones go in first
        stats = history.stats()
        assert stats["events"] == 7 and stats["skipped"] == 0 and stats["stored"] == 7, stats
        assert all(history.image(f"ev-{n:06d}", kind) for n in range(7) for kind in ("plate", "scene"))
        assert warnings_of(caplog)[-1] == "history: storing events again"
    finally:
        history.close()


def test_the_first_event_of_a_lock_waits_half_a_second_not_sqlites_five(tmp_path: Path) -> None:
    """No ``quick`` fixture: the real waits.  A start waits 5 s for a lock (then exits 1), but a
    camera's write must not stall that long before its event is kept in memory."""
    root = tmp_path / "h"
    history = History(HistoryConfig(min_free_bytes=0), root, clock=Clock())
    try:
        assert history.publish(sighting(0))
        with held(root / "history.sqlite"):
            started = time.monotonic()
            assert history.publish(sighting(1))
            first = time.monotonic() - started
            assert first < 2.0, f"the first event of the episode waited {first:.1f} s"
            assert history.get("ev-000001") is None  # it waits in memory
        assert history.publish(sighting(2))
        assert history.stats()["events"] == 3
    finally:
        history.close()


def test_events_waiting_for_the_lock_are_stored_by_the_next_query(tmp_path: Path, quick: None) -> None:
    """No plate for hours after the lock went: a look at the history stores what waited."""
    history = History(HistoryConfig(min_free_bytes=0), tmp_path / "h", clock=Clock())
    try:
        with held(tmp_path / "h" / "history.sqlite"):
            assert history.publish(sighting(1)) and history.publish(sighting(2))
        events, _ = history.query(store.EventQuery())
        assert [e["id"] for e in events] == ["ev-000002", "ev-000001"], events
    finally:
        history.close()


def test_a_lock_that_lasts_keeps_the_newest_events_within_the_bound(
        tmp_path: Path, quick: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(waiting, "WAITING_MAX", 3)
    history = History(HistoryConfig(min_free_bytes=0), tmp_path / "h", clock=Clock())
    caplog.set_level(logging.INFO, logger="edge_alpr.history")
    try:
        with held(tmp_path / "h" / "history.sqlite"):
            assert all(history.publish(sighting(n)) for n in range(1, 7))
        dropped = [w for w in warnings_of(caplog) if "already wait for the lock" in w]
        assert len(dropped) == 1 and dropped[0].startswith("history: event ev-000001 of gate not kept: 3 events "), \
            dropped
        history.close()  # stores what waits, the lock being gone
        history = History(HistoryConfig(min_free_bytes=0), tmp_path / "h", clock=Clock())
        assert [history.get(f"ev-{n:06d}") is not None for n in range(1, 7)] == [False] * 3 + [True] * 3
        assert history.stats()["events"] == 3
    finally:
        history.close()


def test_closing_while_still_locked_says_what_is_lost(tmp_path: Path, quick: None,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    history = History(HistoryConfig(min_free_bytes=0), tmp_path / "h", clock=Clock())
    caplog.set_level(logging.INFO, logger="edge_alpr.history")
    with held(tmp_path / "h" / "history.sqlite"):
        assert history.publish(sighting(1)) and history.publish(sighting(2))
        history.close()
    assert warnings_of(caplog)[-1].startswith("history: 2 waiting events not kept: another process holds "
                                              f"the history database {tmp_path / 'h' / 'history.sqlite'} locked")


def test_serve_on_a_history_locked_by_another_process_exits_1_for_the_unit_to_retry(tmp_path: Path) -> None:
    """Not a config error (78, never restarted): a backup ends, a second service is stopped."""
    database = tmp_path / "state" / "history" / "history.sqlite"
    database.parent.mkdir(parents=True)
    History(HistoryConfig(), database.parent).close()  # an existing history, as on a device
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\napi: {{port: {free_port()}}}\n")
    with held(database, "exclusive") as holder:
        out = subprocess.run([sys.executable, "-m", "edge_alpr", "serve", "--config", str(cfg)], capture_output=True,
                             text=True, timeout=120, cwd=ROOT, env=dict(os.environ))
    assert out.returncode == 1, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert errors[0].startswith(f"edge-alpr: error: history.dir: cannot open the event history in {database.parent}: "
                                f"another process holds the history database {database} locked: "), errors
    assert f"(pid {holder.pid}, user " in errors[0] and "fix the permissions" not in errors[0], errors


def test_the_holder_is_named_from_proc_locks_and_a_second_edge_alpr_is_told_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc/locks as Linux writes it: only a WRITE lock names the holder (every connection holds
    READ locks on -shm while open), a waiter (``->``) holds nothing, this process is not another."""
    database = tmp_path / "history.sqlite"
    database.write_bytes(b"")
    (tmp_path / "history.sqlite-shm").write_bytes(b"")
    ids = {}
    for path in (database, tmp_path / "history.sqlite-shm"):
        st = path.stat()
        ids[path.name] = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    proc = tmp_path / "proc"
    for pid, comm, cmdline in ((4001, "edge-alpr", b"/usr/bin/python3\0/usr/bin/edge-alpr\0run\0"),
                               (4002, "restic", b"restic\0backup\0/var/lib\0"),
                               (4003, "sqlite3", b"sqlite3\0history.sqlite\0")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "comm").write_text(comm + "\n")
        (proc / str(pid) / "cmdline").write_bytes(cmdline)
    shm, db = ids["history.sqlite-shm"], ids["history.sqlite"]
    (proc / "locks").write_text(
        f"1: POSIX  ADVISORY  READ 4003 {shm} 128 128\n"
        f"2: POSIX  ADVISORY  WRITE {os.getpid()} {shm} 120 120\n"
        f"3: -> POSIX  ADVISORY  WRITE 4002 {db} 1073741824 1073741824\n"
        f"4: POSIX  ADVISORY  WRITE 4002 {shm} 120 120\n"
        f"5: POSIX  ADVISORY  WRITE 4001 {db} 1073741826 1073742335\n"
        "6: FLOCK  ADVISORY  WRITE 4001 00:00:1 0 EOF\n")
    me = user_name(os.geteuid())
    assert lock_holder.holders(database, proc) == [f"restic (pid 4002, user {me})",
                                                   f"another edge-alpr (pid 4001, user {me})"]
    (proc / "locks").write_text(f"1: POSIX  ADVISORY  READ 4003 {shm} 128 128\n")
    assert lock_holder.holders(database, proc) == []
    assert lock_holder.holders(database, tmp_path / "no-proc") == []
    monkeypatch.setattr(lock_holder, "holders", lambda _: [f"another edge-alpr (pid 4001, user {me})"])
    assert lock_holder.locked_text(database) == (
        f"another process holds the history database {database} locked: another edge-alpr (pid 4001, user {me}); "
        "two services on one state_dir: stop one, or give each its own state_dir (or history.dir)")


def test_only_edge_alpr_itself_counts_as_another_edge_alpr() -> None:
    # the service as the .deb, a venv's script and a module run it; a venv or folder named after it is no sign
    assert lock_holder.is_edge_alpr(["/opt/venvs/edge-alpr/bin/python", "/opt/venvs/edge-alpr/bin/edge-alpr", "run"])
    assert lock_holder.is_edge_alpr(["edge-alpr", "serve", "--port", "8081"])
    assert lock_holder.is_edge_alpr(["python3", "-m", "edge_alpr", "run"])
    assert not lock_holder.is_edge_alpr(["/opt/venvs/edge-alpr/bin/python", "-c", "import sqlite3"])
    assert not lock_holder.is_edge_alpr(["/srv/edge-alpr/.venv/bin/python", "backup.py", "edge-alpr"])
    assert not lock_holder.is_edge_alpr(["sqlite3", "/var/lib/edge-alpr/history/history.sqlite"])
    assert not lock_holder.is_edge_alpr([""])


def test_events_waiting_for_the_lock_and_those_dropped_are_in_the_metrics(
        api_factory: Callable[..., RunningApi], quick: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock that lasts is seen in ``GET /metrics`` and the console, not the log alone: how many
    wait and how many were dropped past the bound; once the lock goes, what waited is stored."""
    monkeypatch.setattr(waiting, "WAITING_MAX", 2)
    api = api_factory({"history": {"api_reads": True, "min_free_bytes": 0}})
    got = scrape(api.url)
    assert got[("edge_alpr_history_waiting", ())] == 0 and got[("edge_alpr_history_waiting_dropped_total", ())] == 0

    def read() -> int:
        with open(SAMPLES / "01_romanian_t37.jpg", "rb") as f:
            answer = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f}, timeout=60)
        assert answer.status_code == 201, answer.text
        return len(answer.json()["results"])

    with held(api.state_dir / "history" / "history.sqlite"):
        reads = sum(read() for _ in range(3))
        assert reads >= 3
        got = scrape(api.url)
        assert got[("edge_alpr_history_waiting", ())] == 2, got
        assert got[("edge_alpr_history_waiting_dropped_total", ())] == reads - 2, got
        assert got[("edge_alpr_history_dropped_total", ())] == reads - 2, got
        assert got[("edge_alpr_history_events", ())] == 0, got
        counters = requests.get(f"{api.url}/console/parts", timeout=10).json()["counters"]
        assert 'History locked</dt><dd class="bad">2 events wait for another process' in counters, counters
    assert requests.get(f"{api.url}/v1/events/", timeout=10).status_code == 200  # stores what waited
    assert "History locked" not in requests.get(f"{api.url}/console/parts", timeout=10).json()["counters"]
    got = scrape(api.url)
    assert got[("edge_alpr_history_waiting", ())] == 0 and got[("edge_alpr_history_events", ())] == 2, got
    assert got[("edge_alpr_history_waiting_dropped_total", ())] == reads - 2, got
