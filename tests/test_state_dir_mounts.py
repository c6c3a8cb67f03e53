"""A state folder on a read-only mount: the error names that mount and the fix that reaches it.

A read-only bind mount (what systemd's ``ProtectSystem=strict`` makes of ``/var/lib/...`` and
most other folders for a service) keeps the device number of the file system below it, so the
mount cannot be found by climbing folders while that number stays the same: that climb named
``/`` and advised ``mount -o remount,rw /``.  Real parts: a read-only bind mount made in a mount
namespace of its own (``unshare -m``, root only), the CLI's check run in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_alpr.mounts import mount_entry, mount_point

REPO = Path(__file__).resolve().parents[1]
CHECK = ("import sys; from pathlib import Path; from edge_alpr.statedir import writable_folder\n"
         "try:\n    writable_folder(Path(sys.argv[1]), 'state_dir', 'site.yaml')\n"
         "except Exception as e:\n    print(e)\n")


def error_on_read_only_bind(top: Path, systemd: bool = False, state: Path | str | None = None,
                            whole_fs: bool = False, cwd: Path = REPO) -> str:
    """The state-folder error for ``state`` (``top/state``, made with a ``history`` folder, by
    default), ``top`` bind-mounted read-only on itself; ``systemd``: as a service (systemd sets
    INVOCATION_ID in its environment); ``whole_fs``: ``top`` a tmpfs remounted read-only as a
    whole instead (as the kernel does to a file system after write errors)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a bind mount needs root and unshare")
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True, text=True)
    if probe.returncode != 0:  # a chroot whose root is no mount point: no mount namespace of its own
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.strip()}")
    env = {k: v for k, v in os.environ.items() if k != "INVOCATION_ID"} | {"PYTHONPATH": str(REPO)}
    if systemd:
        env["INVOCATION_ID"] = "0123456789abcdef"
    if state is None:
        state = top / "state"
        (state / "history").mkdir(parents=True)
    top.mkdir(parents=True, exist_ok=True)
    if whole_fs:
        mount = (f'mount -t tmpfs tmpfs "{top}" && mkdir -p "{top}/state/history" && '
                 f'mount -o remount,ro "{top}"')
    else:
        mount = f'mount --bind "{top}" "{top}" && mount -o remount,bind,ro "{top}"'
    script = f'{mount} && exec "{sys.executable}" -c "$0" "{state}"'
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, CHECK],
                          capture_output=True, text=True, cwd=cwd, env=env)
    if "mount" in done.stderr and done.returncode != 0:
        pytest.skip(f"cannot make a bind mount here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_read_only_bind_mount_is_named_not_the_root(tmp_path: Path) -> None:
    top = tmp_path / "bound dir"  # a space: mountinfo writes it \040
    said = error_on_read_only_bind(top)
    assert f"the file system holding it ({top}) is mounted read-only" in said, said
    assert f"mount -o remount,rw {top})" in said and "remount,rw /)" not in said, said


def test_under_systemd_the_fix_is_the_units_not_a_remount(tmp_path: Path) -> None:
    """A service's read-only mounts are its unit's, in its own mount namespace: no remount from a
    shell reaches them, so the advice is the unit's StateDirectory= or ReadWritePaths=."""
    said = error_on_read_only_bind(tmp_path / "ro", systemd=True)
    assert f"ReadWritePaths={tmp_path / 'ro' / 'state'}" in said and "StateDirectory=" in said, said
    assert "remount" not in said, said


def test_the_mount_point_is_the_longest_listed_parent_with_escapes_read() -> None:
    table = ("22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n"
             "40 22 8:3 / /data/my\\040disk rw,relatime shared:2 - ext4 /dev/sda3 rw\n"
             "41 40 8:2 /srv /data/my\\040disk/srv ro,relatime shared:1 - ext4 /dev/sda2 rw\n")
    assert mount_point(Path("/data/my disk/state"), table) == Path("/data/my disk")
    assert mount_point(Path("/data/my disk/srv/state"), table) == Path("/data/my disk/srv")
    assert mount_point(Path("/data/my diskette/state"), table) == Path("/")  # a prefix, not a parent


def test_a_file_system_read_only_itself_is_advised_a_check_not_a_unit_setting(tmp_path: Path) -> None:
    """An SD card's file system remounted read-only by the kernel after write errors is read-only
    in its own (super) options, not only in this mount's: no ReadWritePaths= makes it writable,
    even for a service, so the advice is a check and a remount."""
    for systemd in (True, False):
        top = tmp_path / f"card {systemd}"
        said = error_on_read_only_bind(top, systemd=systemd, whole_fs=True)
        assert f"({top}) is mounted read-only" in said and "fsck" in said, said
        assert f"mount -o remount,rw {top})" in said and "ReadWritePaths" not in said, said


def test_a_state_folder_not_made_yet_on_a_read_only_mount_gets_the_same_advice(tmp_path: Path) -> None:
    """``state_dir: /srv/x`` under ProtectSystem=strict: the folder cannot be made, and the
    mount of its nearest existing parent is named, with the unit's fix for the folder."""
    top = tmp_path / "ro"
    state = top / "not" / "yet"
    said = error_on_read_only_bind(top, systemd=True, state=state)
    assert f"the file system holding it ({top}) is mounted read-only" in said, said
    assert f"ReadWritePaths={state} " in said and "remount" not in said, said


def test_the_unit_fix_names_the_folder_by_its_absolute_path(tmp_path: Path) -> None:
    """A unit's ReadWritePaths= takes an absolute path: a state_dir written relative is resolved."""
    said = error_on_read_only_bind(tmp_path / "ro", systemd=True, state="ro/state", cwd=tmp_path)
    assert f"ReadWritePaths={tmp_path / 'ro' / 'state'} " in said, said


def test_the_table_tells_a_read_only_bind_mount_from_a_read_only_file_system() -> None:
    """The last field (the file system's own options) says ``ro`` only for the second."""
    table = ("22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n"
             "40 22 8:2 /var/lib /var/lib ro,relatime shared:2 - ext4 /dev/sda2 rw,errors=remount-ro\n"
             "41 22 179:2 / /data/sd ro,relatime - ext4 /dev/mmcblk0p2 ro,errors=remount-ro\n")
    assert mount_entry(Path("/var/lib/x"), table) == (Path("/var/lib"), False)
    assert mount_entry(Path("/data/sd/x"), table) == (Path("/data/sd"), True)
