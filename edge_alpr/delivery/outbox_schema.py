"""The outbox's SQLite file: its tables, indexes and pragmas, and the one-time upgrade of a file
an older version made.

Why apart from the queue: what a row looks like on disk, and how an old file is brought up to
date, is settled once when the file opens; the queue operations (``outbox.py``) and the bounds
(``outbox_bounds.py``) only read and write rows of the layout made here.

Durability: WAL with ``synchronous=FULL``, so a committed ``put`` survives a power cut, not just
a crash; the ``-wal`` log is trimmed to ``WAL_LIMIT_BYTES`` after each checkpoint.  A new file
gets ``auto_vacuum=INCREMENTAL`` so that freed pages can be given back.  A file made before the
byte bound and space reclamation (no ``auto_vacuum``, no ``size`` column) is upgraded once on
open: the sizes of its rows are filled in and one ``VACUUM`` rewrites it (cost proportional to
the events still pending, not to the file size); if that fails (disk full) it is logged and
retried on the next open, and the outbox works meanwhile.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import db_lock

# The outbox's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.delivery.outbox")

WAL_LIMIT_BYTES = 4 * 1024 * 1024  # the -wal file is trimmed to this after a checkpoint
INCREMENTAL = 2  # PRAGMA auto_vacuum value

# ``size`` (before the payload, so it is read without the blob) is the payload's UTF-8 length
# plus the blob's: what the byte bound counts.  ``created`` is the wall clock's (for people);
# ``queued`` the outbox's running time (``clocks.RunClock``): what the age bound counts.
# ``aside``: 1 for an event its sink's receiver refused for its size (``outbox_aside.py``).
# ``clock``: the wall clock's offset the payload's times are on (``outbox_clock.py``), or NULL.
_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    sink TEXT NOT NULL,
    created REAL NOT NULL,
    queued REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    aside INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    payload TEXT NOT NULL,
    blob BLOB,
    clock REAL
)"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS outbox_sink_aside_seq ON outbox (sink, aside, seq)",  # a sink's queue
    "CREATE INDEX IF NOT EXISTS outbox_queued ON outbox (queued)",  # the age bound's
    "CREATE INDEX IF NOT EXISTS outbox_seq_size ON outbox (seq, size)",  # the byte bound's
)
_COUNTERS = """
CREATE TABLE IF NOT EXISTS sink_counters (
    sink TEXT PRIMARY KEY,
    dropped INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0
)"""
_OLD_COLUMNS = "seq, id, sink, created, attempts, last_error, payload, blob"
_SIZE_OF_ROW = "length(CAST(payload AS BLOB)) + IFNULL(length(blob), 0)"


@dataclass(frozen=True)
class OutboxItem:
    """One queued event.  ``id`` is unique and stable across retries (use it to de-duplicate);
    ``clock``: the wall clock's offset its payload's times are on, or None (``outbox_clock.py``)."""

    seq: int
    id: str
    sink: str
    created: float
    attempts: int
    payload: dict[str, Any]
    blob: bytes | None = field(default=None, repr=False)
    clock: float | None = None


def read_queue(db: sqlite3.Connection, sink: str, limit: int) -> list[OutboxItem]:
    """The first ``limit`` events of ``sink``'s queue (not set aside), oldest first."""
    rows = db.execute("SELECT seq, id, sink, created, attempts, payload, blob, clock FROM outbox "
                      "WHERE sink = ? AND aside = 0 ORDER BY seq LIMIT ?", (sink, limit)).fetchall()
    return [OutboxItem(seq=r[0], id=r[1], sink=r[2], created=r[3], attempts=r[4], payload=json.loads(r[5]),
                       blob=r[6], clock=r[7]) for r in rows]


