"""The reserve beside the outbox (``outbox_reserve.py``) where something else is at its paths,
where its make fails, and where a full disk meets a make in progress (real tmpfs file systems:
need root, skipped otherwise).

Before: a link named ``outbox.reserve.tmp`` was written through (a foreign file became 4 MiB of
random bytes); a folder there, or a read-only file system, made ``follow_clock`` raise; a folder
at ``outbox.reserve`` cost 4 MiB written and fsynced at every call (40 MiB in 10 calls); a link
there counted as a reserve, and its "freeing" was said although nothing was freed; a ``put``
finding the disk full waited under the outbox's lock for a make's writes and fsync.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_outbox_full import roomy_fs
from test_state_dir import fill

from edge_alpr.delivery import outbox_reserve
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.outbox_reserve import RESERVE_BYTES, RETRY_S, Reserve

__all__ = ["roomy_fs"]  # the fixture, used by name

LOGGER = "edge_alpr.delivery.outbox"


def said(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


def written() -> int:
    """The bytes this process has written so far (``/proc/self/io``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


@pytest.fixture()
def other_fs(tmp_path: Path) -> Iterator[Path]:
    """A second real tmpfs: where a foreign file that a link points to lives."""
    mount = tmp_path / "other"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_link_named_like_a_half_made_reserve_is_never_written_through(
        roomy_fs: Path, other_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    foreign = other_fs / "foreign.conf"
    foreign.write_text("precious config\n")
    state = roomy_fs / "state"
    box = Outbox(state / "outbox.sqlite")
    try:
        (state / "outbox.reserve.tmp").symlink_to(foreign)
        with caplog.at_level(logging.WARNING, LOGGER):
            box.follow_clock()
            box.follow_clock()
    finally:
        box.close()
    assert foreign.read_text() == "precious config\n"
    assert (state / "outbox.reserve.tmp").is_symlink() and not (state / "outbox.reserve").exists()
    assert len(said(caplog, "not a regular file")) == 1, caplog.text


def test_a_half_made_reserve_left_by_a_process_that_died_is_replaced(roomy_fs: Path) -> None:
    state = roomy_fs / "state"
    box = Outbox(state / "outbox.sqlite")
    try:
        (state / "outbox.reserve.tmp").write_bytes(b"h" * 1000)
        box.follow_clock()
    finally:
        box.close()
    assert (state / "outbox.reserve").stat().st_size == RESERVE_BYTES
    assert not (state / "outbox.reserve.tmp").exists()


@pytest.mark.parametrize("name", ["outbox.reserve.tmp", "outbox.reserve"])
def test_a_folder_at_a_reserve_path_is_left_alone_and_costs_no_writes(
        roomy_fs: Path, name: str, caplog: pytest.LogCaptureFixture) -> None:
    """``follow_clock`` raised IsADirectoryError for the first; the second cost 4 MiB written
    and fsynced at every call (40 MiB in 10)."""
    state = roomy_fs / "state"
    box = Outbox(state / "outbox.sqlite")
    try:
        box.put("mqtt", {"n": 0})
        (state / name).mkdir()
        before = written()
        with caplog.at_level(logging.WARNING, LOGGER):
            for _ in range(5):
                box.follow_clock()
        assert written() - before < RESERVE_BYTES
    finally:
        box.close()
    assert (state / name).is_dir() and not (state / "outbox.reserve").is_file()
    assert [f"outbox: {state / name} is not a regular file" in line
            for line in said(caplog, "not a regular file")] == [True], caplog.text


def test_a_link_at_the_reserve_path_is_no_reserve_and_never_said_freed(
        roomy_fs: Path, other_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    foreign = other_fs / "big.db"
    foreign.write_bytes(os.urandom(5 * 1024 * 1024))
    digest = hashlib.sha256(foreign.read_bytes()).hexdigest()
    state = roomy_fs / "state"
    box = Outbox(state / "outbox.sqlite")
    try:
        (state / "outbox.reserve").symlink_to(foreign)
        with caplog.at_level(logging.WARNING, LOGGER):
            box.follow_clock()
            fill(roomy_fs / "filler")
            for i in range(5):
                box.put("mqtt", {"n": i, "pad": "x" * 1000})
            assert box.stats()["held"]["mqtt"] == 5  # nothing was freed: held in memory
        (roomy_fs / "filler").unlink()
    finally:
        box.close()
    assert (state / "outbox.reserve").is_symlink()
    assert hashlib.sha256(foreign.read_bytes()).hexdigest() == digest
    assert not said(caplog, "freed"), caplog.text
    assert len(said(caplog, "not a regular file")) == 1, caplog.text


def test_a_make_that_fails_never_raises_is_said_once_and_waits_before_the_next(
        roomy_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    """On a read-only file system (EROFS even for a missing file) ``follow_clock`` raised; any
    failure was tried again each second, said at debug level only."""
    state = roomy_fs / "state"
    state.mkdir()
    now = [0.0]
    reserve = Reserve(state / "outbox.reserve", clock=lambda: now[0])
    subprocess.run(["mount", "-o", "remount,ro", str(roomy_fs)], check=True)
    try:
        with caplog.at_level(logging.WARNING, LOGGER):
            assert not reserve.make()
            assert not reserve.make()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(roomy_fs)], check=True)
    assert len(said(caplog, "cannot be made")) == 1, caplog.text
    assert "Read-only file system" in said(caplog, "cannot be made")[0]
    now[0] += RETRY_S / 2
    assert not reserve.make() and not reserve.path.exists()  # not tried again yet
    now[0] += RETRY_S / 2
    assert reserve.make() and reserve.path.stat().st_size == RESERVE_BYTES


def test_a_full_disk_never_waits_for_a_make_in_progress(
        roomy_fs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow SD card (its fsync cannot be made slow here: the make's fsync waits for the test
    instead, a fake of that hardware): a ``put`` that finds the disk full while the main thread
    makes the reserve frees it and returns, where it waited under the outbox's lock (1.3 s with
    a 1.5 s fsync); the make then stops without renaming what it wrote."""
    state = roomy_fs / "state"
    box = Outbox(state / "outbox.sqlite")
    box.put("mqtt", {"n": 0})
    syncing, release = threading.Event(), threading.Event()
    real = os.fsync

    def slow_card(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # the reserve's only regular file synced: its tmp
            syncing.set()
            release.wait(30)
        real(fd)

    monkeypatch.setattr(outbox_reserve.os, "fsync", slow_card)
    maker = threading.Thread(target=box.follow_clock)  # the service's each second: makes the reserve
    try:
        maker.start()
        assert syncing.wait(30)
        fill(roomy_fs / "filler")
        putter = threading.Thread(target=box.put_many, args=([("mqtt", {"n": i, "pad": "x" * 1000}, None)
                                                              for i in range(1, 21)],))
        putter.start()
        putter.join(20)  # a guard against a hang, not a timing
        assert not putter.is_alive(), "the put waited for the make"
        assert box.stats()["held"]["mqtt"] == 0 and box.stats()["pending"]["mqtt"] == 21
    finally:
        release.set()
        maker.join(30)
        box.close()
    assert not (state / "outbox.reserve").exists() and not (state / "outbox.reserve.tmp").exists()


def _make_with(reserve: Reserve, monkeypatch: pytest.MonkeyPatch, on_open: Callable[[], object] | None = None,
               at_write: int = 0, on_write: Callable[[], object] | None = None) -> tuple[bool, int]:
    """``reserve.make()`` with ``on_open`` run as it opens its ``tmp`` and ``on_write`` at its
    ``at_write``-th write (another thread's ``free``, a stop, landing there); whether it was made
    and how many pieces it wrote."""
    real_open, real_write = os.open, os.write
    writes = [0]

    def opener(path: Path, flags: int, mode: int = 0o777) -> int:
        if on_open is not None and str(path) == str(reserve.tmp):
            on_open()
        return real_open(path, flags, mode)

    def writer(fd: int, data: bytes) -> int:
        writes[0] += 1
        if on_write is not None and writes[0] == at_write:
            on_write()
        return real_write(fd, data)

    monkeypatch.setattr(outbox_reserve.os, "open", opener)
    monkeypatch.setattr(outbox_reserve.os, "write", writer)
    made = reserve.make()
    monkeypatch.undo()
    return made, writes[0]


def test_a_free_before_a_make_opens_its_file_ends_that_make_unwritten(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``free`` (the disk is full) between the make's decision and its open: nothing written,
    nothing renamed into place (else 1 MiB taken back right after a full disk freed it)."""
    reserve = Reserve(tmp_path / "outbox.reserve", 1 << 20)
    made, writes = _make_with(reserve, monkeypatch, on_open=reserve.free)
    assert not made and writes == 0
    assert not reserve.path.exists() and not reserve.tmp.exists()


def test_a_free_during_a_make_stops_its_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``free`` at the second of a make's four pieces: no piece after it (each would take room
    on a disk found full), no rename."""
    reserve = Reserve(tmp_path / "outbox.reserve", 4 * outbox_reserve.WRITE_BYTES)
    made, writes = _make_with(reserve, monkeypatch, at_write=2, on_write=reserve.free)
    assert not made and writes == 2
    assert not reserve.path.exists() and not reserve.tmp.exists()


def test_a_stop_ends_a_make_and_no_other_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM (``Outbox.stop_making``) during a make: it ends at its next piece, without its
    fsync, its ``tmp`` deleted; no make starts after it."""
    reserve = Reserve(tmp_path / "outbox.reserve", 4 * outbox_reserve.WRITE_BYTES)
    synced: list[int] = []
    monkeypatch.setattr(outbox_reserve.os, "fsync", synced.append)
    made, writes = _make_with(reserve, monkeypatch, at_write=2, on_write=reserve.stop)
    assert not made and writes == 2 and not synced
    assert not reserve.path.exists() and not reserve.tmp.exists()
    assert not reserve.make() and not reserve.path.exists()
