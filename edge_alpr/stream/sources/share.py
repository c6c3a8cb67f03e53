"""A folder camera's folder as something that can go away: deleted, or a CIFS/NFS/SSHFS share
that dropped.

Why: when a share drops (server reboot, Wi-Fi blip), its mount point lists as an empty folder
(unmounted: the folder under it), or listing fails with a stale handle's error (``EIO``,
``ESTALE``, ``EHOSTDOWN``, ``ENOTCONN``...).  None of these is a bad file or a reason to crash,
loop or read anything again: the camera is ``reconnecting`` (its health), said once an episode
naming the folder and the error, the folder is looked at every ``poll_interval``, and the files
read before stay remembered (``ledger.py``).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from pathlib import Path

from ...mounts import mount_point

log = logging.getLogger("edge_alpr.stream.sources.files")  # the folder camera's lines, one logger

# a network file system's errors while its server or the network is away, or its handle stale
SHARE_DOWN = frozenset({errno.EIO, errno.ESTALE, errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.ENOTCONN,
                        errno.ETIMEDOUT, errno.ENETDOWN, errno.ENETUNREACH, errno.ECONNRESET,
                        errno.ECONNABORTED})
MOUNTINFO = Path("/proc/self/mountinfo")  # the mounts this process sees
FSTAB = Path("/etc/fstab")  # the mounts made at boot (read at each empty listing: edited while running)


def describe(error: OSError) -> str:
    """``ESTALE: Stale file handle``: the symbol an admin searches for, and its words."""
    name = errno.errorcode.get(error.errno or 0)
    why = error.strerror or str(error)
    return f"{name}: {why}" if name else why


class ShareWatch:
    """Whether a camera's folder is there, mounted and the same folder; the source calls
    ``unmounted`` before each listing, ``lost`` when listing or reading fails, and ``listed``
    after a listing that worked."""

    def __init__(self, path: Path, camera_id: str, present_before: int = 0, mount_before: str | None = None,
                 mounts: Path = MOUNTINFO) -> None:
        self.path = path
        self.camera_id = camera_id
        self.present_before = present_before  # files read before this start, there at its last scan
        self.mount_before = mount_before  # the file system (``mount_of``) they were listed on then
        self.mounts = mounts
        self._on: tuple[int, str | None] | None = None  # the folder's st_dev, and its mount_of
        self.mount_point = _ismount(path)  # at start, or since: a share mounted there
        self.lost_since: float | None = None  # monotonic; the folder could not be read since
        self._files = 0  # files found by the last listing that found any
        self._identity: tuple[int, int] | None = None  # the folder's (st_dev, st_ino) then
        self._empty_said = False

    def unmounted(self) -> str | None:
        """What is wrong when the folder was a mount point (when the camera started, or since)
        and is not now: the share's files are not there, only the empty folder under it."""
        if _ismount(self.path):
            self.mount_point = True
            return None
        if not self.mount_point or not os.path.isdir(self.path):
            return None  # not a share's mount point, or gone (its listing says which)
        return f"the share at {self.path} looks unmounted: it was a mount point and is not now"

    def empty(self, count: int) -> str | None:
        """What is wrong when a listing finds no files (``count`` 0) in a folder that, at its last
        scan before this start, held files read then, and none was listed since: a share not
        mounted (yet) at boot lists its mount point, an empty folder, which ``unmounted`` cannot
        tell (not a mount point then either); "waiting" would say the camera is connected.  The
        file system the files were listed on then (``mount_before``, kept by the ledger) tells it
        from files deleted while edge-alpr was stopped: the same one now, nothing is wrong;
        another, the share is not mounted.  Unknown (a ledger of an earlier version, or no
        ``/proc``), both look the same: this lasts until a file is listed."""
        if count:
            self.present_before = 0
            return None
        declared = unmounted_entry(self.path, self.mounts)
        if declared is not None:
            return f"no files in {self.path}, and {declared} is not mounted"
        if not self.present_before:
            return None
        n = self.present_before
        files = f"no files in {self.path}, where {n} file{'' if n == 1 else 's'} read before this start " \
                f"{'was' if n == 1 else 'were'}"
        now = self.mount()
        if self.mount_before is None or now is None:
            return (f"{files}: is its share mounted? (files deleted while edge-alpr was stopped: this "
                    f"ends at the first new file)")
        if _place(now) == _place(self.mount_before):  # its device's name may change (/dev/root)
            self.present_before = 0  # deleted while stopped, on the same file system: a drop box emptied
            return None
        return f"{files}, on {self.mount_before}; it is now on {now}: its share is not mounted"

    def mount(self) -> str | None:
        """The file system the folder is on now (``mount_of``), looked up again only when its
        device changed."""
        try:
            dev = os.stat(self.path).st_dev
        except OSError:
            return None
        if self._on is None or self._on[0] != dev:
            self._on = dev, mount_of(self.path, self.mounts)
        return self._on[1]

    def lost(self, error: OSError | str) -> str:
        """The folder cannot be read (``error``, or what ``unmounted`` said): one warning an
        episode; returns the camera's ``last_error``."""
        if isinstance(error, str):
            reason = error
            fix = "mount it again (mount -a, or see why its server or the network is down)"
        elif error.errno in SHARE_DOWN:
            reason = f"cannot reach the share at {self.path} ({describe(error)})"
            fix = "its server or the network is down, or its mount is stale (mount it again)"
        else:
            reason = f"cannot list {self.path}: {error.strerror or error}"
            fix = "create it again or fix the camera's source.path"
        if self.lost_since is None:
            self.lost_since = time.monotonic()
            if isinstance(error, OSError) and error.errno not in SHARE_DOWN:
                head = f"cannot list its image folder {self.path} ({error.strerror or error})"
            else:
                head = reason
            log.warning("camera %s: %s: %s; it is looked at every poll_interval, its new files are "
                        "read once it is back, and the files read before are not read again",
                        self.camera_id, head, fix)
        return reason

    def back(self) -> bool:
        """A listing worked: True (said once) if the folder could not be read until now."""
        if self.lost_since is None:
            return False
        log.info("camera %s: image folder %s is back after %.0f s", self.camera_id, self.path,
                 time.monotonic() - self.lost_since)
        self.lost_since = None
        return True

    def listed(self, count: int) -> None:
        """A listing found ``count`` files: when none where there were some, in a folder that is
        another one than at that listing on another device (a share unmounted from under it, or
        its server serving another disk), warn once; on the same device (the folder deleted and
        created again: a warning to mount it misled), say so; a folder emptied in place
        (processed files deleted) is said nothing."""
        try:
            st = os.stat(self.path)
        except OSError:
            return
        identity = (st.st_dev, st.st_ino)
        if count:
            if self._empty_said:
                log.info("camera %s: the share at %s has files again (%d)", self.camera_id, self.path, count)
            self._files, self._identity, self._empty_said = count, identity, False
        elif self._files and identity != self._identity and not self._empty_said:
            self._empty_said = True
            if self._identity is not None and identity[0] == self._identity[0]:  # one file system
                log.info("camera %s: %s is another, empty folder than at the last scan, on the same file "
                         "system (deleted and created again): its new files are read", self.camera_id, self.path)
                return
            log.warning("camera %s: the share at %s looks unmounted: empty where %d files were (another "
                        "folder than at the last scan); mount it again; the files read before are not "
                        "read again when they are back", self.camera_id, self.path, self._files)


