"""The event history when its folder cannot be written for a reason other than a full disk.

Real folders broken the ways a device's are: a read-only file system (a bind mount remounted
read-only, as after an ext4 error), a folder the service may not write (``chattr +i``: root
ignores permission bits, not that), and a file where a folder is expected.  Deleting stored
events frees nothing there: they must all stay, the new event's row is kept without its images
(SQLite's files are open already), and one warning names the path, the error and the fix.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.store import History, Sighting
from edge_alpr.types import Box

DAY_S = 86400.0
SAMPLES = Path(__file__).resolve().parent.parent / "edge_alpr" / "samples"
SCENE = np.asarray(Image.open(sorted(SAMPLES.glob("*.jpg"))[0]).convert("RGB"))


def sighting(n: int) -> Sighting:
    stamp = datetime.fromtimestamp(1_700_000_000 + n, UTC)
    return Sighting(f"ev-{n:06d}", "camera", "gate", stamp, f"AB{n}", 0.9, Box(111, 134, 245, 165),
                    {"plate": f"ab{n}", "camera_id": "gate"}, None, SCENE)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _run(*argv: str) -> str | None:
    """Run a command; its error output when it failed, else None."""
    done = subprocess.run(list(argv), capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


@contextmanager
def read_only(root: Path, day: str) -> Iterator[None]:
    """``root`` on a read-only mount (the files SQLite holds open stay writable, as on a real
    remount of a file system with open files, which the kernel refuses to make read-only)."""
    why = _run("mount", "--bind", str(root), str(root))
    if why is not None:
        pytest.skip(f"cannot bind-mount here (needs root): {why}")
    try:
        why = _run("mount", "-o", "remount,bind,ro", str(root))
        if why is not None:
            pytest.skip(f"cannot remount a bind mount read-only here: {why}")
        yield
    finally:
        subprocess.run(["umount", str(root)], check=True)


@contextmanager
def immutable(root: Path, day: str) -> Iterator[None]:
    """``root/images`` immutable: no file may be made in it, by root either."""
    images = root / "images"
    why = _run("chattr", "+i", str(images))
    if why is not None:
        pytest.skip(f"cannot make a folder immutable here (chattr +i needs root and ext4/xfs/btrfs/"
                    f"tmpfs): {why}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(images)], check=True)


@contextmanager
def file_for_folder(root: Path, day: str) -> Iterator[None]:
    """A file where the day's image folder goes."""
    (root / "images" / day).write_text("not a folder")
    try:
        yield
    finally:
        (root / "images" / day).unlink()


Breaker = Callable[[Path, str], AbstractContextManager[None]]


@pytest.mark.parametrize(("breaker", "error", "fix"), [
    (read_only, "Read-only file system", "remount it read-write"),
    (immutable, "Operation not permitted", "chown -R"),
    (file_for_folder, "File exists", "is a folder"),
])
def test_an_unwritable_history_keeps_its_events(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                breaker: Breaker, error: str, fix: str) -> None:
    root = tmp_path / "h"
    clock = Clock()
    history = History(HistoryConfig(min_free_bytes=0), root, clock=clock)
    try:
        for n in range(3):
            assert history.publish(sighting(n))
        clock.now += DAY_S  # the next images go in a new day folder
        day = datetime.fromtimestamp(clock.now, UTC).strftime("%Y-%m-%d")
        caplog.set_level(logging.INFO, logger="edge_alpr.history")
        with breaker(root, day):
            assert history.publish(sighting(3)) and history.publish(sighting(4))
            stats = history.stats()
            assert stats["events"] == 5 and stats["deleted"] == 0 and stats["skipped"] == 0, stats
            assert all(history.image(f"ev-{n:06d}", kind) for n in range(3) for kind in ("plate", "scene"))
            assert history.image("ev-000003", "plate") is None and history.get("ev-000004") is not None
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, warnings  # once for the episode
        assert error in warnings[0] and str(root) in warnings[0] and fix in warnings[0], warnings[0]
        assert history.publish(sighting(5))  # repaired: images again, said once
        assert history.image("ev-000005", "scene") is not None
        assert [r.getMessage() for r in caplog.records][-1] == "history: storing events again"
    finally:
        history.close()


def test_a_closed_history_refuses_an_event_without_raising(tmp_path: Path) -> None:
    """A camera still recognising while the service shuts down publishes into a closed history:
    sqlite3's error then has no error code, and publish must say "not kept", never raise."""
    history = History(HistoryConfig(min_free_bytes=0), tmp_path / "history", clock=Clock())
    assert history.publish(sighting(1))
    history.close()
    assert history.publish(sighting(2)) is False
