"""How a folder camera reads the system's mount tables (``share.py``): ``/etc/fstab`` to tell a
share not mounted at boot, ``/proc/self/mountinfo`` for the file system a folder is on.

Real files in ``tmp_path`` in the kernel's and fstab's formats (``share.FSTAB``, and the
``mounts`` argument in place of ``/proc/self/mountinfo``): what they hold here cannot be chosen.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_alpr.stream.sources import share


def _mountinfo(tmp_path: Path, *rows: tuple[str, str, str]) -> Path:
    """A mountinfo file of ``rows`` (mount point, type, source) as the kernel writes them."""
    lines = [f"{20 + i} 1 0:{30 + i} / {point} rw,relatime shared:{i} - {kind} {source} rw"
             for i, (point, kind, source) in enumerate(rows)]
    table = tmp_path / "mountinfo"
    table.write_text("\n".join(lines) + "\n")
    return table


def test_of_mounts_stacked_on_one_folder_the_last_is_the_one_seen(tmp_path: Path) -> None:
    """A share mounted over another on the same folder (a second ``mount`` without unmounting)
    hides the first: the folder's files are the last mount's, and the file system kept for it is
    that one, not the first listed."""
    folder = tmp_path / "srv"
    table = _mountinfo(tmp_path, ("/", "ext4", "/dev/root"), (str(folder), "cifs", "//nas/old"),
                       (str(folder), "cifs", "//nas/new"), ("/elsewhere", "tmpfs", "tmpfs"))
    assert share.mount_of(folder / "cam", table) == f"cifs //nas/new on {folder}"
    assert share.mount_of(tmp_path, table) == "ext4 /dev/root on /"


def test_an_fstab_entry_with_a_space_in_its_folder_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fstab writes a space in a path as ``\\040`` (``/srv/my\\040share``): undone, a share
    mounted on a folder with a space in its name and not mounted is said."""
    folder = tmp_path / "my share" / "cam"
    folder.mkdir(parents=True)
    fstab = tmp_path / "fstab"
    monkeypatch.setattr(share, "FSTAB", fstab)
    escaped = str(tmp_path / "my share").replace(" ", "\\040")
    fstab.write_text(f"//nas/my\\040drive\t{escaped}\tcifs\tnoauto,_netdev 0 0\n")
    table = _mountinfo(tmp_path, ("/", "ext4", "/dev/root"))
    assert share.unmounted_entry(folder, table) == \
        f"//nas/my drive (cifs) on {tmp_path / 'my share'}, listed in {fstab},"


def test_a_commented_out_fstab_entry_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry commented out (``#`` and no space: the usual way to disable one) mounts
    nothing: the folder under it is no share to mount.  The same entry not commented out is."""
    folder = tmp_path / "srv" / "cam"
    folder.mkdir(parents=True)
    fstab = tmp_path / "fstab"
    monkeypatch.setattr(share, "FSTAB", fstab)
    table = _mountinfo(tmp_path, ("/", "ext4", "/dev/root"))
    entry = f"//nas/drive {tmp_path / 'srv'} cifs _netdev 0 0\n"
    fstab.write_text("#" + entry + "   # " + entry)
    assert share.unmounted_entry(folder, table) is None
    fstab.write_text(entry)
    assert share.unmounted_entry(folder, table) == \
        f"//nas/drive (cifs) on {tmp_path / 'srv'}, listed in {fstab},"
