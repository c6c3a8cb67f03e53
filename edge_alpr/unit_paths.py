"""The unit's ``RequiresMountsFor=`` for a path that is not there (a camera's file, the models
folder): what ``run`` and ``serve`` add to their error, for a disk mounted after boot.

Why here: the line is copied into ``systemctl edit edge-alpr`` as it is shown, and systemd reads
its value as a list of words (quotes and backslashes unquoted) whose ``%`` start specifiers: a
path with a space was two paths (the second not absolute, ignored), one with ``%`` another
path.  And where a file stands in the way of the path (``/srv/notes/clip.mp4``, ``notes`` a
file), no mount brings it: nothing is offered there.
"""

from __future__ import annotations

import os
from pathlib import Path

_QUOTED = frozenset(" \t\n\r\"'\\")


def unit_path(path: Path) -> str:
    """``path`` as a word of a unit file's path list: ``%`` doubled (no specifier), and quoted in
    ``"..."`` with ``\\`` before ``\\`` and ``"`` where it holds a space, a quote or a backslash."""
    text = str(path).replace("%", "%%")
    if not _QUOTED.intersection(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mounts_advice(path: Path) -> str:
    """`` (on a disk mounted at boot, add RequiresMountsFor=PATH ...)`` for a missing ``path``,
    made absolute as this process finds it (``/`` for the service, which systemd runs from /);
    empty where a file stands where a folder of the path should be."""
    here = path.absolute()
    blocker = next(p for p in (here, *here.parents) if os.path.lexists(p))  # "/" at least
    if blocker != here and blocker.exists() and not blocker.is_dir():  # a link to nothing: a mount may bring it
        return ""
    return (f" (on a disk mounted at boot, add RequiresMountsFor={unit_path(here)} to the service: "
            "systemctl edit edge-alpr)")
