"""The reserve beside the outbox (``outbox.reserve``), freed when the disk fills so that the events
held in memory go into the outbox at once (real tmpfs file systems and a real ``kill -9``: need
root, skipped otherwise).

Before: every event put on a full disk was held in memory until there was room, and a crash, a
``kill -9`` or a power cut meanwhile lost them all (of 50 put, 0 found after a restart).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli_server import start_serve
from test_outbox_full import roomy_fs
from test_state_dir import fill

from edge_alpr.api.server import free_port
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.outbox_reserve import RESERVE_BYTES

__all__ = ["roomy_fs"]  # the fixture, used by name

PAD = "x" * 1000
ROOT = Path(__file__).resolve().parents[1]

# A service's outbox on the tmpfs given: its reserve made (the service's each second), then
# another writer fills the disk and N events are put; it says so and waits to be killed.
CHILD = """
import os, sys, time
from pathlib import Path
from edge_alpr.api.server import free_port
from edge_alpr.delivery.outbox import Outbox
root, n = Path(sys.argv[1]), int(sys.argv[2])
box = Outbox(root / "state" / "outbox.sqlite")
box.follow_clock()
fd = os.open(root / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
try:
    while os.write(fd, b"x" * 4096):
        pass
except OSError:
    pass
os.close(fd)
for i in range(n):
    box.put("mqtt", {"n": i, "pad": "x" * 1000})
print(box.stats()["held"].get("mqtt", 0), flush=True)
time.sleep(600)
"""


def _on_disk(path: Path) -> list[int]:
    """The events a restart finds in the file."""
    db = sqlite3.connect(str(path))
    try:
        return [json.loads(text)["n"] for (text,) in db.execute("SELECT payload FROM outbox ORDER BY rowid")]
    finally:
        db.close()


def test_events_put_on_a_full_disk_survive_a_kill_9(roomy_fs: Path) -> None:
    """50 events put once another writer filled the disk, then ``kill -9`` with the disk still
    full: all 50 are found at the next start (were 0: held in memory)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(roomy_fs), "50"], env=env, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        held = int(child.stdout.readline())
        assert (roomy_fs / "filler").stat().st_size > 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert held == 0
    assert not (roomy_fs / "state" / "outbox.reserve").exists()  # freed for them
    (roomy_fs / "filler").unlink()
    assert _on_disk(roomy_fs / "state" / "outbox.sqlite") == list(range(50))


