"""The file tree ``test_deb.py`` compares before install and after purge, without what a booted
Debian system changes by itself.  Why a module of its own: the filter is tested in ``make test``
(``test_package_tree.py``), where the package test itself (a container boot) does not run."""

from __future__ import annotations

import os
import re
from pathlib import Path

# Paths a booted Debian system changes by itself (journal, apt/dpkg databases, systemd's
# bookkeeping): not the package's leftovers.  Everything else new after purge is a failure.
VOLATILE = ("proc", "sys", "dev", "run", "tmp", "var/tmp", "var/log", "var/cache/apt",
            "var/cache/debconf", "var/cache/ldconfig", "var/lib/apt", "var/lib/dpkg",
            "var/lib/dbus", "var/lib/systemd/random-seed", "var/lib/systemd/timers",
            "var/lib/systemd/catalog", "var/lib/systemd/coredump", "var/lib/systemd/pstore",
            "var/lib/systemd/linger", "var/lib/systemd/timesync", "etc/machine-id",
            "etc/ld.so.cache", "root/edge-alpr.deb", "var/lib/private",
            "etc/.updated", "var/.updated",  # systemd-update-done's stamps (trixie writes them at boot)
            "var/lib/ucf")  # ucf's database (its hashfile backups), like dpkg's
# dpkg-db-backup's own daily copies of dpkg's database and the alternatives, rotated (.0, .1.gz,
# ...): only these in var/backups, so a file the package left there is still seen
DPKG_BACKUP = re.compile(r"var/backups/(dpkg\.(status|diversions|statoverride|arch)|alternatives\.tar"
                         r"|apt\.extended_states)\.\d+(\.gz)?")


def volatile(path: str) -> bool:
    """Whether ``path`` (relative to the root) is one the system changes by itself."""
    return path in VOLATILE or DPKG_BACKUP.fullmatch(path) is not None


def tree(root: Path) -> set[str]:
    """Every path under ``root`` (relative), without the volatile ones."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel
        dirnames[:] = [d for d in dirnames if not volatile(os.path.join(rel, d))]
        for name in dirnames + filenames:
            path = os.path.join(rel, name)
            if not volatile(path):
                out.add(path)
    return out
