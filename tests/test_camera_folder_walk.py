"""Which files a folder camera's ``/`` patterns find (``walk.Walk``): ``.`` parts, links within
the folder, a link to a hidden file, a folder named without a wildcard, a file name in upper
case, a subfolder deleted while it is walked.

Real files in ``tmp_path``, listed by the real ``listing.Patterns`` (as each scan does) or read by
the real source.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import cv2
import mounts
import numpy as np
import pytest

from edge_alpr.stream.source_config import FolderSourceConfig
from edge_alpr.stream.sources import walk
from edge_alpr.stream.sources.files import FolderSource
from edge_alpr.stream.sources.listing import Marks, Patterns


def _files(folder: Path, rels: list[str]) -> None:
    for rel in rels:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(b"x")


def _found(folder: Path, *patterns: str) -> list[str]:
    return sorted(Patterns(folder, patterns).scan(Marks(), []).names)


@pytest.mark.parametrize(("pattern", "found"), [("./*.jpg", ["a.jpg"]), ("sub/./*.jpg", ["sub/b.jpg"]),
                                                ("./sub/*.jpg", ["sub/b.jpg"]), ("./sub/./*.jpg", ["sub/b.jpg"])])
def test_a_dot_part_is_the_folder_itself(tmp_path: Path, pattern: str, found: list[str]) -> None:
    """``./*.jpg`` matched ``a.jpg`` as the shell and ``Path.glob`` of earlier Pythons do, and
    matched nothing once Python's glob dropped ``.`` parts."""
    _files(tmp_path, ["a.jpg", "sub/b.jpg"])
    assert _found(tmp_path, pattern) == found


def test_a_link_within_the_folder_is_followed_where_its_target_is_not_walked(tmp_path: Path) -> None:
    """``latest/*.jpg`` with ``latest -> 2024-06-01`` read nothing (links within the folder were
    never followed, so that no file is read twice); ``*/*.jpg`` finds the target's files once,
    under its own name, and a link to the camera's folder is not gone through."""
    _files(tmp_path, ["2024-06-01/a.jpg", "other/c.jpg", "top.jpg"])
    os.symlink("2024-06-01", tmp_path / "latest")
    os.symlink(".", tmp_path / "other" / "again")
    os.symlink("..", tmp_path / "other" / "up")
    assert _found(tmp_path, "latest/*.jpg") == ["latest/a.jpg"]
    assert _found(tmp_path, "l*/*.jpg") == ["latest/a.jpg"]
    assert _found(tmp_path, "*/*.jpg") == ["2024-06-01/a.jpg", "other/c.jpg"]
    assert _found(tmp_path, "latest/*.jpg", "2024-*/*.jpg") == ["2024-06-01/a.jpg"]
    assert _found(tmp_path, "other/*/*.jpg") == ["other/again/c.jpg"]  # not other/up/top.jpg
    assert _found(tmp_path, "**/*.jpg") == ["2024-06-01/a.jpg", "other/c.jpg", "top.jpg"]


def test_a_link_named_in_a_pattern_leaves_its_target_to_double_star(tmp_path: Path) -> None:
    """``latest -> 2024-06-01`` named by ``latest/*.png`` beside ``**/*.jpg``: the link's target
    was taken for a folder looked up, so ``**`` passed over ``2024-06-01``, while the link was
    not gone through for ``*.jpg`` as ``**`` reaches its target: ``a.jpg`` was never read."""
    _files(tmp_path, ["2024-06-01/a.jpg", "2024-06-01/b.png"])
    os.symlink("2024-06-01", tmp_path / "latest")
    assert _found(tmp_path, "**/*.jpg", "latest/*.png") == ["2024-06-01/a.jpg", "latest/b.png"]
    assert _found(tmp_path, "**/*.jpg", "latest/*.jpg") == ["2024-06-01/a.jpg"]


