"""The events queued while another process holds the outbox locked: on disk beside it until it lets go.

Why a file, not memory: the outbox is the durable path of an event (``put`` returns once the
event is on disk; a power cut, a SIGKILL or a restart loses nothing).  While a backup tool, a
``sqlite3`` shell with a transaction open or a second process holds ``outbox.sqlite`` locked,
``put`` writes the events to ``outbox.sqlite-waiting`` instead: one JSON line per ``put_many``,
fsynced before it returns.  A line torn by a crash mid-write is skipped whole, so an event bound
for several sinks reaches all of their queues or none, as a rolled-back transaction would.

The outbox moves them in, all in one transaction, oldest first and ahead of any newer event, at
its next write once the lock goes and the disk has room for them (a ``put``, a delivery worker's
``peek``, ``close``, or the next start), then deletes the file; a crash between the two moves
them again, and their ids (``ON CONFLICT (id) DO NOTHING``) keep each once.  Bounded as the
outbox is: past its ``max_rows`` or ``max_bytes`` waiting, the oldest make way (the file is
rewritten without them), counted as dropped once they can be, and said once per episode.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..credentials import hide_credentials
from ..db_lock import LockEpisode
from ..errors import StateError

# The outbox's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.delivery.outbox")

SUFFIX = "-waiting"  # beside the database: outbox.sqlite-waiting (copied with it by outbox.sqlite*)
# id, sink, created (wall clock), payload JSON, blob, size, queued (the outbox's running time;
# inf for a row an older version kept here: queued when it goes in), clock (the wall clock's
# offset the payload's times are on, ``outbox_clock.py``; None: not this device's, or unknown)
Row = tuple[str, str, float, str, bytes | None, int, float, float | None]


class WaitingFile:
    """The waiting rows, oldest first, in memory and in ``path``; not thread-safe (the outbox's
    lock serialises its callers)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[Row] = self._load()
        self.dropped: Counter[str] = Counter()  # per sink: not yet counted in the outbox's file
        self._overflowed = False  # the drop of this episode was said

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, rows: Sequence[Row], max_rows: int, max_bytes: int) -> None:
        """Keep ``rows`` after the others, on disk when this returns (else ``OSError``, and
        nothing is kept); the oldest make way past ``max_rows`` or ``max_bytes``.  None: no line
        (an empty one, on a full disk, only failed)."""
        if not rows:
            return
        kept = [*self.rows, *rows]
        over = max(0, len(kept) - max_rows)
        total = sum(row[5] for row in kept[over:])
        while over < len(kept) and total > max_bytes:
            total -= kept[over][5]
            over += 1
        if over:
            self._rewrite(kept[over:])
            self._dropped(kept[:over], max_rows, max_bytes)
            self.rows = kept[over:]
        else:
            self._write(self.path, [rows], "ab")
            self.rows = kept

    def keep(self, rows: list[Row], refused: Counter[str], error: sqlite3.Error, episode: LockEpisode,
             bounds: tuple[int, int]) -> None:
        """Another process holds the outbox (``error``): ``rows`` wait here, within ``bounds`` (the
        outbox's ``max_rows``, ``max_bytes``), said once per ``episode``; ``refused``: counted
        as dropped.  ``StateError`` where this file cannot be written either."""
        try:
            self.add(rows, *bounds)
        except OSError as e:
            raise StateError(f"state_dir: {len(rows)} event(s) not queued: {episode.text()}, and "
                             f"{self.path} cannot be written either ({e}); free space or fix the "
                             "permissions there") from e
        self.dropped.update(refused)
        episode.locked(error, f"events wait in {self.path} (on disk, within the outbox's "
                              "bounds) and go into the outbox, then to their sinks, once it lets go")

    def clear(self) -> None:
        """All are in the outbox: forget them, and the file."""
        self.rows, self._overflowed = [], False
        self.dropped.clear()
        try:
            self.path.unlink(missing_ok=True)
        except OSError as e:  # moved again at the next write or start: their ids keep each once
            log.warning("outbox: cannot remove %s (%s); its events, already in the outbox, are not queued twice",
                        self.path, e)

    def by_sink(self) -> dict[str, tuple[int, int]]:
        """Per sink: how many wait, and their bytes."""
        out: dict[str, tuple[int, int]] = {}
        for row in self.rows:
            n, size = out.get(row[1], (0, 0))
            out[row[1]] = (n + 1, size + row[5])
        return out

    def _dropped(self, gone: list[Row], max_rows: int, max_bytes: int) -> None:
        by_sink = Counter(row[1] for row in gone)
        self.dropped.update(by_sink)
        if not self._overflowed:
            log.warning("outbox: the lock on the outbox lasts: dropped the oldest waiting event(s) (%s) to stay "
                        "within max_rows (%d) and max_bytes (%d); the oldest make way until it lets go",
                        ", ".join(f"{n} of {hide_credentials(s)}" for s, n in by_sink.items()), max_rows, max_bytes)
            self._overflowed = True

    def _rewrite(self, rows: list[Row]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        self._write(tmp, [rows], "wb")
        os.replace(tmp, self.path)
        sync_folder(self.path.parent)

    def _write(self, path: Path, groups: list[Sequence[Row]], mode: str) -> None:
        new = not path.exists()
        text = "".join(json.dumps({"rows": [_encoded(row) for row in rows]}) + "\n" for rows in groups)
        if mode == "ab" and not new and _ends_mid_line(path):  # torn by a crash: ours must not join it
            text = "\n" + text
        with open(path, mode) as f:
            f.write(text.encode())
            f.flush()
            os.fsync(f.fileno())
        if new:
            sync_folder(path.parent)

    def _load(self) -> list[Row]:
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        rows: list[Row] = []
        for number, line in enumerate(lines, 1):
            try:
                rows.extend(_decoded(item) for item in json.loads(line)["rows"])
            except (ValueError, KeyError, TypeError, IndexError) as e:  # torn by a crash mid-write
                log.warning("outbox: %s line %d skipped (%s: written when the process died?); its event(s) "
                            "reached no queue", self.path, number, type(e).__name__)
        return rows


def _encoded(row: Row) -> list[object]:
    event_id, sink, created, text, blob, size, queued, clock = row
    return [event_id, sink, created, text, base64.b64encode(blob).decode() if blob is not None else None, size,
            queued, clock]


def _decoded(item: list[object]) -> Row:
    """A row as written; an older version's has no running time (6 items: queued when it goes in)
    or no clock (7 items: its times stay as they are)."""
    event_id, sink, created, text, blob, size, *rest = item
    queued = rest[0] if rest else math.inf
    clock = rest[1] if len(rest) == 2 else None
    if not (isinstance(event_id, str) and isinstance(sink, str) and isinstance(created, int | float)
            and isinstance(text, str) and isinstance(size, int) and (blob is None or isinstance(blob, str))
            and isinstance(queued, int | float) and (clock is None or isinstance(clock, int | float))
            and len(rest) <= 2):
        raise TypeError("a row of unexpected types")
    return (event_id, sink, float(created), text, base64.b64decode(blob) if blob is not None else None, size,
            float(queued), None if clock is None else float(clock))


def _ends_mid_line(path: Path) -> bool:
    """Whether ``path`` ends without a newline: its last line was torn by a crash (or a write
    that failed half-way), and a line appended straight after it would be skipped with it."""
    with open(path, "rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def sync_folder(folder: Path) -> None:
    """Make a new or renamed file's name, or a deletion, durable too (its folder's entry)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
