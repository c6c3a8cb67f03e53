"""Which mount holds a path, and what to advise when it is read-only.

Why a module of its own: a state folder on a read-only mount is no matter of modes, so the
advice must name the mount, and that mount is not found by climbing parent folders while the
device number stays the same: a read-only bind mount (what systemd's ``ProtectSystem=strict``
makes of every folder but a few) has the device number of the file system below it, and the
climb ends at ``/``, advising ``mount -o remount,rw /``.  The kernel's own table,
``/proc/self/mountinfo``, says where each mount is; a bind mount made by systemd for the
service is fixed in its unit, not by a remount.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
# mountinfo writes a space, tab, newline and backslash in a path as an octal escape (\040)
_ESCAPE = re.compile(r"\\([0-7]{3})")


def mount_points(mountinfo: str) -> list[str]:
    """The mount points of a ``mountinfo`` text (its fifth field), unescaped, in its order
    (a later mount on the same point is the one on top)."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            points.append(_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[4]))
    return points


def mount_point(path: Path, mountinfo: str | None = None) -> Path | None:
    """The mount point holding ``path`` (its real path): the longest mount point that is the path
    or one of its parents, the last one listed where mounts are stacked; None where the table
    cannot be read (no /proc)."""
    try:
        text = MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape") if mountinfo is None else mountinfo
        real = os.path.realpath(path)
    except OSError:
        return None
    best: str | None = None
    for point in mount_points(text):
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best)):
            best = point
    return None if best is None else Path(best)


def under_systemd() -> bool:
    """Whether this process is a systemd service (systemd sets ``INVOCATION_ID`` in its
    environment), whose unit decides which folders are writable."""
    return bool(os.environ.get("INVOCATION_ID"))


def read_only_fix(mount: Path, path: Path, setting: str) -> str:
    """The end of the advice for ``path`` on the read-only ``mount``: under systemd the unit's
    settings (``ProtectSystem=strict`` mounts all but its own folders read-only, in the service's
    mount namespace, where no remount from outside reaches), else a remount."""
    if under_systemd():
        return (f"; as a systemd service, the unit's ProtectSystem=strict (or ReadOnlyPaths=) makes every "
                f"folder read-only but its own: leave {setting} unset to use the unit's StateDirectory= "
                f"(/var/lib/edge-alpr), or add ReadWritePaths={path} to the unit (systemctl edit edge-alpr)")
    return f", or remount it (mount -o remount,rw {mount})"
