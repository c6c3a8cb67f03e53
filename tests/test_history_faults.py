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
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_alpr.history import store
from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.store import History, Sighting
from edge_alpr.types import Box

DAY_S = 86400.0
PACKAGES = {"chattr": "e2fsprogs", "mount": "mount"}  # the Debian package of each command run
SAMPLES = Path(__file__).resolve().parent.parent / "edge_alpr" / "samples"
SCENE = np.asarray(Image.open(sorted(SAMPLES.glob("*.jpg"))[0]).convert("RGB"))


def sighting(n: int) -> Sighting:
    stamp = datetime.fromtimestamp(1_700_000_000 + n, timezone.utc)
    return Sighting(f"ev-{n:06d}", "camera", "gate", stamp, f"AB{n}", 0.9, Box(111, 134, 245, 165),
                    {"plate": f"ab{n}", "camera_id": "gate"}, None, SCENE)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _run(*argv: str) -> str | None:
    """Run a command; its error output when it failed or is not installed, else None."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True)
    except FileNotFoundError:
        return f"{argv[0]} is not installed (apt-get install {PACKAGES.get(argv[0], argv[0])})"
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
    history = History(HistoryConfig(min_free_bytes=0), root, clock=clock, monotonic=clock)
    try:
        for n in range(3):
            assert history.publish(sighting(n))
        clock.now += DAY_S  # the next images go in a new day folder
        day = datetime.fromtimestamp(clock.now, timezone.utc).strftime("%Y-%m-%d")
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


def heavy(n: int) -> Sighting:
    """A sighting whose row alone weighs some 4 kB: a size bound of 64 KiB holds about 15 rows."""
    s = sighting(n)
    return replace(s, payload={**s.payload, "pad": "x" * 4000})


def within_bounds(history: History, cfg: HistoryConfig) -> None:
    """What the rows say they weigh, counted afresh from the file, is within ``max_bytes``."""
    stats = history.stats()
    on_file = History(cfg, history.root).bytes  # a second connection sums the rows itself
    assert stats["bytes"] == on_file <= cfg.max_bytes, (stats, on_file)


def test_rows_kept_without_images_stay_within_the_size_and_age_bounds(tmp_path: Path) -> None:
    """An images folder that takes no file from the start: the rows alone are bounded."""
    root, clock = tmp_path / "h", Clock()
    cfg = HistoryConfig(min_free_bytes=0, max_bytes=64 * 1024, max_age_days=1)
    history = History(cfg, root, clock=clock, monotonic=clock)  # days pass: no step
    try:
        with immutable(root, ""):
            for n in range(40):
                assert history.publish(heavy(n))
                clock.now += 1
            assert history.image("ev-000039", "plate") is None
            within_bounds(history, cfg)
            assert 0 < history.stats()["events"] < 40 and history.get("ev-000039") is not None
            clock.now += 2 * DAY_S
            assert history.publish(heavy(40))
            assert history.stats()["events"] == 1 and history.get("ev-000040") is not None
    finally:
        history.close()


def test_rows_kept_without_images_stay_within_the_bounds_when_old_images_cannot_be_deleted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``chown -R`` (here ``chattr -R +i``) of the images folder after events were stored: the
    bounds cannot delete the oldest events' files, and must still delete their rows, else each
    new row is kept past ``max_bytes`` for as long as the outage lasts."""
    root, clock = tmp_path / "h", Clock()
    cfg = HistoryConfig(min_free_bytes=0, max_bytes=128 * 1024, max_age_days=1)
    history = History(cfg, root, clock=clock, monotonic=clock)  # days pass: no step
    images = root / "images"
    try:
        for n in range(3):
            assert history.publish(heavy(n))
        assert history.image("ev-000000", "plate") is not None
        caplog.set_level(logging.INFO, logger="edge_alpr.history")
        why = _run("chattr", "-R", "+i", str(images))
        if why is not None:
            pytest.skip(f"cannot make a folder immutable here: {why}")
        try:
            for n in range(3, 43):
                assert history.publish(heavy(n))
                clock.now += 1
            within_bounds(history, cfg)
            assert history.get("ev-000000") is None and history.get("ev-000042") is not None
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert len([w for w in warnings if "could not delete" in w]) == 1, warnings
            clock.now += 2 * DAY_S
            assert history.publish(heavy(43))
            assert history.stats()["events"] == 1
        finally:
            subprocess.run(["chattr", "-R", "-i", str(images)], check=True)
    finally:
        history.close()


def test_an_event_whose_images_cannot_be_encoded_is_kept_within_the_bounds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The encoder's own failure (Pillow raises OSError) takes the row-only path before the
    bounds are applied in the normal one: it must apply them itself."""
    def failing(*_: object) -> None:
        raise OSError("encoder error -2 when writing image file")

    monkeypatch.setattr(store, "images_of", failing)
    root, clock = tmp_path / "h", Clock()
    cfg = HistoryConfig(min_free_bytes=0, max_bytes=64 * 1024, max_age_days=1)
    history = History(cfg, root, clock=clock, monotonic=clock)  # days pass: no step
    try:
        for n in range(40):
            assert history.publish(heavy(n))
            clock.now += 1
        within_bounds(history, cfg)
        assert history.get("ev-000000") is None and history.get("ev-000039") is not None
        clock.now += 2 * DAY_S
        assert history.publish(heavy(40))
        assert history.stats()["events"] == 1
    finally:
        history.close()
