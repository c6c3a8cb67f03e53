"""Which mount holds a path, and what to advise when it is read-only.

Why a module of its own: a state folder on a read-only mount is no matter of modes, so the
advice must name the mount, and that mount is not found by climbing parent folders while the
device number stays the same: a read-only bind mount (what systemd's ``ProtectSystem=strict``
makes of every folder but a few) has the device number of the file system below it, and the
climb ends at ``/``, advising ``mount -o remount,rw /``.  The kernel's own table,
``/proc/self/mountinfo``, says where each mount is; a bind mount made by systemd for the
service is fixed in its unit, not by a remount.

Two kinds of read-only mount need two fixes, and the table tells them apart: a read-only bind
mount (systemd's ``ProtectSystem=``) is ``ro`` in its own options but ``rw`` in its file
system's (the line's last field, the super options); a file system that is itself read-only
(an SD card remounted ``ro`` by the kernel after write errors) is ``ro`` in both, and no unit
setting makes it writable: it needs a check (``fsck``) and a remount.
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
    return [point for point, _ in _rows(mountinfo)]


def _rows(mountinfo: str) -> list[tuple[str, bool]]:
    """Each line's mount point (unescaped) and whether its super options (the last field, those
    of the file system, not of this mount of it) say ``ro``."""
    rows = []
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            point = _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
            rows.append((point, "ro" in fields[-1].split(",")))
    return rows


def mount_point(path: Path, mountinfo: str | None = None) -> Path | None:
    """The mount point holding ``path`` (its real path): the longest mount point that is the path
    or one of its parents, the last one listed where mounts are stacked; None where the table
    cannot be read (no /proc)."""
    found = mount_entry(path, mountinfo)
    return None if found is None else found[0]


def mount_entry(path: Path, mountinfo: str | None = None) -> tuple[Path, bool] | None:
    """The mount point holding ``path`` (as ``mount_point``) and whether its file system is itself
    read-only (``ro`` in the super options, the line's last field), not only this mount of it;
    None where the table cannot be read (no /proc)."""
    try:
        text = MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape") if mountinfo is None else mountinfo
        real = os.path.realpath(path)
    except OSError:
        return None
    best: str | None = None
    whole_ro = False
    for point, ro in _rows(text):
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best)):
            best, whole_ro = point, ro
    return None if best is None else (Path(best), whole_ro)


def under_systemd() -> bool:
    """Whether this process is a systemd service (systemd sets ``INVOCATION_ID`` in its
    environment), whose unit decides which folders are writable."""
    return bool(os.environ.get("INVOCATION_ID"))


def read_only_fix(mount: Path, path: Path, setting: str, whole_fs: bool = False) -> str:
    """The end of the advice for ``path`` on the read-only ``mount``: a file system that is itself
    read-only (``whole_fs``: after errors, or mounted so) a check and a remount, since no unit
    setting reaches it; else under systemd the unit's settings (``ProtectSystem=strict`` mounts
    all but its own folders read-only, in the service's mount namespace, where no remount from
    outside reaches), else a remount.  The path is given resolved: a unit's ReadWritePaths= takes
    an absolute path, and a symlink there is not the mount it names."""
    if whole_fs:
        return (f"; the file system itself is read-only (the kernel remounts one read-only after write "
                f"errors, e.g. on a failing SD card): see dmesg, check it (fsck) and remount it "
                f"(mount -o remount,rw {mount})")
    if under_systemd():
        path = Path(os.path.realpath(path))
        return (f"; as a systemd service, the unit's ProtectSystem=strict (or ReadOnlyPaths=) makes every "
                f"folder read-only but its own: leave {setting} unset to use the unit's StateDirectory= "
                f"(/var/lib/edge-alpr), or add ReadWritePaths={path} to the unit (systemctl edit edge-alpr)")
    return f", or remount it (mount -o remount,rw {mount})"
