"""What a folder camera has read, kept across restarts and across its share going away.

Why: a folder camera is usually an FTP/SMB/NFS drop box.  Read again at every start, its files
gave every vehicle's event again after each restart (same ids, but automations and watch-list
alarms fired again).  ``ReadLedger`` keeps, per camera, the files (name, size, mtime) whose
events are committed to the outbox; a file there unchanged is not read again.

* Keyed by the file's path in the folder (``10/01.jpg`` in a folder per hour; its name at
  the top) and signature, not by a time cursor: a camera with a wrong clock, or a copy
  that keeps old mtimes, uploads files that sort before ones already read and must still be read.
  A file of a name read before but of another size or mtime is a new picture (read, and its
  row replaced once its events are committed).
* Written only for frames the camera loop has finished with (``FrameSource.done``: their events
  committed), in one SQLite transaction (WAL): a crash re-reads at most what was not committed.
* A row is not forgotten because a scan missed its file: a CIFS/NFS share that drops (server
  reboot, Wi-Fi blip) lists an empty folder, and forgetting then read every file again once it
  was back.  A missed file's row is marked missing and deleted once it has stayed missing for
  ``forget_after_days`` of running time (``clocks.RunClock``: a wall-clock step, e.g. a Pi without
  a real-time clock synced at boot, forgets nothing early); a file back in time clears the mark.
  A listing that finds no file at all where files read were at the last scan before this start
  (a share not mounted yet at boot: ``share.ShareWatch.empty``) marks nothing: a restart then
  still knows them there, and their ageing starts at the first listing that finds files.  The
  file system they were listed on is kept too (``folder.mount``), to tell such a share from
  files deleted while edge-alpr was stopped.
* Bounded: at most ``remember_max_files`` rows a camera; past it the oldest go first, files
  missing before files still in the folder (those are read again after a restart: said once).
* A camera whose ``source.path`` changed starts fresh (its rows are of another folder).
* Without a state_dir (``remember: false``, the bundled samples) the same rules hold in memory
  only, for the life of the process.
"""

from __future__ import annotations

import heapq
import logging
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from contextlib import closing
from pathlib import Path

from ...clocks import RunClock
from ...errors import StateError
from .ledger_rows import Row, Signature, last_read, loaded, stored

log = logging.getLogger(__name__)

LEDGER = "folder_cameras.sqlite"  # in the state_dir
# names an upload in progress has (FTP/SMB clients, browsers, rsync) or that a system keeps
PARTIAL_SUFFIXES = (".part", ".partial", ".filepart", ".tmp", ".temp", ".crdownload", ".download",
                    ".uploading", ".!ut", ".!sync", ".!qb", ".bc!")
HIDDEN_PREFIXES = (".", "~")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS folder (camera TEXT PRIMARY KEY, path TEXT NOT NULL, mount TEXT);
CREATE TABLE IF NOT EXISTS read_file (camera TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, read_at REAL NOT NULL DEFAULT 0, missing_since REAL, read_wall REAL,
    PRIMARY KEY (camera, name));