def mount_of(path: Path, mounts: Path = MOUNTINFO) -> str | None:
    """The file system ``path`` is on (``cifs //nas/drive on /srv/ftp``: the last mount of the
    longest mount point above it, from ``mounts``, a ``/proc/self/mountinfo``); None where that
    cannot be read."""
    try:
        real = os.path.realpath(path)
        lines = mounts.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for line in lines:
        fields, _, rest = line.partition(" - ")
        head, tail = fields.split(), rest.split()
        if len(head) < 5 or len(tail) < 2:
            continue
        point = _unescape(head[4])
        if real == point or real.startswith(point.rstrip("/") + "/"):
            if best is None or len(point) >= best[0]:  # the last of a stack of mounts is the one seen
                best = len(point), f"{_unescape(tail[0])} {_unescape(tail[1])} on {point}"
    return best[1] if best is not None else None


def unmounted_entry(path: Path, mounts: Path = MOUNTINFO) -> str | None:
    """The ``FSTAB`` entry that mounts a file system on ``path`` or a folder above it (the
    nearest), when nothing is mounted there now (``//nas/drive (cifs) on /srv/ftp, listed in
    /etc/fstab``); None where none is, or it is mounted.  Why: a share that failed to mount at
    boot, on a camera with no file read yet, listed its empty mount point: "waiting for files".
    Mounted is what ``mounts`` (``/proc/self/mountinfo``) says: the mount holding ``path`` is on
    the entry's folder or below it.  ``os.path.ismount`` said False for a bind mount of a folder
    of the same file system (an emptied drop box was then told to "mount it again"), and a
    folder mounted by something else below an entry not mounted (``noauto``) is mounted too."""
    try:
        real = os.path.realpath(path)
        lines = FSTAB.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError:
        return None
    best: tuple[str, str, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith("#"):
            continue
        target = os.path.normpath(_unescape(fields[1]))
        if target != "/" and (real == target or real.startswith(target + "/")) \
                and (best is None or len(target) > len(best[0])):
            best = target, _unescape(fields[0]), fields[2]
    if best is None or _mounted_within(real, best[0], mounts):
        return None
    return f"{best[1]} ({best[2]}) on {best[0]}, listed in {FSTAB},"


def _mounted_within(real: str, target: str, mounts: Path) -> bool:
    """Whether the mount holding ``real`` (a real path at or below ``target``) is on ``target``
    or below it, from ``mounts``; where that cannot be read, whether ``target`` is a mount point."""
    try:
        point = mount_point(Path(real), mounts.read_text(encoding="utf-8", errors="surrogateescape"))
    except OSError:
        point = None
    if point is None:
        return _ismount(Path(target))
    return len(str(point)) >= len(target)  # both are ``real`` or folders above it


def _place(mount: str) -> tuple[str, str]:
    """A ``mount_of``'s type and mount point, without its device: the same disk is named
    ``/dev/root`` by one kernel and ``/dev/mmcblk0p2`` by another."""
    return mount.partition(" ")[0], mount.rpartition(" on ")[2]


def _unescape(field: str) -> str:
    """A mountinfo field's octal escapes (``\\040``: a space) undone."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _ismount(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:  # ismount passes over most; a stale handle may still raise
        return False