def connect(path: Path) -> sqlite3.Connection:
    """The outbox file at ``path``, created or upgraded: one connection, shareable between
    threads (the caller guards it with a lock), with explicit transactions only.

    A file that is no SQLite database, or a damaged one (garbage written over it, a copy cut
    short), would stop every start with a traceback, the unit restarting it forever, while
    what it queued cannot be read anyway: it is set aside (``<name>.corrupt-<time>``, with its
    ``-wal`` and ``-shm``, for ``sqlite3 .recover``), said once as an error, and a new outbox is
    made.  Only SQLite's own damage errors (``DatabaseError`` itself: "file is not a database",
    "database disk image is malformed") count: a lock or an I/O failure (``OperationalError``), or
    a constraint that this code broke (``IntegrityError``), is not damage and passes."""
    try:
        return _connect(path)
    except sqlite3.DatabaseError as e:
        if type(e) is not sqlite3.DatabaseError:
            raise
        kept = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            part = path.with_name(path.name + suffix)
            if part.exists():
                part.rename(kept.with_name(kept.name + suffix))
        log.error("outbox: %s is damaged (%s); set aside as %s (its events cannot be read: sqlite3's .recover may "
                  "save some) and a new, empty outbox made", path, e, kept)
        return _connect(path)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                         timeout=db_lock.BUSY_TIMEOUT_MS / 1000)  # another's lock: waited for, then said
    try:
        _prepare(db, path)
    except BaseException:
        db.close()
        raise
    return db


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect on a new file (or at VACUUM)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # survive power loss, not just a crash
    db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
    db.execute(_TABLE.format(name="outbox"))
    db.execute(_COUNTERS)
    columns = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
    if "size" not in columns:
        _add_sizes(db)
    if "queued" not in columns:
        _add_queued(db)
    columns = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
    if "aside" not in columns:  # none set aside before
        db.execute("ALTER TABLE outbox ADD COLUMN aside INTEGER NOT NULL DEFAULT 0")
    if "clock" not in columns:  # the times of rows from before are left as they are
        db.execute("ALTER TABLE outbox ADD COLUMN clock REAL")
    for old in ("outbox_created", "outbox_sink_seq"):  # the age bound's before running time; a queue's before aside
        db.execute(f"DROP INDEX IF EXISTS {old}")
    for index in _INDEXES:
        db.execute(index)
    (mode,) = db.execute("PRAGMA auto_vacuum").fetchone()
    if mode != INCREMENTAL:
        # Made before space was reclaimed: rewrite it once so freed pages can be given back.
        started = time.monotonic()
        try:
            db.execute("VACUUM")
        except sqlite3.OperationalError as e:
            log.warning("outbox: could not upgrade %s to reclaim space (%s); it keeps its "
                        "size for now (bounded by max_bytes) and is retried on the next "
                        "start", path, e)
        else:
            log.info("outbox: upgraded %s to give back the space of delivered events "
                     "(one VACUUM, %.1f s)", path, time.monotonic() - started)


def _add_queued(db: sqlite3.Connection) -> None:
    """A file from before the age bound counted running time: its events' ages so far, by the
    wall clock (none where that is behind them), as running time before this run's start (0)."""
    if "queued" not in {row[1] for row in db.execute("PRAGMA table_info(outbox)")}:
        db.execute("ALTER TABLE outbox ADD COLUMN queued REAL NOT NULL DEFAULT 0")
    db.execute("UPDATE outbox SET queued = -MAX(0.0, ? - created)", (time.time(),))


def _add_sizes(db: sqlite3.Connection) -> None:
    """A file from before the byte bound: copy its rows, with their sizes, into the new layout
    (one transaction); if that fails (disk full), add the column and count them as 0 bytes."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DROP TABLE IF EXISTS outbox_sized")
        db.execute(_TABLE.format(name="outbox_sized"))
        db.execute(f"INSERT INTO outbox_sized ({_OLD_COLUMNS}, size) "
                   f"SELECT {_OLD_COLUMNS}, {_SIZE_OF_ROW} FROM outbox ORDER BY seq")
        db.execute("DROP TABLE outbox")  # its indexes with it; _prepare makes them again
        db.execute("ALTER TABLE outbox_sized RENAME TO outbox")
        (n,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        db.execute("COMMIT")
        log.info("outbox: %d event(s) queued by an older version sized for max_bytes", n)
    except sqlite3.OperationalError as e:
        db.execute("ROLLBACK")
        log.warning("outbox: could not size the events queued by an older version (%s); "
                    "they count as 0 bytes until delivered or expired", e)
        db.execute("ALTER TABLE outbox ADD COLUMN size INTEGER NOT NULL DEFAULT 0")
