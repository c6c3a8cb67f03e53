"""The outbox's byte bound and space reclaim: 1 MB images, oldest dropped first, the file shrinks.

Sizes are measured on disk: the database file plus its ``-wal`` (after a checkpoint where said).
"""

from __future__ import annotations

import logging
import random
import sqlite3
from pathlib import Path

import pytest

from edge_alpr import config
from edge_alpr.delivery.outbox import DEFAULT_MAX_BYTES, Outbox
from edge_alpr.errors import ConfigError

MB = 1024 * 1024


def image(n: int) -> bytes:
    """1 MB standing for a JPEG: distinct per event, the same each time it is asked for."""
    return random.Random(n).randbytes(MB)


def on_disk(db: Path) -> int:
    """Bytes the outbox holds on disk: the database file and its write-ahead log."""
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


def checkpointed(db: Path) -> int:
    """``on_disk`` after a full checkpoint from a second connection (WAL copied back, emptied)."""
    other = sqlite3.connect(str(db))
    try:
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        other.close()
    return on_disk(db)


def drain(box: Outbox, sink: str) -> int:
    """Deliver (ack) everything queued for ``sink``, oldest first; how many."""
    n = 0
    while items := box.peek(sink, 4):
        for item in items:
            box.ack(sink, item.id)
            n += 1
    return n


def test_byte_bound_drops_oldest_first_and_counts_them(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite"
    box = Outbox(db, max_bytes=8 * MB)
    ids = []
    for n in range(20):
        sink = "webhook:a" if n % 2 == 0 else "webhook:b"
        ids.append(box.put(sink, {"n": n}, blob=image(n)))
        assert box.stats()["bytes"].get("webhook:a", 0) + box.stats()["bytes"].get("webhook:b", 0) \
            <= 8 * MB
    stats = box.stats()
    kept = [item.payload["n"] for sink in ("webhook:a", "webhook:b") for item in box.peek(sink, 100)]
    # each event is 1 MB plus a few bytes of JSON: 7 fit under 8 MB, the newest 7
    assert sorted(kept) == list(range(13, 20))
    assert stats["dropped"] == {"webhook:a": 7, "webhook:b": 6}  # n = 0..12, oldest first
    assert sum(stats["pending"].values()) == 7
    assert 7 * MB < sum(stats["bytes"].values()) <= 8 * MB
    # the blobs kept are the right ones, in order
    (first,) = box.peek("webhook:b", 1)
    assert first.payload["n"] == 13 and first.blob == image(13)
    # on disk: the bound plus SQLite's page overhead (< 1 %), not 20 MB
    assert checkpointed(db) <= 8 * MB * 1.01 + 64 * 1024
    box.close()


def test_a_put_many_larger_than_the_bound_keeps_its_newest_entries(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_bytes=3 * MB)
    box.put("old", {"n": -1}, blob=image(99))
    box.put_many([("w", {"n": n}, image(n)) for n in range(5)])
    assert [i.payload["n"] for i in box.peek("w", 10)] == [3, 4]
    assert box.peek("old", 10) == []
    assert box.stats()["dropped"] == {"old": 1, "w": 3}
    assert sum(box.stats()["bytes"].values()) <= 3 * MB


def test_an_event_larger_than_the_bound_is_refused_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_bytes=2 * MB)
    box.put("w", {"n": 0}, blob=image(0))
    with caplog.at_level(logging.ERROR, logger="edge_alpr.delivery.outbox"):
        ids = box.put_many([("mqtt", {"n": 1}, None), ("w", {"n": 1}, image(1) + image(2))])
    assert len(ids) == 2
    # the small entry of the same event is queued; the huge one is not, and evicted nothing
    assert [i.payload["n"] for i in box.peek("mqtt", 10)] == [1]
    assert [i.payload["n"] for i in box.peek("w", 10)] == [0]
    assert box.stats()["dropped"] == {"mqtt": 0, "w": 1}
    (record,) = [r for r in caplog.records if "refused" in r.getMessage()]
    assert record.levelname == "ERROR"
    assert "w" in record.getMessage() and str(2 * MB) in record.getMessage()


