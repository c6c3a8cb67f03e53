"""Real mounts for the tests of a folder camera whose share goes away: a tmpfs (a share that is
mounted, then unmounted) and a dead FUSE connection (a share whose server went away: every
access fails with ``ENOTCONN``, "Transport endpoint is not connected", as under an sshfs whose
process died or a CIFS/NFS mount gone stale).  They need root with CAP_SYS_ADMIN; ``require``
skips the test, saying why, elsewhere.  Mounted with mount(2) through ctypes: no tool needed.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MNT_DETACH = 2
MS_BIND = 4096
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: Path, kind: str, options: str) -> None:
    if _libc.mount(source.encode(), str(target).encode(), kind.encode(), 0, options.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(target))


def unmount(target: Path) -> None:
    """Detach the mount at ``target`` (lazily: a camera thread in the middle of a listing keeps
    nothing mounted)."""
    if _libc.umount2(str(target).encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(target))


def require(scratch: Path) -> None:
    """Skip the test, saying why, where this process cannot mount (not root, no CAP_SYS_ADMIN,
    no /dev/fuse)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a share needs root (CAP_SYS_ADMIN); run the tests as root to cover it")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse here: the stale share is a dead FUSE connection")
    probe = scratch / "mount-probe"
    probe.mkdir()
    try:
        _mount("edge-alpr-test", probe, "tmpfs", "size=64k")
    except OSError as e:
        pytest.skip(f"cannot mount here ({e.strerror}): needs root with CAP_SYS_ADMIN")
    unmount(probe)
    probe.rmdir()


def mount_tmpfs(target: Path) -> None:
    """An empty file system at ``target``: the share, mounted."""
    _mount("edge-alpr-test", target, "tmpfs", "size=16m,mode=0755")


def bind(source: Path, target: Path) -> None:
    """``source`` seen at ``target`` too (``mount --bind``): on the same file system, as an fstab
    ``bind`` entry makes it, ``os.path.ismount`` says False at ``target``."""
    if _libc.mount(str(source).encode(), str(target).encode(), None, MS_BIND, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(target))


@contextmanager
def stale_share(target: Path) -> Iterator[None]:
    """A FUSE mount at ``target`` whose connection is gone (its /dev/fuse descriptor closed before
    any answer): the kernel fails every access with ENOTCONN until it is unmounted."""
    fd = os.open("/dev/fuse", os.O_RDWR)
    try:
        _mount("edge-alpr-test", target, "fuse", f"fd={fd},rootmode=40000,user_id=0,group_id=0")
    finally:
        os.close(fd)
    try:
        yield
    finally:
        unmount(target)
