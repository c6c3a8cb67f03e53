"""The wait for room of a start that found the disk under ``state_dir`` full (``state_room.py``),
counted in polls, on real tmpfs file systems filled by another writer (need root, skipped
otherwise).  ``Polls`` stands in for the time between polls (a stop event whose wait returns at
once and counts): what the disk does between polls, another writer does there.

Before: one poll with room (a blip: another writer deleting a file, then writing again) ended
the wait, so a disk that stayed full restarted the unit every ~7 s (7 starts in 120 s measured,
the start limit of 10 in reach); inodes given back were never seen (the wait looked at bytes
only: 60 s); a $NOTIFY_SOCKET that takes no message cost 60 s and a warning each second; and a
SIGTERM during the wait ended the process through the last-resort timer, with an error line.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_cli_server import ROOT
from test_state_dir import fill, full_state, small_fs
from test_state_full_start import _quiet_env, _seconds, notify_socket
from test_unit_devices import UNIT, unit_values

from edge_alpr import config, state_lock
from edge_alpr.api.server import free_port
from edge_alpr.delivery.outbox_reserve import Reserve
from edge_alpr.errors import DiskFull, StateError
from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.opening import open_history
from edge_alpr.state_room import (
    EXIT_TEMPFAIL,
    FULL_POLLS,
    MIN_POLLS,
    MIN_WAIT_S,
    ROOM_POLL_S,
    ROOM_POLLS,
    free_reserve_at_start,
    full_at_start,
)
from edge_alpr.statedir import RESERVE_FILE, opening_state
from edge_alpr.systemd import sd_notify

__all__ = ["full_state", "notify_socket", "small_fs"]  # the fixtures, used by name

BLIP = 1 << 20  # what the other writer gives back for a moment, then takes again


class Polls(threading.Event):
    """A stop event whose wait is one poll: ``between(n)`` runs there (what the disk does meanwhile)."""

    def __init__(self, between: Callable[[int], None] = lambda n: None) -> None:
        super().__init__()
        self.count = 0
        self.between = between

    def wait(self, timeout: float | None = None) -> bool:
        self.count += 1
        self.between(self.count)
        return self.is_set()


@pytest.fixture()
def listening() -> Iterator[dict[str, str]]:
    """$NOTIFY_SOCKET of a datagram socket read by a thread, as systemd reads its own."""
    with tempfile.TemporaryDirectory(prefix="ea-notify-") as top:
        path = str(Path(top) / "n")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)

        def drain() -> None:
            with sock:
                while sock.recv(4096):
                    pass

        threading.Thread(target=drain, daemon=True).start()
        yield {"NOTIFY_SOCKET": path}
        sd_notify("", {"NOTIFY_SOCKET": path})  # empty datagram: the reader ends


def _blips(filler: Path, every: int) -> Callable[[int], None]:
    """Another writer that keeps the disk full, giving ``BLIP`` back at every ``every``-th poll
    for that poll only."""
    def between(n: int) -> None:
        if n % every == 1:
            os.truncate(filler, os.path.getsize(filler) - BLIP)
        else:
            fill(filler)
    return between


@pytest.mark.parametrize("every", [2, 3])
def test_blips_of_room_never_end_the_wait(full_state: Path, listening: dict[str, str], every: int) -> None:
    """Room at one poll of every ``every`` (never ``ROOM_POLLS`` in a row): the wait runs to its
    end.  Before: it ended at the first poll with room (the second)."""
    filler = full_state.parent / "filler"
    polls = Polls(_blips(filler, every))
    error = DiskFull("full", full_state, "state_dir", 0)
    assert full_at_start(error, held=True, environ=listening, stop=polls) == EXIT_TEMPFAIL
    assert polls.count == FULL_POLLS


def test_room_that_lasts_ends_the_wait_but_not_before_its_minimum(full_state: Path,
                                                                  listening: dict[str, str]) -> None:
    """Room freed for good at the first poll: the wait ends at ``MIN_POLLS``, not sooner (before:
    at the second poll), so that however room comes and goes the unit starts the service at most
    once a ``MIN_WAIT_S`` plus ``RestartSec=``."""
    filler = full_state.parent / "filler"
    polls = Polls(lambda n: filler.unlink() if n == 1 else None)
    error = DiskFull("full", full_state, "state_dir", 0)
    assert full_at_start(error, held=True, environ=listening, stop=polls) == EXIT_TEMPFAIL
    assert polls.count == MIN_POLLS
    assert MIN_POLLS > ROOM_POLLS


def test_the_unit_cannot_reach_its_start_limit_whatever_room_does() -> None:
    """The shortest start to exit 75 under systemd (``MIN_WAIT_S``) plus ``RestartSec=`` fits
    fewer starts in the start limit's window than its burst: blips of room cannot reach it."""
    text = UNIT.read_text()
    interval = _seconds(unit_values(text, "StartLimitIntervalSec")[0])
    burst = int(unit_values(text, "StartLimitBurst")[0])
    cycle = MIN_POLLS * ROOM_POLL_S + _seconds(unit_values(text, "RestartSec")[0])
    assert MIN_POLLS * ROOM_POLL_S >= MIN_WAIT_S
    assert math.floor(interval / cycle) + 1 < burst, (interval, cycle, burst)


@pytest.fixture()
def few_inodes(tmp_path: Path) -> Iterator[Path]:
    """A real 32 MiB tmpfs with 64 inodes: bytes plenty, inodes few."""
    mount = tmp_path / "few"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m,nr_inodes=64", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        (mount / "state").mkdir()
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _take_inodes(mount: Path) -> list[Path]:
    """Another writer takes every inode left on ``mount``; its files."""
    taken: list[Path] = []
    try:
        while True:
            path = mount / f"f{len(taken)}"
            path.touch()
            taken.append(path)
    except OSError:
        return taken


