"""A folder camera restarted on an empty folder: a share not mounted, or a drop box emptied
while edge-alpr was stopped, told apart by the file system its files were listed on at the last
run (kept in the ledger, ``share.ShareWatch.empty``).

Why: both listed an empty folder that was no mount point at the start, so both stayed
``reconnecting`` ("is its share mounted?") until the next upload, which for a retired or quiet
drop box never came.  Real files, the real ledger (SQLite in ``tmp_path``) and source, its scans
driven one by one; a real tmpfs where the test runs as root (``mounts.require``).  And a
share listed in fstab and not mounted, said from the first start (no file read yet).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import mounts
import pytest
from test_camera_folder_state import NAMES, _folder

from edge_alpr.stream.source_config import FolderSourceConfig
from edge_alpr.stream.sources import share
from edge_alpr.stream.sources.files import FolderSource
from edge_alpr.stream.sources.ledger import LEDGER, ReadLedger


def test_a_drop_box_emptied_while_stopped_is_waiting_when_its_file_system_is_the_same(tmp_path: Path) -> None:
    """A run that listed the files keeps the file system they were on: files deleted while
    stopped, the folder on the same one at the restart, are a drop box with nothing new
    (``waiting``; it was ``reconnecting``, "is its share mounted?", until the next upload)."""
    cfg, folder, state = _folder(tmp_path)
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    source.close()
    for name in NAMES:
        (folder / name).unlink()
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    assert source.failing_since is None and source.errors == 0
    assert source.waiting() == "waiting for files (none in the folder)"


def test_a_share_not_mounted_at_a_restart_names_the_file_system_its_files_were_on(tmp_path: Path) -> None:
    """Its files were listed on a CIFS share mounted on the folder (the ledger's row as such a run
    leaves it); restarted with the folder on another file system and empty, the camera is
    reconnecting and says the share is not mounted, then reads nothing again once it is back."""
    cfg, folder, state = _folder(tmp_path)
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    source.close()
    with closing(sqlite3.connect(state / LEDGER)) as db, db:
        db.execute("UPDATE folder SET mount = ? WHERE camera = 'drop'", (f"cifs //nas/drive on {folder}",))
    away = tmp_path / "server"
    folder.rename(away)
    folder.mkdir()
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    assert source.failing_since is not None and source.waiting() == ""
    assert f"on cifs //nas/drive on {folder}; it is now on " in (source.last_error or "")
    assert "its share is not mounted" in (source.last_error or "")
    folder.rmdir()
    away.rename(folder)
    source._scan()
    assert source.failing_since is None and source._queue == []


def test_a_real_share_not_mounted_at_a_restart_is_reconnecting(tmp_path: Path) -> None:
    """The same with a real tmpfs (root only): its files listed on it, unmounted while
    edge-alpr was stopped, the restart says so; mounted again, nothing is read again."""
    mounts.require(tmp_path)
    cfg, folder, state = _folder(tmp_path)
    away = tmp_path / "server"
    folder.rename(away)
    folder.mkdir()
    mounts.mount_tmpfs(folder)
    try:
        for name in NAMES:
            shutil.copy2(away / name, folder / name)
        source = FolderSource(cfg, "drop", threading.Event(), state)
        source._scan()
        assert source.failing_since is None and source._queue == []
        source.close()
    finally:
        mounts.unmount(folder)
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    assert source.failing_since is not None
    assert f"on tmpfs edge-alpr-test on {folder}; it is now on " in (source.last_error or "")
    mounts.mount_tmpfs(folder)
    try:
        for name in NAMES:
            shutil.copy2(away / name, folder / name)
        source._scan()
        assert source.failing_since is None and source._queue == []
    finally:
        mounts.unmount(folder)


def test_a_ledger_of_an_earlier_version_without_the_file_system_still_asks(tmp_path: Path) -> None:
    """A ``folder`` table of an earlier version (no ``mount`` column) is taken over; with no file
    system known, files gone while stopped still ask whether the share is mounted."""
    folder, state = tmp_path / "drop", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    with closing(sqlite3.connect(state / LEDGER)) as db, db:
        db.execute("CREATE TABLE folder (camera TEXT PRIMARY KEY, path TEXT NOT NULL)")
        db.execute("INSERT INTO folder VALUES ('drop', ?)", (str(folder.resolve()),))
    ReadLedger(state, "drop", folder.resolve(), 86400.0, 100).add([("a.jpg", (10, 10))])
    source = FolderSource(FolderSourceConfig(path=str(folder), poll_interval=3600), "drop", threading.Event(), state)
    source._scan()
    assert "is its share mounted?" in (source.last_error or "")


def test_a_share_listed_in_fstab_and_not_mounted_is_reconnecting_from_the_first_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No file read yet (a new camera, or no ledger): a share that failed to mount at boot listed
    its empty mount point and the camera said "waiting for files".  An fstab entry mounting a
    file system on the folder or above it, not mounted now, says what is wrong; an entry for
    another folder says nothing.  A real fstab file in ``tmp_path`` (``share.FSTAB``)."""
    folder = tmp_path / "srv" / "drive"
    folder.mkdir(parents=True)
    fstab = tmp_path / "fstab"
    monkeypatch.setattr(share, "FSTAB", fstab)
    cfg = FolderSourceConfig(path=str(folder), poll_interval=3600)
    fstab.write_text(f"# a comment\nUUID=1234 / ext4 defaults 0 1\n//nas/other {tmp_path}/elsewhere cifs _netdev 0 0\n")
    source = FolderSource(cfg, "drop", threading.Event(), None)
    source._scan()
    assert source.failing_since is None and source.waiting() == "waiting for files (none in the folder)"
    fstab.write_text(fstab.read_text() + f"//nas/drive {tmp_path}/srv cifs _netdev,credentials=/etc/nas 0 0\n")
    source._scan()
    assert source.failing_since is not None and source.waiting() == ""
    assert source.last_error == f"no files in {folder}, and //nas/drive (cifs) on {tmp_path}/srv, listed in " \
                                f"{fstab}, is not mounted"
    (folder / "a.jpg").write_bytes(b"x")  # files there: read (whatever is under the mount point)
    source._scan()
    assert source.failing_since is None