def test_file_shrinks_after_everything_is_delivered(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite"
    box = Outbox(db)  # default bound (256 MB): nothing dropped here
    for n in range(48):
        box.put("webhook:a", {"n": n}, blob=image(n))
    full = checkpointed(db)
    assert full > 48 * MB
    assert drain(box, "webhook:a") == 48
    assert box.stats()["dropped"]["webhook:a"] == 0 and box.stats()["delivered"]["webhook:a"] == 48
    # reclaimed by the outbox itself: no checkpoint from outside, no reopen
    assert on_disk(db) < 12 * MB, on_disk(db)
    assert checkpointed(db) < 6 * MB, checkpointed(db)
    # and the outbox keeps working on the shrunk file
    box.put("webhook:a", {"n": 48}, blob=image(48))
    assert [i.payload["n"] for i in box.peek("webhook:a", 5)] == [48]
    box.close()


# The schema the outbox had before the byte bound (no ``size`` column, no auto_vacuum).
_OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    sink TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    payload TEXT NOT NULL,
    blob BLOB
);
CREATE INDEX IF NOT EXISTS outbox_sink_seq ON outbox (sink, seq);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created);
CREATE TABLE IF NOT EXISTS sink_counters (
    sink TEXT PRIMARY KEY,
    dropped INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0
);
"""


def make_old_database(db: Path, events: int, delivered: int) -> None:
    """A file as the old code left it: ``events`` 1 MB rows, the first ``delivered`` deleted."""
    old = sqlite3.connect(str(db), isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    old.executescript(_OLD_SCHEMA)
    for n in range(events):
        old.execute("INSERT INTO outbox (id, sink, created, payload, blob) VALUES (?, ?, ?, ?, ?)",
                    (f"id{n}", "webhook:a", 1e9 + n, f'{{"n":{n}}}', image(n)))
    old.execute("DELETE FROM outbox WHERE seq <= ?", (delivered,))
    old.execute("INSERT INTO sink_counters (sink, delivered) VALUES ('webhook:a', ?)", (delivered,))
    assert old.execute("PRAGMA auto_vacuum").fetchone() == (0,)
    old.close()


def test_old_database_is_upgraded_and_shrinks(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite"
    make_old_database(db, events=40, delivered=30)
    before = on_disk(db)
    assert before > 40 * MB  # the old code never gave the 30 delivered MB back
    box = Outbox(db, max_age_s=1e12)
    # opening upgrades the file (one VACUUM): the 30 MB already delivered are given back at once
    assert checkpointed(db) < 12 * MB, checkpointed(db)
    check = sqlite3.connect(str(db))
    assert check.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental
    check.close()
    # nothing pending was lost, its sizes are known, and the order holds
    items = box.peek("webhook:a", 100)
    assert [i.id for i in items] == [f"id{n}" for n in range(30, 40)]
    assert [i.blob for i in items] == [image(n) for n in range(30, 40)]
    assert 10 * MB < box.stats()["bytes"]["webhook:a"] < 10 * MB + 1024
    assert box.stats()["delivered"]["webhook:a"] == 30
    assert drain(box, "webhook:a") == 10
    assert checkpointed(db) < 6 * MB, checkpointed(db)
    box.close()


def test_old_database_with_a_backlog_is_bounded_in_bytes(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite"
    make_old_database(db, events=12, delivered=0)
    box = Outbox(db, max_bytes=6 * MB, max_age_s=1e12)
    box.put("webhook:a", {"n": 12}, blob=image(12))
    kept = [i.payload["n"] for i in box.peek("webhook:a", 100)]
    assert kept == [8, 9, 10, 11, 12]  # 1 MB + its JSON each: five fit under 6 MB
    assert box.stats()["dropped"]["webhook:a"] == 8
    assert checkpointed(db) <= 6 * MB * 1.01 + 64 * 1024
    box.close()


def test_bytes_and_counters_survive_reopen(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite"
    box = Outbox(db, max_bytes=4 * MB)
    ids = [box.put("w", {"n": n}, blob=image(n)) for n in range(6)]
    box.close()
    again = Outbox(db, max_bytes=4 * MB)
    items = again.peek("w", 10)
    assert [i.id for i in items] == ids[3:]
    assert [i.blob for i in items] == [image(n) for n in range(3, 6)]
    assert again.stats()["dropped"] == {"w": 3}
    assert 3 * MB < again.stats()["bytes"]["w"] < 4 * MB
    again.put("w", {"n": 6}, blob=image(6))  # the bound still holds after a reopen
    assert [i.payload["n"] for i in again.peek("w", 10)] == [4, 5, 6]
    assert again.stats()["dropped"] == {"w": 4}
    again.close()
    # a smaller bound on reopen applies from the next put
    third = Outbox(db, max_bytes=2 * MB)
    third.put("w", {"n": 7}, blob=image(7))
    assert [i.payload["n"] for i in third.peek("w", 10)] == [7]
    assert third.stats()["dropped"] == {"w": 7}
    third.close()


def test_config_max_bytes() -> None:
    assert config.from_dict({}).outbox.max_bytes == DEFAULT_MAX_BYTES == 256 * MB
    assert config.from_dict({"outbox": {"max_bytes": 64 * MB}}).outbox.max_bytes == 64 * MB
    with pytest.raises(ConfigError, match=r"outbox\.max_bytes: must be >= 1048576"):
        config.from_dict({"outbox": {"max_bytes": 1000}})


def test_the_api_runtime_opens_its_outbox_with_the_configured_bound(tmp_path: Path) -> None:
    """The setting reaches the outbox the server delivers webhooks from (not only the config)."""
    from edge_alpr.api.server import build, free_port

    cfg = config.from_dict({"state_dir": str(tmp_path / "state"), "api": {"port": free_port()},
                            "outbox": {"max_bytes": 3 * MB}})
    runtime = build(cfg)
    try:
        assert runtime.outbox.max_bytes == 3 * MB
    finally:
        runtime.close()