def test_inodes_given_back_end_the_wait(few_inodes: Path, listening: dict[str, str]) -> None:
    """No inode left, bytes plenty: the error names inodes, and the wait ends once inodes are
    free again.  Before: "33554432 bytes free", and the wait ran 60 s for bytes never short."""
    state = few_inodes / "state"
    taken = _take_inodes(few_inodes)
    with pytest.raises(DiskFull) as raised, opening_state(state, "state_dir"):
        (state / "new").touch()
    assert "no inode left" in str(raised.value) and "inodes free" in str(raised.value), raised.value

    def give_back(n: int) -> None:
        if n == 1:
            for path in taken[:40]:
                path.unlink()
    polls = Polls(give_back)
    assert full_at_start(raised.value, held=True, environ=listening, stop=polls) == EXIT_TEMPFAIL
    assert polls.count < FULL_POLLS


def test_a_start_frees_the_reserve_where_inodes_are_what_is_short(few_inodes: Path) -> None:
    """Freeing the reserve frees an inode too: a start with no inode left frees it, bytes plenty."""
    state = few_inodes / "state"
    assert Reserve(state / RESERVE_FILE, 64 * 1024).make()
    _take_inodes(few_inodes)
    assert free_reserve_at_start(state) > 0
    assert not (state / RESERVE_FILE).exists()


def test_no_inode_for_the_history_folder_is_a_full_disk_that_frees_the_reserve(few_inodes: Path) -> None:
    """``<state_dir>/history`` cannot be made (no inode left): ``DiskFull`` on ``state_dir`` (exit
    75, and the reserve freed for the next start).  Before: a ``ConfigError`` (exit 78, never
    restarted), the reserve left."""
    state = few_inodes / "state"
    assert Reserve(state / RESERVE_FILE, 64 * 1024).make()
    _take_inodes(few_inodes)
    with pytest.raises(DiskFull) as raised:
        open_history(HistoryConfig(), state)
    assert raised.value.setting == "state_dir" and raised.value.folder == state
    assert full_at_start(raised.value, held=True, environ={}) == EXIT_TEMPFAIL
    assert not (state / RESERVE_FILE).exists()


def test_a_notify_socket_that_takes_nothing_ends_the_wait_at_once(full_state: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """$NOTIFY_SOCKET names no socket (a stale variable, a container's): exit 75 after the first
    send, with one line saying why.  Before: 60 s and a warning each second."""
    polls = Polls()
    gone = {"NOTIFY_SOCKET": str(full_state.parent / "gone")}
    error = DiskFull("full", full_state, "state_dir", 0)
    assert full_at_start(error, held=True, environ=gone, stop=polls) == EXIT_TEMPFAIL
    assert polls.count == 0
    assert sum("takes no message" in r.getMessage() for r in caplog.records) == 1


def test_a_notify_socket_nobody_reads_never_blocks_the_sender(notify_socket: tuple[socket.socket, str]) -> None:
    """A socket nobody reads: once its queue is full a message is refused, not waited for (before:
    ``sendall`` blocked once 10 datagrams were queued)."""
    _, path = notify_socket
    sent: list[bool] = []
    sender = threading.Thread(target=lambda: sent.extend(sd_notify("WATCHDOG=1", {"NOTIFY_SOCKET": path})
                                                          for _ in range(1000)), daemon=True)
    sender.start()
    sender.join(60)
    assert not sender.is_alive(), "sd_notify blocked"
    assert sent[0] and not sent[-1]


def test_a_stop_ends_the_wait_at_once(full_state: Path, listening: dict[str, str]) -> None:
    """SIGTERM (the stop event set) during the wait: it ends at that poll, exit 0 (a stop)."""
    polls = Polls(lambda n: polls.set() if n == 2 else None)
    error = DiskFull("full", full_state, "state_dir", 0)
    assert full_at_start(error, held=True, environ=listening, stop=polls) == 0
    assert polls.count == 2


def test_sigterm_during_the_wait_stops_cleanly(full_state: Path, notify_socket: tuple[socket.socket, str]) -> None:
    """``systemctl stop`` while a start waits for room: the process ends at once by itself, no
    "still running ... exiting now" error of the last-resort timer, no death by the signal."""
    sock, path = notify_socket
    config_file = full_state.parent.parent / "c.yaml"
    config_file.write_text(f"state_dir: {full_state}\nmqtt: {{enabled: false}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "serve", "--config", str(config_file), "--port",
                             str(free_port())], cwd=ROOT, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**_quiet_env(), "NOTIFY_SOCKET": path})
    try:
        sock.recv(4096)  # waiting
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "still running" not in stderr and "stopped while waiting for room" in stderr, stderr


def test_a_refused_second_start_leaves_the_running_service_s_reserve(small_fs: Path) -> None:
    """A second start on a held state folder, on a full disk, is refused before it frees
    anything: the reserve is the running service's."""
    state = small_fs / "state"
    cfg = config.from_dict({"state_dir": str(state)})
    with state_lock.hold_state(cfg):  # the running service, started with room
        assert Reserve(state / RESERVE_FILE, 64 * 1024).make()
        fill(small_fs / "filler")
        with pytest.raises(StateError, match="in use by"):
            state_lock.hold_state(cfg)
        assert (state / RESERVE_FILE).exists()
