"""What a folder camera's scan finds: the files its ``patterns`` match, each with whether it is
new or changed since it was marked, cheaply enough to repeat every ``poll_interval``.

Why: a drop box holds what a camera uploaded for months.  Matched pattern by pattern (each
also in upper case) as ``Path`` objects, sorted by ``Path`` comparison and stat-ed through
``Path.stat``, a scan of a folder of 100,000 files read before took 1.6 s of CPU here, at every
poll (once a second by default: a core kept busy for a folder that had nothing new).  Here the
names are matched by one regular expression, only the new or changed ones become ``Path``\\s,
they are sorted on a key computed once each, and a file read before costs one ``os.stat``; of
a folder of more than ``RECHECKED`` (10,000) files read before, a scan checks about that many,
each in turn: a camera that uploads again under a name already read (a ``snapshot.jpg`` rewritten
at each motion) is then read again within ``files read / 10,000`` scans, not at the next.  Whose
turn it is comes from a checksum of the name, not its place in the listing: that order is the
file system's (tmpfs lists the newest first), and a file listed one place later at each scan (a
new upload before it) had, by its place, the same turn at every scan and was never checked.
Files seen rewritten (``settling``: waiting to be the same at two scans in a row) are checked at
every scan: checked in turn, a snapshot rewritten more often than that was never read.
The files of subfolders (``**/*.jpg``, walked by ``walk.py``) take their turn the same way.
``scripts/bench/bench_folder_scan.py`` measures it.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import zlib
from collections.abc import Callable, Collection, Container, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from .ledger import partial_name
from .walk import Walk

RECHECKED = 10_000  # files read before whose size and times one scan checks, at most

log = logging.getLogger("edge_alpr.stream.sources.files")  # the folder camera's lines, one logger


class Found(NamedTuple):
    """A scan's result: every matched file's key (``key``: its path in the folder), and of them
    the ones due (not marked, or changed since: ``due``), in name order (``Path`` order,
    subfolders' files included)."""

    names: set[str]
    matched: int  # files matched
    due: list[Path]


def key(folder: Path, path: Path) -> str:
    """What a file is known by (marks, settling, the ledger): its path relative to the camera's
    folder (``10/01.jpg``), which for a file in the folder itself is its name.  Why not the name:
    a camera uploading into a folder per hour or minute (``**/*.jpg``) writes ``01.jpg`` in each,
    and files keyed by name overwrote each other's entries: none was ever read."""
    return path.relative_to(folder).as_posix()


def signature(st: os.stat_result) -> tuple[int, int, int]:
    """What changes when a file is written to, replaced or has its permissions changed."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


Mark = tuple[int, ...]  # a prefix of ``signature``; (-1, -1): gone before it was read


class Marks(dict[str, Mark]):
    """The files a folder camera read (their size and mtime), or skipped (``signature``), by ``key``,
    and how many of them were read (``read``), kept up to date as marks are made: the camera's
    health asks it at every look (counted there: 5.5 ms a look at 100,000 files)."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    def mark(self, name: str, mark: Mark) -> None:
        """Mark ``name`` (its file read, gone or skipped)."""
        self.read += _read(mark) - _read(self.get(name))
        self[name] = mark

    def keep(self, names: Collection[str]) -> None:
        """Forget the files not in ``names``, a listing's; none at all: perhaps a share that
        dropped, whose bad files, once back, are not said again."""
        kept = {name: mark for name, mark in self.items() if name in names or (not names and len(mark) == 3)}
        self.clear()
        self.update(kept)
        self.read = sum(map(_read, kept.values()))


def _read(mark: Mark | None) -> bool:
    """Whether a mark is of a file read (not gone, nor skipped)."""
    return mark is not None and len(mark) == 2 and mark[0] >= 0


def say_skipped(camera_id: str, count: int, folder: Path, ledger: Path | None) -> None:
    """Say that ``count`` files of ``folder`` are not read again (read before, their events
    sent then): at the first scan after a start with a ``ledger`` file, how to read them again;
    else (``ledger`` None) files back, after a share dropped or a file was restored."""
    files = f"{count} file{'' if count == 1 else 's'}"
    if ledger is not None:
        log.info("camera %s: %s in %s already read before this start (their events were sent then) "
                 "not read again; to read them again set the source's remember: false, or delete %s "
                 "while edge-alpr is stopped", camera_id, files, folder, ledger)
    else:
        log.info("camera %s: %s back in %s, read before (their events were sent then): not read again",
                 camera_id, files, folder)


class Patterns:
    """A folder's patterns (``*.jpg``; each in upper case too; with a ``/``: into subfolders,
    walked by ``walk.Walk``)."""

    def __init__(self, folder: Path, patterns: Iterable[str], camera_id: str = "") -> None:
        self.folder = folder
        variants = [v for p in patterns for v in dict.fromkeys((p, upper_name(p)))]
        flat = [fnmatch.translate(v) for v in variants if "/" not in v]
        self._flat: Callable[[str], object] | None = re.compile("|".join(flat)).match if flat else None
        deep = [v for v in variants if "/" in v]
        self._deep = Walk(deep, camera_id) if deep else None
        self._turn = 0  # scans so far

    def scan(self, marks: Mapping[str, Mark], queued: Iterable[Path],
             settling: Container[str] = ()) -> Found:
        """List the folder (``OSError`` when it cannot be): ``marks`` holds the files read or
        skipped, by ``key``, with their signature then (a prefix of ``signature``); files in
        ``queued`` are not due again; those in ``settling`` are checked whatever their turn.
        Listed by scandir, which raises when out of descriptors: Python 3.13's glob passes over
        such an error and finds nothing, and every name read would then be forgotten.  The files
        of subfolders are checked in turn like the folder's own (they were checked in full at
        each scan: 100,000 in 100 subfolders took as much CPU as the flat folder's before)."""
        with os.scandir(self.folder) as scanned:
            entries = list(scanned)
        head = str(self.folder / "_")[:-1]  # a file's path is head + key ("." and "/" included)
        waiting = {str(p) for p in queued}
        names: set[str] = set()
        due: list[Path] = []
        # files read before are checked for a rewrite RECHECKED at a time: each every `stride` scans
        stride, self._turn = -(-len(marks) // RECHECKED) or 1, self._turn + 1
        turn = self._turn % stride

        def check(rel: str) -> None:
            names.add(rel)
            mark = marks.get(rel)
            if mark is not None and stride > 1 and rel not in settling \
                    and zlib.crc32(rel.encode("utf-8", "surrogateescape")) % stride != turn:
                return
            file = head + rel
            if file not in waiting and _changed(file, mark):
                due.append(self.folder / rel)

        if self._flat is not None:
            for name in filter(self._flat, (entry.name for entry in entries)):
                check(name)
        links = {entry.name for entry in entries if entry.is_symlink()}
        if self._deep is not None:
            flat = frozenset(names)
            for rel in self._deep.files(head, entries, links):
                if rel not in flat:  # matched above too (``**/*.jpg`` finds the folder's own files)
                    check(rel)
        if links & names:
            due = _unlinked(head, links & names, names, due)
        due.sort(key=lambda p: p.parts)  # Path order, each key made once
        return Found(names, len(names), due)


def upper_name(pattern: str) -> str:
    """``pattern`` with its file name part in upper case (``cam1/*.JPG``): a camera that names its
    files ``A.JPG``.  Its folders stay as written: upper-cased, ``cam1/*.jpg`` also looked in
    ``CAM1`` and not for ``cam1/A.JPG``."""
    folders, slash, name = pattern.rpartition("/")
    return folders + slash + name.upper()


def _unlinked(head: str, links: Iterable[str], names: set[str], due: list[Path]) -> list[Path]:
    """Take out of ``names`` (and ``due``) the matched ``links`` to a file also matched in the
    folder and read there.  Why: a link to the newest picture (``lastsnap.jpg``, kept by the motion
    daemon in its snapshot folder) gave each picture twice, under its name and then under the
    link's.  A link to a file never read (a hidden one: ``latest.jpg -> .current.jpg``, swapped
    atomically) is read."""
    root = os.path.realpath(head or ".").rstrip("/") + "/"
    twice = set()
    for rel in links:
        target = os.path.realpath(head + rel)
        inside = target[len(root):]
        if target.startswith(root) and inside != rel and inside in names \
                and not partial_name(inside.rpartition("/")[2]):
            twice.add(rel)
    names -= twice
    return [path for path in due if str(path)[len(head):] not in twice] if twice else due


def _changed(file: str, mark: Mark | None) -> bool:
    """Not marked, or changed since (its size or mtime: a camera uploading under one name again;
    or its times for a file skipped); a file that cannot be stat-ed now is not due."""
    if mark is None:
        return True
    try:
        return signature(os.stat(file))[:len(mark)] != mark
    except OSError:
        return False
