"""The files of a folder's subfolders that its ``/`` patterns (``**/*.jpg``, ``*/cam1/*.jpg``)
match, walked by ``os.scandir`` one folder at a time: the names, nothing stat-ed.

Why not ``Path.glob``: its paths came back as ``Path`` objects, each checked by the caller in
full at every scan (a scan of 100,000 files in 100 subfolders read before took about as much CPU
as the listing of a flat folder before its checks were spread over scans), and it went into
every folder its ``*`` matched, hidden ones too: a desktop's trash (``.Trash-1000``), a sync
tool's (``.sync``, ``.stfolder``, ``.stversions``: old versions of pictures read already) were
read as new pictures.  Here:

* a hidden name (starting with ``.``) is matched only by a pattern part that starts with ``.``
  (``.sync/*.jpg``, as the shell does), never by ``*``, ``?`` or ``**``;
* ``**`` (any number of folders, none included) never goes through a link to a folder (a link
  to a folder above it looped for ever), while a named part (``cam1``, ``2024-*``) follows one
  that leads out of the camera's folder (``cam1 -> /srv/ftp/cam1``), not one to a folder above
  it, and one within it (``latest -> 2024-06-01``) only where the patterns do not walk its
  target already (each file was read twice, under two paths; skipped always, ``latest/*.jpg``
  read nothing); a folder already on the way down to it, in the same states of the patterns,
  is not entered again, as ``find -L`` does (``latest -> .snap`` with ``.snap/l1 -> .``:
  ``**/l*/*.jpg`` branched until the system said ELOOP, each file read under every path), while
  ``other/*/*.jpg`` still reads ``other/c.jpg`` through ``other/again -> .``;
* a part without a wildcard (``cam1``) is looked up as a path, not matched against the listed
  names: on a share that ignores case, ``Cam1`` finds ``cam1``;
* a subfolder that cannot be listed (its permissions) is passed over, warned once (while it
  stays so); one gone since it was listed is passed over; any other error (out of descriptors,
  a share's) is the caller's: nothing listed is then taken as gone.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache

log = logging.getLogger("edge_alpr.stream.sources.files")  # the folder camera's lines, one logger

GONE = frozenset({errno.ENOENT, errno.ENOTDIR})  # a subfolder deleted or replaced since it was listed
BARRED = frozenset({errno.EACCES, errno.EPERM, errno.ELOOP})  # one that cannot be listed: passed over

WILDCARD = re.compile(r"[*?[]")  # a pattern part without one names a folder: looked up, not matched
State = tuple[int, int]  # a pattern's index, and the index of its part the next name is matched against
Match = Callable[[str], object]
Seen = tuple[int, int, frozenset[State]]  # a folder's device and inode numbers, the states it is walked in
Way = tuple[tuple[frozenset[State], ...], frozenset[Seen] | None]  # the way down: states above, what is seen


class _Step:
    """What the names of a folder reached in some ``states`` lead to: matched files, and the
    states each subfolder is walked in."""

    def __init__(self, parts: Sequence[tuple[str, ...]], states: frozenset[State]) -> None:
        final: dict[bool, list[str]] = {False: [], True: []}  # by: the part starts with "."
        self.named: list[tuple[Match, bool, State]] = []  # a named part: its match, dotted, next state
        self.literal: dict[str, set[State]] = {}  # a folder named without a wildcard: next states
        deep: set[State] = set()
        for p, i in states:
            part = parts[p][i]
            if part == "**":
                deep.add((p, i))
            elif i == len(parts[p]) - 1:
                final[part.startswith(".")].append(fnmatch.translate(part))
            elif not WILDCARD.search(part):
                self.literal.setdefault(part, set()).add((p, i + 1))
            else:
                self.named.append((re.compile(fnmatch.translate(part)).match, part.startswith("."), (p, i + 1)))
        self.deep = frozenset(deep)
        every = final[False] + final[True]
        self.file: Match | None = re.compile("|".join(every)).match if every else None
        self.dotted: Match | None = re.compile("|".join(final[True])).match if final[True] else None

    def matches(self, name: str, hidden: bool) -> bool:
        match = self.dotted if hidden else self.file
        return match is not None and match(name) is not None

    def into(self, name: str, hidden: bool) -> set[State]:
        """The states a subfolder ``name`` is walked in by its named parts (``**`` aside)."""
        return {nxt for match, dotted, nxt in self.named if (dotted or not hidden) and match(name)} \
            | self.literal.get(name, set())


class Walk:
    """A folder's ``/`` patterns, each split into its parts (``**/*.jpg``: ``**``, ``*.jpg``)."""

    def __init__(self, patterns: Iterable[str], camera_id: str = "") -> None:
        self.camera_id = camera_id
        # "." names the folder itself, as an empty part does (``./sub/*.jpg``)
        self._parts = [tuple(p for p in pattern.split("/") if p not in ("", ".")) for pattern in patterns]
        self._parts = [parts for parts in self._parts if parts]
        self._barred: set[str] = set()  # subfolders said unlistable, while they stay so
        self._step = lru_cache(maxsize=256)(self._make_step)

    def _make_step(self, states: frozenset[State]) -> _Step:
        return _Step(self._parts, states)

    def _closure(self, states: Iterable[State]) -> frozenset[State]:
        """``states`` and those a ``**`` matching no folder leads to."""
        done: set[State] = set()
        todo = list(states)
        while todo:
            p, i = todo.pop()
            if (p, i) in done or i >= len(self._parts[p]):
                continue
            done.add((p, i))
            if self._parts[p][i] == "**":
                todo.append((p, i + 1))
        return frozenset(done)

    def files(self, head: str, top: Sequence[os.DirEntry[str]], links: set[str]) -> Iterator[str]:
        """The matched files' paths in the folder (``10/01.jpg``), the folder's own entries given
        (``top``: listed by the caller), in no particular order; ``head`` + such a path is the
        file's path (``head``: the folder's with a ``/``, or "" for ``.``).  The symbolic links
        among the subfolders' entries are added to ``links``."""
        barred: set[str] = set()
        root = os.path.realpath(head or ".")
        # each folder's rel, entries (None: to list), states, and the folders on the way down to
        # it, with their states (stat-ed from the first link on: a tree without links cannot loop)
        stack: list[tuple[str, Sequence[os.DirEntry[str]] | None, frozenset[State], Way]] = [
            ("", top, self._closure((p, 0) for p in range(len(self._parts))), ((), None))]
        while stack:
            rel, entries, states, way = stack.pop()
            step = self._step(states)
            if entries is None:  # a folder whose parts all name folders is not listed: looked up
                listed = step.file is not None or step.named or step.deep
                entries = self._list(head + rel, rel, barred) if listed else ()
            if step.file is not None:  # the names matched, by one regular expression each folder
                if rel:
                    links.update(rel + entry.name for entry in entries if entry.is_symlink())
                for name in filter(step.file, [entry.name for entry in entries]):
                    if not name.startswith(".") or step.matches(name, True):
                        yield rel + name
            into_dirs: dict[str, frozenset[State]] = {}  # subfolders walked by a named part
            linked: dict[str, bool] = {}  # whether each listed one is a symbolic link
            for entry in entries if step.named else ():
                hidden = entry.name.startswith(".")
                into = step.into(entry.name, hidden)
                if into and _is_dir(entry, follow=True):
                    into_dirs[entry.name] = self._closure(into if hidden else into | step.deep)
                    linked[entry.name] = entry.is_symlink()
            looked = self._looked_up(head, rel, step, into_dirs, entries, barred) if step.literal else set()
            for name, walked in into_dirs.items():
                link = linked[name] if name in linked else os.path.islink(head + rel + name)
                walked = self._through(head + rel + name, link, root, walked)
                below = _descent(head, rel, name, states, walked, way, link) if walked else None
                if below is not None:
                    stack.append((f"{rel}{name}/", None, walked, below))
            if step.deep:  # ``**``: every folder not hidden, no link (those named above: walked there)
                deep = self._closure(step.deep)
                for entry in entries:
                    try:
                        if not entry.is_dir(follow_symlinks=False):  # d_type: no system call
                            continue
                        if entry.name in into_dirs or entry.name.startswith(".") or (looked and _key(entry) in looked):
                            continue
                    except OSError:  # gone since listed
                        continue
                    below = _descent(head, rel, entry.name, states, deep, way, False)
                    if below is not None:
                        stack.append((f"{rel}{entry.name}/", None, deep, below))
        for rel in self._barred - barred:
            log.info("camera %s: image subfolder %s can be listed again", self.camera_id, rel.rstrip("/"))
        self._barred = barred

    def _looked_up(self, head: str, rel: str, step: _Step, into_dirs: dict[str, frozenset[State]],
                   entries: Sequence[os.DirEntry[str]], barred: set[str]) -> set[tuple[int, int]]:
        """Add to ``into_dirs`` the subfolders of ``head + rel`` a part names without a wildcard
        (``cam1``), looked up as paths, as ``Path.glob`` did: on a share that ignores case (CIFS,
        vfat) ``Cam1/*.jpg`` finds ``cam1``, which a match against the listed names missed, and a
        folder that cannot be listed (execute-only) is gone through.  A folder also matched by a
        wildcard part is walked once, under its listed name.  Returns their device and inode
        numbers (``**`` passes over them).  A folder that cannot be gone through is said as one
        that cannot be listed."""
        looked: set[tuple[int, int]] = set()
        for part in step.literal:
            if part in into_dirs:  # listed under that name: matched above
                continue
            try:
                st = os.stat(head + rel + part)
            except OSError as e:
                self._unlistable(head + rel, rel, barred, e)
                continue
            if not stat.S_ISDIR(st.st_mode):
                continue
            if not os.path.islink(head + rel + part):  # a link's target: ``**`` walks it as itself
                looked.add((st.st_dev, st.st_ino))
            hidden = part.startswith(".")
            states = self._closure(step.literal[part] if hidden else step.literal[part] | step.deep)
            same = next((e.name for e in entries if e.name in into_dirs and _key(e) == (st.st_dev, st.st_ino)), None)
            name = part if same is None else same
            into_dirs[name] = into_dirs.get(name, frozenset()) | states
        return looked

    def _through(self, path: str, link: bool, root: str, states: frozenset[State]) -> frozenset[State]:
        """The states a subfolder ``path`` (perhaps a link) is walked in.  A link to a folder above
        the camera's folder, or to it, is not gone through (every file again at each level); one
        within it (``latest -> 2024-06-01``) only for the rests of patterns its target is not
        walked with already (each file twice, under two paths): ``latest/*.jpg`` reads through it,
        ``*/*.jpg`` reads ``2024-06-01`` only."""
        if not link:
            return states
        target = os.path.realpath(path)
        inside = root.rstrip("/") + "/"
        if target == root or root.startswith(target.rstrip("/") + "/"):
            return frozenset()
        if not target.startswith(inside):
            return states
        walked = {self._parts[p][i:] for p, i in self._reached(target[len(inside):].split("/"))}
        return frozenset((p, i) for p, i in states if self._parts[p][i:] not in walked)

    def _reached(self, names: Sequence[str]) -> frozenset[State]:
        """The states the folder at ``names`` (a path in the camera's folder, no link on it) is
        walked in."""
        states = self._closure((p, 0) for p in range(len(self._parts)))
        for name in names:
            step = self._step(states)
            hidden = name.startswith(".")
            states = self._closure(step.into(name, hidden) | (set() if hidden else step.deep))
            if not states:
                break
        return states

    def _list(self, path: str, rel: str, barred: set[str]) -> Sequence[os.DirEntry[str]]:
        try:
            with os.scandir(path) as entries:
                return list(entries)
        except OSError as e:
            self._unlistable(path, rel, barred, e)
            return ()

    def _unlistable(self, path: str, rel: str, barred: set[str], error: OSError) -> None:
        """A subfolder gone since it was listed is passed over; one that cannot be listed (or gone
        through) too, said once while it stays so; any other error is the caller's."""
        if error.errno in GONE:
            return
        if error.errno not in BARRED:
            raise error
        if rel in barred:
            return
        barred.add(rel)
        if rel not in self._barred:
            log.warning("camera %s: cannot list image subfolder %s (%s): its files are not read until "
                        "it can be (give the service's user read and execute access to it)",
                        self.camera_id, path.rstrip("/"), error.strerror or error)


