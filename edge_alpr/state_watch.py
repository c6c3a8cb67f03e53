"""Whether the state files a running service holds open are still where it opened them.

Why: a cleanup script's ``rm -rf`` of the state folder (or of ``outbox.sqlite`` and its -wal,
or of the history folder), or an admin's ``mv`` of it, goes unnoticed by SQLite: the open
files stay usable, so the service went on queueing, counting and storing into files nobody
could see, said nothing but a history warning per event, and lost all of it at the next start
(measured: every event queued after the ``rm -rf``).  The lock file went too, so a second
service could start on the folder.  Checked once a second by the main loop (a ``stat`` of each
file): when one is gone or replaced, the queue and the counters are copied from the open files
to their paths where these are free (SQLite's backup, taken under each part's own lock, so the
copy is consistent), and the service stops with status 1, which the unit restarts to open the
folder afresh; the history is not copied, as its images went with the folder.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

Identity = tuple[int, int] | None


def identity(path: Path) -> Identity:
    """The file's device and inode, or None where the path names nothing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class StateFiles:
    """The files opened at start, each with the identity it had then."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._opened = {path: identity(path) for path in paths}

    def gone(self) -> list[Path]:
        """The paths that no longer name the file opened there (deleted, moved, replaced)."""
        return [path for path, opened in self._opened.items() if identity(path) != opened]


def copy_database(db: sqlite3.Connection, lock: threading.Lock, path: Path) -> bool:
    """Copy an open database to ``path`` if nothing is there now; whether it was copied."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with lock:
        target = sqlite3.connect(str(path))
        try:
            db.backup(target)
        finally:
            target.close()
    return True


def said_gone(gone: Sequence[Path]) -> str:
    """The error line: what went and what happens next."""
    return (f"state files deleted, moved or replaced while running: {', '.join(map(str, gone))} "
            f"(a cleanup script? keep it out of the state_dir); stopping, so that a restart opens "
            f"the state_dir afresh (the unit restarts it in 5 s; by hand: start edge-alpr run "
            f"again); the queued events and the counters are copied back to their paths first")
