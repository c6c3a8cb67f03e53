"""The history's SQLite file: its table, indexes and pragmas, set once as the file opens.

Why apart from the store: what a row looks like on disk is settled here; the store
(``store.py``), the searches (``queries.py``) and the bounds (``retention.py``) only read and
write rows of this layout.  ``synchronous=NORMAL``: a power cut may lose the last rows, never
corrupt the file (the durable path of an event is the outbox); the ``-wal`` log is checkpointed
every ``WAL_CHECKPOINT_PAGES`` pages and trimmed to ``WAL_LIMIT_BYTES``, so it cannot eat the disk.

``stored`` is the wall clock when the row went in (its images' day folder is that day's);
``age_from`` is what ``max_age_days`` counts from: ``stored`` moved with every step of the wall
clock seen since (``retention.py``), so that time sync stepping a clock that booted days behind
purges nothing new.  A file from before it gets ``age_from = stored`` once on open.  ``clock``:
the wall clock's offset that ``ts`` and the payload's times are on, or NULL (``clock_steps.py``).
``frame_width`` and ``frame_height``: the size of the frame the plate's box (in the payload's
``box``) is in pixels of, so the console can draw it on the scene's thumbnail; NULL for a row
from before them (no box is drawn) or without a frame.

A file of an earlier layout is brought to this one in one transaction (``_upgrade``), its
columns read inside the write lock: a power cut leaves the old layout or the new, never half,
and two processes opening one old file at once do not both add a column (the second would fail
``duplicate column name``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

DATABASE = "history.sqlite"  # in the history's folder
WAL_LIMIT_BYTES = 1024 * 1024  # the -wal file is trimmed to this after a checkpoint
WAL_CHECKPOINT_PAGES = 64  # each insert writes ~6 pages to the WAL: checkpoint often, keep it small
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    camera TEXT NOT NULL,
    ts REAL NOT NULL,
    stored REAL NOT NULL,
    plate TEXT NOT NULL,
    plate_norm TEXT NOT NULL,
    score REAL NOT NULL,
    list TEXT,
    size INTEGER NOT NULL,
    plate_image TEXT,
    scene_image TEXT,
    payload TEXT NOT NULL,
    age_from REAL,
    clock REAL,
    frame_width INTEGER,
    frame_height INTEGER
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts, seq);
CREATE INDEX IF NOT EXISTS events_camera_ts ON events (camera, ts);
CREATE INDEX IF NOT EXISTS events_plate ON events (plate_norm);
CREATE INDEX IF NOT EXISTS events_list_ts ON events (list, ts);
CREATE INDEX IF NOT EXISTS events_stored ON events (stored);
"""
# the columns added since the first layout, in the order they came (rows from before: NULL)
_ADDED = (("age_from", "REAL"), ("clock", "REAL"), ("frame_width", "INTEGER"), ("frame_height", "INTEGER"))


def connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """The history's database at ``path``, made or brought to this layout; a write waits up to
    ``busy_timeout_s`` for another process's lock before it fails ``database is locked``."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_s)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        db.executescript(_SCHEMA)
        _upgrade(db)
    except BaseException:
        db.close()
        raise
    return db


def _upgrade(db: sqlite3.Connection) -> None:
    """The columns and index added since the first layout, where missing, and the ages of rows
    from before ``age_from``: all or nothing (see the module docstring)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
        for name, kind in _ADDED:
            if name not in columns:
                db.execute(f"ALTER TABLE events ADD COLUMN {name} {kind}")
        db.execute("CREATE INDEX IF NOT EXISTS events_age_from ON events (age_from)")
        db.execute("UPDATE events SET age_from = stored WHERE age_from IS NULL")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