"""
# a file of an earlier version lacks these columns (its rows: read at 0, not missing, wall time unknown)
_COLUMNS = {"read_at": "REAL NOT NULL DEFAULT 0", "missing_since": "REAL", "read_wall": "REAL"}


Statements = Sequence[tuple[str, Sequence[tuple[object, ...]]]]


def partial_name(name: str) -> bool:
    """A hidden file or one a partial upload is written under (renamed once complete)."""
    lower = name.lower()
    return lower.startswith(HIDDEN_PREFIXES) or lower.endswith(PARTIAL_SUFFIXES)


class ReadLedger:
    """One camera's files read, in ``<state_dir>/folder_cameras.sqlite`` (``state_dir`` None: in
    memory only); thread-safe (the capture thread scans, the camera loop marks files done).  No
    connection is held between writes (rare: a vehicle, a file gone or back), since the loop's
    last write on stop may come after the source closed."""

    def __init__(self, state_dir: Path | None, camera_id: str, folder: Path,
                 forget_after_s: float, max_files: int) -> None:
        self.path = state_dir / LEDGER if state_dir is not None else None
        self.camera_id = camera_id
        self.folder = folder
        self.forget_after_s = forget_after_s
        self.max_files = max_files
        self._lock = threading.Lock()
        self._warned = False
        self._full_said = False
        self._rows: dict[str, Row] = {}
        self._clock: RunClock | None = None
        # the file system the folder's files were listed on last (``share.mount_of``), None if unknown
        self.mount: str | None = None
        self._started = time.monotonic()
        if self.path is not None:
            self._open()
        self.before = len(self._rows)  # files read before this start
        # of them, those in the folder at its last scan before this start (``share.ShareWatch.empty``)
        self.present_before = sum(r.missing_since is None for r in self._rows.values())
        self.read_before = last_read(self._rows.values())
        self._trim(0)  # a lowered remember_max_files

    def _open(self) -> None:
        try:
            with closing(self._connect()) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                if "mount" not in {r[1] for r in db.execute("PRAGMA table_info(folder)")}:
                    db.execute("ALTER TABLE folder ADD COLUMN mount TEXT")
                have = {r[1] for r in db.execute("PRAGMA table_info(read_file)")}
                for column, kind in _COLUMNS.items():
                    if column not in have:
                        db.execute(f"ALTER TABLE read_file ADD COLUMN {column} {kind}")
                with db:
                    db.execute("BEGIN IMMEDIATE")
                    row = db.execute("SELECT path, mount FROM folder WHERE camera = ?",
                                     (self.camera_id,)).fetchone()
                    if row is not None and loaded(row[0]) == str(self.folder):
                        self.mount = loaded(row[1])
                    elif row is not None:
                        log.info("camera %s: its folder changed from %s to %s: every file of the new "
                                 "one is read", self.camera_id, row[0], self.folder)
                        db.execute("DELETE FROM read_file WHERE camera = ?", (self.camera_id,))
                    db.execute("INSERT OR REPLACE INTO folder (camera, path, mount) VALUES (?, ?, ?)",
                               (self.camera_id, stored(str(self.folder)), stored(self.mount)))
                    # files read before this start, as they were then
                    for name, size, mtime, read_at, missing, wall in db.execute(
                            "SELECT name, size, mtime_ns, read_at, missing_since, read_wall FROM read_file "
                            "WHERE camera = ?", (self.camera_id,)):
                        self._rows[loaded(name)] = Row((size, mtime), read_at, missing, wall)
                    floor = max((max(r.read_at, r.missing_since or 0.0) for r in self._rows.values()),
                                default=0.0)
                    self._clock = RunClock(db, floor)
        except sqlite3.Error as e:
            raise StateError(f"camera {self.camera_id}: cannot open {self.path} ({e}): free space in "
                             f"the state_dir, or delete that file (every file of the folder is then "
                             f"read again)") from e

    def now(self) -> float:
        """Running time: the ledger file's (across restarts), or this process's without one."""
        return self._clock.now() if self._clock is not None else time.monotonic() - self._started

    def has(self, name: str, sig: Signature) -> bool:
        """Whether the file ``name`` (its path in the folder) was read as it is now (same size
        and mtime).  Earlier versions keyed a file in a subfolder by its base name: such a row
        of the same signature stands for the file once, moved to its path (nothing read before
        an upgrade is read again after it, and the row does not stand for another file too)."""
        row = self._rows.get(name)
        if row is not None:
            return row.sig == sig
        base = name.rpartition("/")[2]
        old = self._rows.get(base) if base != name else None
        if old is None or old.sig != sig:
            return False
        with self._lock:
            cam, moved = self.camera_id, old._replace(missing_since=None)
            if self._write([("UPDATE read_file SET name = ?, missing_since = NULL WHERE camera = ? "
                             "AND name = ?", [(name, cam, base)])]):
                del self._rows[base]
                self._rows[name] = moved
        return True

    def listed_on(self, mount: str | None) -> None:
        """A listing found files on the file system ``mount``: kept, for the next start to tell a
        share not mounted from files deleted while stopped (``share.ShareWatch.empty``)."""
        if mount is None or mount == self.mount:
            return
        with self._lock:
            if self._write([("UPDATE folder SET mount = ? WHERE camera = ?", [(mount, self.camera_id)])]):
                self.mount = mount

    def add(self, files: Iterable[tuple[str, Signature]]) -> bool:
        """Record ``files`` as read, in one transaction, the oldest rows past ``max_files`` deleted;
        False (said once) when it failed: the caller keeps them for the next try, and a restart
        before then reads them again."""
        now, wall = self.now(), time.time()
        new = {name: Row(sig, now, None, wall) for name, sig in files}
        if not new:
            return True
        with self._lock:
            return self._trim(len([n for n in new if n not in self._rows]), new)

    def scanned(self, names: Collection[str]) -> bool:
        """A listing of the folder found ``names``: rows of files not among them are marked missing
        (not forgotten: see the module docstring), those back are unmarked, and those missing for
        ``forget_after_s`` are deleted; False when that could not be written (tried again)."""
        now = self.now()
        with self._lock:
            gone, back, expired = [], [], []
            for name, row in self._rows.items():
                if name in names:
                    if row.missing_since is not None:
                        back.append(name)
                elif row.missing_since is None:
                    gone.append(name)
                elif now - row.missing_since >= self.forget_after_s:
                    expired.append(name)
            if not (gone or back or expired):
                return True
            cam = self.camera_id
            if not self._write([
                ("UPDATE read_file SET missing_since = ? WHERE camera = ? AND name = ?",
                 [(now, cam, n) for n in gone]),
                ("UPDATE read_file SET missing_since = NULL WHERE camera = ? AND name = ?",
                 [(cam, n) for n in back]),
                ("DELETE FROM read_file WHERE camera = ? AND name = ?", [(cam, n) for n in expired])]):
                return False
            for name in gone:
                self._rows[name] = self._rows[name]._replace(missing_since=now)
            for name in back:
                self._rows[name] = self._rows[name]._replace(missing_since=None)
            for name in expired:
                del self._rows[name]
        if expired:
            log.info("camera %s: forgot %d file%s missing from %s for forget_after_days (%g): a file "
                     "of such a name is read as a new one", self.camera_id, len(expired),
                     "" if len(expired) == 1 else "s", self.folder, self.forget_after_s / 86400)
        return True

    def _trim(self, adding: int, new: dict[str, Row] | None = None) -> bool:
        """Write ``new`` (lock held) after deleting the oldest rows beyond room for ``adding``
        more: missing files first (the longest missing), then the files read the longest ago."""
        new = new or {}
        excess = len(self._rows) + adding - self.max_files
        victims = [name for _, name in heapq.nsmallest(max(excess, 0), (
            ((row.missing_since is None, row.read_at if row.missing_since is None else row.missing_since),
             name) for name, row in self._rows.items() if name not in new))]
        if not (new or victims):
            return True
        cam = self.camera_id
        if not self._write([
            ("DELETE FROM read_file WHERE camera = ? AND name = ?", [(cam, n) for n in victims]),
            ("INSERT OR REPLACE INTO read_file (camera, name, size, mtime_ns, read_at, missing_since, "
             "read_wall) VALUES (?, ?, ?, ?, ?, NULL, ?)",
             [(cam, n, *r.sig, r.read_at, r.wall) for n, r in new.items()])]):
            return False
        present = sum(self._rows[n].missing_since is None for n in victims)
        for name in victims:
            del self._rows[name]
        self._rows.update(new)
        if present and not self._full_said:
            self._full_said = True
            log.warning("camera %s: %s holds more than remember_max_files (%d) files read: the oldest "
                        "are forgotten (read again after a restart); raise remember_max_files or "
                        "move processed files out of the folder", self.camera_id, self.folder,
                        self.max_files)
        return True

    def _write(self, statements: Statements) -> bool:
        """Run ``statements`` in one transaction, with the running time (lock held)."""
        if self.path is None or self._clock is None:
            return True
        try:
            with closing(self._connect()) as db, db:
                db.execute("BEGIN IMMEDIATE")
                for sql, rows in statements:
                    if rows:
                        db.executemany(sql, ([stored(v) for v in row] for row in rows))
                self._clock.save(db)
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
