"""A folder camera's ledger rows (``ledger.py``), and file names as SQLite keeps them.

Why the names: a file name is bytes on Linux, and Python gives one that is not UTF-8 (a camera
or an old Windows PC uploading ``caf\xe9.jpg`` in Latin-1 over SMB or FTP) lone surrogates,
which SQLite cannot take as text: recording such a file read raised ``UnicodeEncodeError`` in
the camera loop at every vehicle, and the file was read again after each restart.  Such a name is
kept as a BLOB of its bytes (``stored``) and read back as the same name (``loaded``); every other
name stays text, as rows written by earlier versions are.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple, TypeVar

Signature = tuple[int, int]  # size, mtime_ns

T = TypeVar("T")


class Row(NamedTuple):
    """A file read: its signature then, and when (running time; and wall-clock time, None in
    rows of an earlier version), and since when it is missing."""

    sig: Signature
    read_at: float
    missing_since: float | None
    wall: float | None = None



def stored(value: T) -> T | bytes:
    """``value`` as given to SQLite: a string that is not UTF-8 (a file name's undecodable bytes,
    as ``os.fsdecode`` gives them) as its bytes, anything else as it is."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape")
    return value


def loaded(value: T) -> T | str:
    """A value read from SQLite: a name kept as bytes (``stored``) as the name again."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def last_read(rows: Collection[Row]) -> float | None:
    """When (epoch s) the newest of ``rows`` was read: a camera restarted with nothing new to read
    says when it last read a file, not "never" (counters cover this run only).  Rows written by
    an earlier version have no wall-clock time: when such rows are the newest (by running time;
    edge-alpr downgraded, then upgraded), the newest with one plus the running time since, a
    lower bound (time stopped does not count), not that row's own time, stale by as much."""
    timed = max((r for r in rows if r.wall is not None), key=lambda r: r.read_at, default=None)
    if timed is None or timed.wall is None:
        return None
    newest = max(r.read_at for r in rows)
    return timed.wall + newest - timed.read_at
