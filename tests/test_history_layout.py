"""The history's file brought from an earlier layout to this one: rows from before keep what
they had and have no frame size (the console then draws no box), new rows have it, and two
processes that open one old file at once both start (the upgrade is one transaction, its
columns read inside the write lock).  Real SQLite files; the second process is a thread with
its own connection, as a second edge-alpr on the same state folder would be.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_alpr.api.console_status import plate_box
from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.schema import DATABASE
from edge_alpr.history.store import EventQuery, History, Sighting
from edge_alpr.types import Box

# the first layout the history had (before age_from, clock and the frame's size)
FIRST = """CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL, camera TEXT NOT NULL, ts REAL NOT NULL, stored REAL NOT NULL, plate TEXT NOT NULL,
    plate_norm TEXT NOT NULL, score REAL NOT NULL, list TEXT, size INTEGER NOT NULL, plate_image TEXT,
    scene_image TEXT, payload TEXT NOT NULL);
CREATE INDEX events_ts ON events (ts, seq);
CREATE INDEX events_camera_ts ON events (camera, ts);
CREATE INDEX events_plate ON events (plate_norm);
CREATE INDEX events_list_ts ON events (list, ts);
CREATE INDEX events_stored ON events (stored);"""
BOX = Box(400, 300, 560, 340)
SCENE = np.full((720, 1280, 3), 90, np.uint8)
STORED = float(int(time.time()) - 3600)  # an hour ago: within the age bound


def _old_file(root: Path, with_wal: bool = False) -> None:
    root.mkdir(parents=True)
    with closing(sqlite3.connect(root / DATABASE)) as db:
        if with_wal:
            db.execute("PRAGMA journal_mode=WAL")
        db.executescript(FIRST)
        payload = {"plate": "ab123cd", "box": BOX.to_dict()}
        db.execute("INSERT INTO events (id, source, camera, ts, stored, plate, plate_norm, score, size, "
                   "plate_image, scene_image, payload) VALUES ('old', 'camera', 'gate', ?, ?, "
                   "'AB123CD', 'AB123CD', 0.9, 300, 'd/old-plate.jpg', 'd/old-scene.jpg', ?)",
                   (STORED, STORED, json.dumps(payload)))
        db.commit()


def _sighting() -> Sighting:
    return Sighting("new", "camera", "gate", datetime.now(timezone.utc), "XY99ZZ", 0.95, BOX,
                    {"plate": "xy99zz", "box": BOX.to_dict()}, None, SCENE)


def test_rows_from_before_keep_what_they_had_and_new_ones_know_their_frame(tmp_path: Path) -> None:
    root = tmp_path / "h"
    _old_file(root)
    history = History(HistoryConfig(min_free_bytes=0), root)
    try:
        history.publish(_sighting())
        new, old = history.query(EventQuery())[0]
        assert (old["id"], old["plate"], old["frame"]) == ("old", "ab123cd", None)
        assert old["images"]["scene"] == "/v1/events/old/scene.jpg"
        assert plate_box(old) == ""  # no box drawn: where it lies on the thumbnail is not known
        assert new["frame"] == {"width": 1280, "height": 720}
        assert [float(f) for f in plate_box(new).split()] == \
            pytest.approx([400 / 1280, 300 / 720, 560 / 1280, 340 / 720], abs=1e-4)
        assert history.get("new") == new
    finally:
        history.close()
    with closing(sqlite3.connect(root / DATABASE)) as db:
        (age_from,), = db.execute("SELECT age_from FROM events WHERE id = 'old'")
    assert age_from == STORED  # the older upgrade happened in the same go


def test_two_processes_opening_one_old_file_at_once_both_start(tmp_path: Path) -> None:
    """Another process holds the write lock while both open the file (a backup, a third
    edge-alpr): when it lets go, each finds the layout as the other left it."""
    root = tmp_path / "h"
    _old_file(root, with_wal=True)
    holder = sqlite3.connect(root / DATABASE, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    opened: list[Any] = []

    def open_it() -> None:
        try:
            opened.append(History(HistoryConfig(min_free_bytes=0), root))
        except Exception as e:  # what the test reports
            opened.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for t in threads:
        t.start()
    threading.Event().wait(1.0)  # both are past reading the layout, waiting for the lock
    holder.execute("COMMIT")
    holder.close()
    for t in threads:
        t.join(20)
    try:
        assert len(opened) == 2 and all(isinstance(h, History) for h in opened), opened
        assert [e["frame"] for e in opened[0].query(EventQuery())[0]] == [None]
    finally:
        for h in opened:
            if isinstance(h, History):
                h.close()