def test_a_folder_looked_up_is_not_walked_again_by_double_star_under_another_name(tmp_path: Path) -> None:
    """A folder a part names without a wildcard is walked under that name, ``**`` included;
    ``**`` passes over the same folder listed under another name (on a share that ignores case,
    ``Cam1`` and ``cam1``: none can be mounted here, a bind mount is the same folder under two
    names), or each file there was read twice.  Real mounts (root only)."""
    mounts.require(tmp_path)
    folder = tmp_path / "drop"
    _files(folder, ["cam1/a.jpg", "cam1/b.png"])
    (folder / "alias").mkdir()
    mounts.bind(folder / "cam1", folder / "alias")
    try:
        found = _found(folder, "**/*.jpg", "alias/*.png")
    finally:
        mounts.unmount(folder / "alias")
    assert sorted(Path(rel).name for rel in found) == ["a.jpg", "b.png"], found


@pytest.mark.parametrize(("links", "pattern", "found"), [
    ({"latest": ".snap", ".snap/l1": ".", ".snap/l2": "."}, "**/l*/*.jpg", ["latest/a.jpg"]),
    ({"x": ".snap", ".snap/x": "."}, "**/x/*.jpg", ["x/a.jpg"]),
    ({"lcam": "{outside}", "{outside}/l1": ".", "{outside}/l2": "."}, "**/l*/*.jpg", ["lcam/a.jpg"]),
])
def test_a_loop_of_links_is_gone_round_once(tmp_path: Path, links: dict[str, str], pattern: str,
                                            found: list[str]) -> None:
    """Links back to a folder on the way down (``.snap/l1 -> .``, through a hidden target the
    patterns do not walk, or out of the camera's folder) were followed until the path was too
    long for the system (ELOOP): two such links branched for minutes, one read the same file 40
    times.  Each folder is entered once on a way down, as ``find -L`` does: the walk ends, each
    file read once."""
    folder, outside = tmp_path / "drop", tmp_path / "outside"
    _files(folder, [".snap/a.jpg"])
    _files(outside, ["a.jpg"])
    for link, target in links.items():
        os.symlink(target.format(outside=outside), folder / link.format(outside=outside))
    assert _found(folder, pattern) == found


def _jpeg(height: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, 16, 3), 90, np.uint8))
    assert ok
    return bytes(data)


def test_a_link_to_a_hidden_picture_is_read(tmp_path: Path) -> None:
    """``latest.jpg -> .current.jpg`` (a link swapped atomically to each new picture): the link
    was taken for a second name of a file read in the folder and dropped, while the hidden file
    is never read: nothing was.  Each picture it points to is read once, under its name."""
    folder = tmp_path / "drop"
    folder.mkdir()
    source = FolderSource(FolderSourceConfig(path=str(folder), poll_interval=3600), "drop",
                          threading.Event(), None)
    read = []
    for i, height in enumerate((16, 24)):
        (folder / f".current{i}.jpg").write_bytes(_jpeg(height))
        os.utime(folder / f".current{i}.jpg", (1e9 + i, 1e9 + i))
        os.symlink(f".current{i}.jpg", folder / ".swap")
        os.replace(folder / ".swap", folder / "latest.jpg")
        for _ in range(3):
            source._scan()
            while source._queue:
                frame = source._load(source._queue.pop(0))
                if frame is not None:
                    read.append(frame.image.shape[0])
                    source.done(frame.index)
    assert read == [16, 24]


LOOKUP = """
import os, sys
from pathlib import Path
from edge_alpr.stream.sources.listing import Marks, Patterns
if os.geteuid() == 0:
    os.setgid(65534)
    os.setuid(65534)
print(sorted(Patterns(Path(sys.argv[1]), [sys.argv[2]]).scan(Marks(), []).names))
"""


