"""Usage counters: monthly and total, quota, month boundary, concurrency, SIGKILL survival."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from edge_alpr.errors import InputError
from edge_alpr.usage import Usage


class Clock:
    def __init__(self, when: datetime) -> None:
        self.now = when

    def __call__(self) -> datetime:
        return self.now


def test_counts_calls_per_month_and_total(tmp_path: Path) -> None:
    usage = Usage(tmp_path / "u.sqlite")
    for _ in range(3):
        usage.take()
    snap = usage.snapshot()
    assert (snap.calls, snap.lifetime_calls, snap.max_calls) == (3, 3, None)
    # the API's integers: no quota reads as the largest 32-bit integer, never null or 0
    assert snap.short() == {"calls": 3, "max_calls": 2**31 - 1}
    assert snap.statistics()["total_calls"] == 2**31 - 1


def test_total_calls_is_the_periods_limit_as_in_the_reference(tmp_path: Path) -> None:
    """The reference: total_calls is the "maximum number of API calls you can make during the
    period" (so clients compute calls left as total_calls - calls); max_calls the same number."""
    usage = Usage(tmp_path / "u.sqlite", max_calls=1000)
    usage.take()
    snap = usage.snapshot()
    assert snap.statistics()["total_calls"] == 1000 and snap.statistics()["usage"]["calls"] == 1
    assert snap.short() == {"calls": 1, "max_calls": 1000}


def test_month_boundary_resets_monthly_but_not_total(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 30, 23, 59, 59, tzinfo=timezone.utc))
    usage = Usage(tmp_path / "u.sqlite", clock=clock)
    usage.take()
    usage.take()
    assert usage.snapshot().statistics() == {
        "usage": {"month": 11, "year": 2026, "calls": 2, "resets_on": "2026-12-01T00:00:00Z"},
        "total_calls": 2**31 - 1,
    }
    assert usage.snapshot().lifetime_calls == 2
    clock.now = datetime(2026, 12, 1, 0, 0, 0, tzinfo=timezone.utc)
    assert usage.snapshot().calls == 0
    usage.take()
    stats = usage.snapshot().statistics()
    assert stats["usage"] == {"month": 12, "year": 2026, "calls": 1,
                              "resets_on": "2027-01-01T00:00:00Z"}
    assert usage.snapshot().lifetime_calls == 3  # the lifetime count does not reset


def test_quota_refuses_with_403_and_resets_next_month(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 25, tzinfo=timezone.utc))
    usage = Usage(tmp_path / "u.sqlite", max_calls=2, clock=clock)
    usage.take()
    usage.take()
    with pytest.raises(InputError) as err:
        usage.take()
    assert err.value.status == 403
    assert "max_calls 2" in str(err.value)
    assert usage.snapshot().calls == 2  # a refused call is not counted
    clock.now = datetime(2026, 12, 2, tzinfo=timezone.utc)
    assert usage.take().calls == 1


def test_survives_reopen(tmp_path: Path) -> None:
    Usage(tmp_path / "u.sqlite").take()
    again = Usage(tmp_path / "u.sqlite")
    again.take()
    assert again.snapshot().lifetime_calls == 2


def test_concurrent_takes_lose_nothing(tmp_path: Path) -> None:
    usage = Usage(tmp_path / "u.sqlite")
    other = Usage(tmp_path / "u.sqlite")  # a second connection, as a second process would have

    def work(u: Usage) -> None:
        for _ in range(50):
            u.take()

    threads = [threading.Thread(target=work, args=(u,)) for u in (usage, other, usage, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert usage.snapshot().lifetime_calls == 200


_CHILD = """
import sys
from edge_alpr.usage import Usage
u = Usage(sys.argv[1])
while True:
    snap = u.take()
    print(snap.lifetime_calls, flush=True)
"""


def test_counts_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "u.sqlite"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(db)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert child.stdout is not None
    last = 0
    deadline = time.monotonic() + 20
    while last < 50 and time.monotonic() < deadline:
        last = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait()
    for line in child.stdout:  # what it acknowledged before it died
        last = int(line)
    # Every call acknowledged by take() was committed; at most the one in flight is extra.
    assert last >= 50
    assert Usage(db).snapshot().lifetime_calls in (last, last + 1)


def test_the_wal_file_stays_small_beside_the_counters(tmp_path: Path) -> None:
    """Months of calls must not leave a -wal file of SQLite's default 4 MB beside a database of a
    few pages (a device's SD card): it is checkpointed often and trimmed after each checkpoint."""
    usage = Usage(tmp_path / "usage.sqlite")
    for _ in range(3000):
        usage.take()
    wal = tmp_path / "usage.sqlite-wal"
    assert wal.exists() and wal.stat().st_size <= 512 * 1024, wal.stat().st_size
    assert usage.snapshot().lifetime_calls == 3000
