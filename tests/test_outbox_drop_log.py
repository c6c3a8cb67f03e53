"""What the outbox's bounds say of their drops (``outbox_bounds.DropLog``), on a real SQLite file
and the outbox's running clock, stepped by hand (the clock ``Outbox`` takes).

Before: after a bound's first warning, drops within the hour were said at debug level only and
counted for the next warning, which came with the next drop after the hour: a burst after
which nothing more was dropped was never said (5000 events gone, one line about the first).
And the lines were written inside the transaction that dropped: one rolled back after them (an
INSERT on a full disk) said drops that never happened.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_alpr.delivery.outbox_bounds import DROP_LOG_EVERY_S, DropLog

FULL = "full (4 rows)"
SINK = "webhook:http://h/"


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "o.sqlite", isolation_level=None)
    conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")
    yield conn
    conn.close()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_burst_within_the_hour_is_said_once_the_hour_is_up_and_nothing_more_drops(
        db: sqlite3.Connection, caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    said = DropLog(lambda: now[0])
    caplog.set_level(logging.DEBUG, "edge_alpr.delivery.outbox")
    with said.committing(db):
        said.dropped(SINK, 1, FULL)
    assert len(_warnings(caplog)) == 1  # the first drops, at once
    now[0] += DROP_LOG_EVERY_S / 2
    for _ in range(50):  # a burst, then nothing more is dropped
        with said.committing(db):
            said.dropped(SINK, 100, FULL)
    with said.committing(db):  # within the hour: still one warning
        pass
    assert len(_warnings(caplog)) == 1
    now[0] += DROP_LOG_EVERY_S / 2
    with said.committing(db):  # a put or a worker's peek that drops nothing, the hour up
        pass
    warnings = _warnings(caplog)
    assert len(warnings) == 2 and f"dropped 5000 oldest event(s) of {SINK} in the last 3600 s" in warnings[1], warnings
    with said.committing(db):
        pass
    assert len(_warnings(caplog)) == 2  # said once


def test_drops_not_yet_said_are_said_as_the_outbox_closes(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    said = DropLog(lambda: now[0])
    said.dropped(SINK, 1, FULL)
    now[0] += 60
    said.dropped(SINK, 7, FULL)
    said.settle()
    assert len(_warnings(caplog)) == 1  # within the hour
    said.settle(final=True)
    warnings = _warnings(caplog)
    assert len(warnings) == 2 and "dropped 7 oldest event(s)" in warnings[1], warnings


def test_drops_of_a_transaction_rolled_back_are_not_said(
        db: sqlite3.Connection, caplog: pytest.LogCaptureFixture) -> None:
    said = DropLog(lambda: 0.0)
    db.execute("INSERT INTO t (n) VALUES (1), (2)")
    with pytest.raises(sqlite3.IntegrityError), said.committing(db):
        db.execute("DELETE FROM t WHERE n = 2")
        said.dropped(SINK, 1, FULL)
        db.execute("INSERT INTO t (n) VALUES (1)")  # the new row fails: the drop is rolled back
    assert db.execute("SELECT COUNT(*) FROM t").fetchone() == (2,)
    assert _warnings(caplog) == []
    with said.committing(db):
        db.execute("DELETE FROM t WHERE n = 2")
        said.dropped(SINK, 1, FULL)
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and f"dropped 1 oldest event(s) of {SINK} (counted" in warnings[0], warnings