def test_a_folder_named_without_a_wildcard_is_looked_up_not_listed() -> None:
    """A part without a wildcard (``srv``) is looked up as a path, as ``Path.glob`` did: a folder
    that can be gone through but not listed (mode 0711) is, and on a share that ignores case
    (CIFS, vfat: none can be mounted here) ``Cam1/*.jpg`` finds ``cam1`` the same way.  Run as
    another user than root (root lists any folder): nobody, in a child process, in a folder of
    ``/tmp`` (pytest's own is root's alone)."""
    top = Path(tempfile.mkdtemp(prefix="edge-alpr-walk-"))
    try:
        _files(top, ["srv/cam1/a.jpg"])
        for folder in (top, top / "srv" / "cam1"):
            folder.chmod(0o755)
        (top / "srv").chmod(0o711)
        for parent in top.parents:
            if not os.stat(parent).st_mode & 0o001:
                pytest.skip(f"{parent} cannot be gone through by another user")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        found = subprocess.run([sys.executable, "-c", LOOKUP, str(top), "srv/cam1/*.jpg"], env=env,
                               capture_output=True, text=True, check=True, timeout=60).stdout
        assert found.strip() == "['srv/cam1/a.jpg']"
        listed = subprocess.run([sys.executable, "-c", LOOKUP, str(top), "srv/c*/*.jpg"], env=env,
                                capture_output=True, text=True, check=True, timeout=60).stdout
        assert listed.strip() == "[]"  # a wildcard part must list it: passed over, warned
    finally:
        shutil.rmtree(top)


def test_a_pattern_matches_its_file_names_in_upper_case_in_the_folders_it_names(tmp_path: Path) -> None:
    """Each pattern also matches in upper case: its file name part (``cam1/*.JPG``), not its
    folders (``CAM1/*.JPG`` missed ``cam1/A.JPG``, and looked in ``CAM1``)."""
    _files(tmp_path, ["cam1/A.JPG", "cam1/b.jpg", "CAM1/C.JPG", "D.JPG", "sub/cam1/E.JPG"])
    assert _found(tmp_path, "cam1/*.jpg") == ["cam1/A.JPG", "cam1/b.jpg"]
    assert _found(tmp_path, "*.jpg") == ["D.JPG"]
    assert _found(tmp_path, "**/cam1/*.jpg") == ["cam1/A.JPG", "cam1/b.jpg", "sub/cam1/E.JPG"]


def test_a_subfolder_deleted_while_it_is_walked_is_passed_over(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A subfolder listed, then deleted before the walk gets to it (a cleanup script), is passed
    over: the other folders' files are found, and no error ends the scan (nothing listed would be
    taken as gone).  Deleted for real, between the folder's listing and its subfolder's."""
    _files(tmp_path, ["a/1.jpg", "b/2.jpg", "c/3.jpg", "top.jpg"])
    listed = walk.Walk._list

    def list_deleting(self: walk.Walk, path: str, rel: str, barred: set[str]) -> object:
        if rel == "b/":
            (tmp_path / "b" / "2.jpg").unlink()
            (tmp_path / "b").rmdir()
        return listed(self, path, rel, barred)

    monkeypatch.setattr(walk.Walk, "_list", list_deleting)
    assert _found(tmp_path, "**/*.jpg") == ["a/1.jpg", "c/3.jpg", "top.jpg"]
    assert _found(tmp_path, "*/*.jpg") == ["a/1.jpg", "c/3.jpg"]


def test_a_hidden_file_in_a_subfolder_is_matched_only_by_a_part_naming_it(tmp_path: Path) -> None:
    """``x/.b.jpg`` (a sync tool's temporary copy) is not found by ``*.jpg`` in any folder, as in
    the shell; ``*/.*.jpg`` names it."""
    _files(tmp_path, ["x/.b.jpg", "x/c.jpg"])
    assert _found(tmp_path, "**/*.jpg") == ["x/c.jpg"]
    assert _found(tmp_path, "*/*.jpg") == ["x/c.jpg"]
    assert _found(tmp_path, "*/.*.jpg") == ["x/.b.jpg"]