def test_a_folder_created_again_is_no_share_to_mount_and_one_unmounted_above_is(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Files listed, then the folder deleted and created again between two scans (``rm -rf``,
    ``mkdir``): it was warned as a share that "looks unmounted ... mount it again"; on the same
    file system it is said as what it is.  A share (a real tmpfs, root only) unmounted from the
    folder above, leaving the empty folder under it, is still warned."""
    caplog.set_level(logging.INFO, logger="edge_alpr.stream.sources")
    cfg, folder, state = _folder(tmp_path)
    data = (folder / NAMES[0]).read_bytes()
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    folder.rename(tmp_path / "deleted")  # kept: deleted, its inode could be the new folder's (ext4)
    folder.mkdir()
    source._scan()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert f"{folder} is another, empty folder than at the last scan, on the same file system" in caplog.text
    assert source.failing_since is None
    mounts.require(tmp_path)
    srv = tmp_path / "srv"
    (srv / "drop").mkdir(parents=True)  # the folder under the mount point
    mounts.mount_tmpfs(srv)
    try:
        (srv / "drop").mkdir()
        (srv / "drop" / "a.jpg").write_bytes(data)
        share = FolderSource(FolderSourceConfig(path=str(srv / "drop"), poll_interval=3600), "nas",
                             threading.Event(), None)
        share._scan()
    finally:
        mounts.unmount(srv)
    share._scan()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and f"the share at {srv / 'drop'} looks unmounted" in said[0], said


def test_the_same_file_system_under_another_device_name_is_no_share_to_mount(tmp_path: Path) -> None:
    """A kernel update names the root disk ``/dev/mmcblk0p2`` where it was ``/dev/root``: a drop
    box emptied while stopped is still the same file system (its type and mount point), waiting."""
    cfg, folder, state = _folder(tmp_path)
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    source.close()
    fstype, _, rest = (share.mount_of(folder) or "").partition(" ")
    assert rest, "no /proc/self/mountinfo here"
    with closing(sqlite3.connect(state / LEDGER)) as db, db:
        db.execute("UPDATE folder SET mount = ?", (f"{fstype} /dev/renamed on {rest.rpartition(' on ')[2]}",))
    for name in NAMES:
        (folder / name).unlink()
    source = FolderSource(cfg, "drop", threading.Event(), state)
    source._scan()
    assert source.failing_since is None and source.waiting() == "waiting for files (none in the folder)"


def test_a_bind_mount_listed_in_fstab_and_mounted_is_no_share_to_mount(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An fstab ``bind`` entry of a folder on the same file system (``os.path.ismount`` says False
    there) was said "not mounted" while mounted: an emptied drop box turned ``reconnecting``.
    Mounted is what ``/proc/self/mountinfo`` says; unmounted, it is still said.  Below an entry
    not mounted (``noauto``), a folder mounted by something else is mounted.  Real mounts (root
    only), a real fstab file in ``tmp_path`` (``share.FSTAB``)."""
    mounts.require(tmp_path)
    fstab = tmp_path / "fstab"
    monkeypatch.setattr(share, "FSTAB", fstab)
    data, folder = tmp_path / "data" / "uploads", tmp_path / "export" / "cam"
    data.mkdir(parents=True)
    folder.mkdir(parents=True)
    fstab.write_text(f"{data} {folder} none bind,nofail 0 0\n")
    mounts.bind(data, folder)
    try:
        source = FolderSource(FolderSourceConfig(path=str(folder), poll_interval=3600), "drop",
                              threading.Event(), None)
        source._scan()
        assert source.failing_since is None, source.last_error
        assert source.waiting() == "waiting for files (none in the folder)"
    finally:
        mounts.unmount(folder)
    source._scan()
    assert f"and {data} (none) on {folder}, listed in {fstab}, is not mounted" in (source.last_error or "")
    srv = tmp_path / "srv"
    (srv / "cam").mkdir(parents=True)
    fstab.write_text(f"//nas/drive {srv} cifs noauto,_netdev 0 0\n")
    mounts.mount_tmpfs(srv / "cam")
    try:
        source = FolderSource(FolderSourceConfig(path=str(srv / "cam"), poll_interval=3600), "nas",
                              threading.Event(), None)
        source._scan()
        assert source.failing_since is None, source.last_error
    finally:
        mounts.unmount(srv / "cam")
    source = FolderSource(FolderSourceConfig(path=str(srv / "cam"), poll_interval=3600), "nas",
                          threading.Event(), None)
    source._scan()
    assert f"//nas/drive (cifs) on {srv}, listed in {fstab}, is not mounted" in (source.last_error or "")
