"""What a folder camera has read, kept across restarts, and which names are uploads in progress.

Why: a folder camera is usually an FTP/SMB drop box.  Read again at every start, its files gave
every vehicle's event again after each restart (same ids, but automations and watch-list alarms
fired again).  ``ReadLedger`` keeps, per camera, the files (name, size, mtime) whose events are
committed to the outbox; a file still there unchanged at the next start is not read again.

* Keyed by name and signature, not by a time cursor: a camera with a wrong clock, or a copy
  that keeps old mtimes, uploads files that sort before ones already read and must still be read.
* Written only for frames the camera loop has finished with (``FrameSource.done``: their events
  committed), in one SQLite transaction (WAL): a crash re-reads at most what was not committed.
* Bounded by the folder: rows of names no longer in it are deleted at the scan that misses them.
* A camera whose ``source.path`` changed starts fresh (its rows are of another folder).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path

from ...errors import StateError

log = logging.getLogger(__name__)

LEDGER = "folder_cameras.sqlite"  # in the state_dir
# names an upload in progress has (FTP/SMB clients, browsers, rsync) or that a system keeps
PARTIAL_SUFFIXES = (".part", ".partial", ".filepart", ".tmp", ".temp", ".crdownload", ".download",
                    ".uploading", ".!ut")
HIDDEN_PREFIXES = (".", "~")

Signature = tuple[int, int]  # size, mtime_ns

_SCHEMA = """
CREATE TABLE IF NOT EXISTS folder (camera TEXT PRIMARY KEY, path TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS read_file (camera TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, PRIMARY KEY (camera, name));
"""


def partial_name(name: str) -> bool:
    """A hidden file or one a partial upload is written under (renamed once complete)."""
    lower = name.lower()
    return lower.startswith(HIDDEN_PREFIXES) or lower.endswith(PARTIAL_SUFFIXES)


class ReadLedger:
    """One camera's files read, in ``<state_dir>/folder_cameras.sqlite``; thread-safe (the
    capture thread scans, the camera loop marks files done).  No connection is held between
    writes (one a vehicle, rare): the loop's last write on stop may come after the source closed."""

    def __init__(self, state_dir: Path, camera_id: str, folder: Path) -> None:
        self.path = state_dir / LEDGER
        self.camera_id = camera_id
        self._lock = threading.Lock()
        self._warned = False
        try:
            with closing(self._connect()) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                row = db.execute("SELECT path FROM folder WHERE camera = ?", (camera_id,)).fetchone()
                with db:
                    db.execute("BEGIN IMMEDIATE")
                    if row is not None and row[0] != str(folder):
                        log.info("camera %s: its folder changed from %s to %s: every file of the new "
                                 "one is read", camera_id, row[0], folder)
                        db.execute("DELETE FROM read_file WHERE camera = ?", (camera_id,))
                    db.execute("INSERT OR REPLACE INTO folder (camera, path) VALUES (?, ?)",
                               (camera_id, str(folder)))
                # files read before this start, as they were then
                self.read: dict[str, Signature] = {name: (size, mtime) for name, size, mtime in db.execute(
                    "SELECT name, size, mtime_ns FROM read_file WHERE camera = ?", (camera_id,))}
        except sqlite3.Error as e:
            raise StateError(f"camera {camera_id}: cannot open {self.path} ({e}): free space in the "
                             f"state_dir, or delete that file (every file of the folder is then read "
                             f"again)") from e

    def add(self, files: Iterable[tuple[str, Signature]]) -> bool:
        """Record ``files`` as read, in one transaction; False (said once) when it failed: the
        caller keeps them for the next try, and a restart before then reads them again."""
        rows = [(self.camera_id, name, size, mtime) for name, (size, mtime) in files]
        return self._write("INSERT OR REPLACE INTO read_file (camera, name, size, mtime_ns) "
                           "VALUES (?, ?, ?, ?)", rows)

    def forget(self, names: Iterable[str]) -> bool:
        """Drop the rows of names no longer in the folder (keeps the file bounded)."""
        return self._write("DELETE FROM read_file WHERE camera = ? AND name = ?",
                           [(self.camera_id, name) for name in names])

    def _write(self, sql: str, rows: Sequence[tuple[object, ...]]) -> bool:
        if not rows:
            return True
        with self._lock:
            try:
                with closing(self._connect()) as db, db:
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany(sql, rows)
            except sqlite3.Error as e:
                if not self._warned:
                    self._warned = True
                    log.warning("camera %s: cannot write %s (%s): files read since may be read again "
                                "after a restart; tried again with the next files", self.camera_id,
                                self.path, e)
                return False
        if self._warned:
            self._warned = False
            log.info("camera %s: %s written again", self.camera_id, self.path)
        return True

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self.path), isolation_level=None, timeout=5.0)