def _key(entry: os.DirEntry[str]) -> tuple[int, int] | None:
    """A listed folder's device and inode numbers (None: gone since listed)."""
    try:
        st = entry.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _descent(head: str, rel: str, name: str, states: frozenset[State], walked: frozenset[State],
             way: Way, link: bool) -> Way | None:
    """The way down to the subfolder ``rel + name`` (a link if ``link``) walked in ``walked``, or
    None where it is on it already in those states: a loop of links (``.snap/l1 -> .``) is gone
    round once, not until the path is too long for the system.  Stat-ed only from the first
    link on; one that cannot be is entered, its listing says why."""
    above, seen = way
    if seen is None and not link:
        return above + (states,), None
    try:
        if seen is None:  # the first link: the folders above it, the camera's own included
            parts = rel.split("/")[:-1]
            seen = frozenset(_stat_key(head + "".join(p + "/" for p in parts[:i]), s)
                             for i, s in enumerate(above + (states,)))
        key = _stat_key(head + rel + name, walked)
    except OSError:
        return above + (states,), seen
    return None if key in seen else (above, seen | {key})


def _stat_key(path: str, states: frozenset[State]) -> Seen:
    st = os.stat(path or ".")
    return st.st_dev, st.st_ino, states


def _is_dir(entry: os.DirEntry[str], follow: bool) -> bool:
    try:
        return entry.is_dir(follow_symlinks=follow)
    except OSError:
        return False