def test_the_reserve_is_real_bytes_said_once_when_used_and_made_again_once_there_is_room(
        roomy_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = roomy_fs / "state" / "outbox.sqlite"
    reserve = path.with_name("outbox.reserve")
    box = Outbox(path)
    try:
        box.follow_clock()
        assert reserve.stat().st_size == RESERVE_BYTES
        assert reserve.stat().st_blocks * 512 >= RESERVE_BYTES  # not sparse: its space is taken
        filler = fill(roomy_fs / "filler")
        with caplog.at_level(logging.WARNING, "edge_alpr.delivery.outbox"):
            for i in range(20):
                box.put("mqtt", {"n": i, "pad": PAD})
            box.follow_clock()  # still full: not made again
            assert not reserve.exists()
            assert box.stats()["held"] == {"mqtt": 0} and _on_disk(path) == list(range(20))
            filler.unlink()
            box.follow_clock()
        assert reserve.stat().st_size == RESERVE_BYTES
    finally:
        box.close()
    lines = [r.getMessage() for r in caplog.records]
    used = [line for line in lines if "freed" in line]
    assert len(used) == 1 and str(reserve) in used[0] and "the file system is full" in used[0], lines
    assert "free space there" in used[0] and "made again" in used[0], used
    assert not [line for line in lines if "held in memory (at most" in line or "there is room again:" in line], lines
    assert len([line for line in lines if f"{reserve} ({RESERVE_BYTES} bytes) is made again" in line]) == 1, lines


def test_the_held_past_the_reserve_are_held_in_memory_and_said(
        roomy_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """What the freed space cannot take is held in memory as before, said once, and goes in once
    there is room."""
    path = roomy_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    image = b"i" * 100_000
    try:
        box.follow_clock()
        filler = fill(roomy_fs / "filler")
        with caplog.at_level(logging.WARNING, "edge_alpr.delivery.outbox"):
            for i in range(80):  # 8 MB of scenes: twice the reserve
                box.put("webhook:x", {"n": i}, image)
        held = box.stats()["held"]["webhook:x"]
        assert 0 < held < 80
        assert len(_on_disk(path)) == 80 - held
        filler.unlink()
        box.put("webhook:x", {"n": 80}, image)
        assert box.stats()["held"]["webhook:x"] == 0 and _on_disk(path) == list(range(81))
    finally:
        box.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len([line for line in lines if "held in memory (at most" in line]) == 1, lines


def test_a_reserve_deleted_by_hand_loses_nothing_and_is_made_again(roomy_fs: Path) -> None:
    """It holds no data: an admin may delete it to free space; the next second makes it again
    where the disk has room."""
    path = roomy_fs / "state" / "outbox.sqlite"
    reserve = path.with_name("outbox.reserve")
    box = Outbox(path)
    try:
        box.put("mqtt", {"n": 0})
        box.follow_clock()
        reserve.unlink()
        box.put("mqtt", {"n": 1})
        box.follow_clock()
        assert reserve.stat().st_size == RESERVE_BYTES and _on_disk(path) == [0, 1]
    finally:
        box.close()


@pytest.mark.parametrize("free_mib, made", [(6, False), (9, True)])
def test_no_reserve_is_made_where_the_disk_has_less_than_twice_its_size_free(
        roomy_fs: Path, free_mib: int, made: bool) -> None:
    """6 MiB free would take the 4 MiB but leave less than its size: not made; 9 MiB: made."""
    box = Outbox(roomy_fs / "state" / "outbox.sqlite")
    try:
        taken = shutil.disk_usage(roomy_fs).free - free_mib * 1024 * 1024
        (roomy_fs / "taken").write_bytes(b"t" * taken)
        box.follow_clock()
        assert (roomy_fs / "state" / "outbox.reserve").exists() == made
    finally:
        box.close()


def test_a_full_disk_also_frees_a_half_made_reserve(roomy_fs: Path) -> None:
    """One left by a process that died while making it: the held go into the space it took."""
    path = roomy_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    try:
        path.with_name("outbox.reserve.tmp").write_bytes(os.urandom(RESERVE_BYTES))
        fill(roomy_fs / "filler")
        for i in range(20):
            box.put("mqtt", {"n": i, "pad": PAD})
        assert box.stats()["held"] == {"mqtt": 0} and _on_disk(path) == list(range(20))
        assert not path.with_name("outbox.reserve.tmp").exists()
    finally:
        box.close()


def test_no_reserve_is_made_while_events_are_held_in_memory(roomy_fs: Path) -> None:
    """Made only once all are in: what it takes would be their room."""
    path = roomy_fs / "state" / "outbox.sqlite"
    reserve = path.with_name("outbox.reserve")
    box = Outbox(path)
    image = b"i" * 100_000
    try:
        taken = shutil.disk_usage(roomy_fs).free - 24 * 1024 * 1024  # 24 MiB left
        (roomy_fs / "taken").write_bytes(b"t" * taken)
        box.follow_clock()
        filler = fill(roomy_fs / "filler")
        for i in range(80):  # twice what the reserve takes: most are held
            box.put("webhook:x", {"n": i}, image)
        filler.unlink()
        box.follow_clock()  # a part of them each second
        assert box.stats()["held"]["webhook:x"] > 0
        assert shutil.disk_usage(roomy_fs).free > 2 * RESERVE_BYTES and not reserve.exists()
        while box.stats()["held"]["webhook:x"]:
            box.follow_clock()
        box.follow_clock()
        assert reserve.stat().st_size == RESERVE_BYTES
    finally:
        box.close()


def test_no_reserve_is_made_while_events_wait_for_another_process(roomy_fs: Path) -> None:
    path = roomy_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    other = sqlite3.connect(str(path), isolation_level=None, timeout=0)
    try:
        box.put("mqtt", {"n": 0})
        other.execute("BEGIN IMMEDIATE")
        box.put("mqtt", {"n": 1})
        assert box.stats()["waiting"] == {"mqtt": 1}
        box.follow_clock()
        assert not path.with_name("outbox.reserve").exists()
        other.execute("ROLLBACK")
        box.put("mqtt", {"n": 2})
        box.follow_clock()
        assert path.with_name("outbox.reserve").stat().st_size == RESERVE_BYTES
    finally:
        other.close()
        box.close()


def test_events_put_while_another_process_holds_the_outbox_on_a_full_disk_wait_on_disk(
        roomy_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A backup tool holds the outbox and the disk is full: the reserve is freed so that they wait
    beside the file.  Before: ``StateError``, the event lost, where without the reserve (its 4
    MiB free) it waited there."""
    path = roomy_fs / "state" / "outbox.sqlite"
    box = Outbox(path)
    other = sqlite3.connect(str(path), isolation_level=None, timeout=0)
    try:
        box.put("mqtt", {"n": 0})
        box.follow_clock()
        filler = fill(roomy_fs / "filler")
        other.execute("BEGIN IMMEDIATE")
        with caplog.at_level(logging.WARNING, "edge_alpr.delivery.outbox"):
            for i in range(1, 4):
                box.put("mqtt", {"n": i, "pad": PAD})
        assert box.stats()["waiting"] == {"mqtt": 3} and not path.with_name("outbox.reserve").exists()
        other.execute("ROLLBACK")
        filler.unlink()
        box.put("mqtt", {"n": 4})
        assert _on_disk(path) == list(range(5))
    finally:
        other.close()
        box.close()
    freed = [r.getMessage() for r in caplog.records if "freed" in r.getMessage()]
    assert len(freed) == 1 and "outbox.sqlite-waiting" in freed[0], freed


def test_serve_makes_the_reserve(tmp_path: Path) -> None:
    """``edge-alpr serve`` (the API alone) never made it, nor wrote the held events each second."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nlog_level: WARNING\n")
    reserve = tmp_path / "state" / "outbox.reserve"
    proc = start_serve(cfg, free_port())
    try:
        for _ in range(300):  # made a second after the start; a guard against a hang, not a timing
            if reserve.exists() and reserve.stat().st_size == RESERVE_BYTES:
                break
            time.sleep(0.1)
        assert reserve.stat().st_size == RESERVE_BYTES
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
