"""The purge check's filter (``deb_tree.py``): the system's own dpkg database backups are left
out, anything else in var/backups is seen.  Why: the whole var/backups was left out, so a file
the package left there passed the purge check unseen."""

from __future__ import annotations

from pathlib import Path

from tests.deb_tree import tree


def test_only_dpkg_s_own_backups_are_left_out_of_the_tree(tmp_path: Path) -> None:
    backups = tmp_path / "var" / "backups"
    backups.mkdir(parents=True)
    system = ("dpkg.status.0", "dpkg.status.1.gz", "dpkg.diversions.0", "dpkg.statoverride.2.gz",
              "dpkg.arch.0", "alternatives.tar.0", "apt.extended_states.1.gz")
    left = ("edge-alpr.tar", "dpkg.status.0.bak", "edge-alpr.dpkg.status.0", "passwd.bak")
    for name in system + left:
        (backups / name).write_text("x")
    (tmp_path / "var" / "log").mkdir()
    (tmp_path / "var" / "log" / "syslog").write_text("x")
    assert tree(tmp_path) == {"var", "var/backups", *(f"var/backups/{name}" for name in left)}
