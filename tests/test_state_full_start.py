"""A start of ``serve`` or ``run`` on a full disk under ``state_dir`` (``state_room.py``), on real
tmpfs file systems filled by another writer (need root, skipped otherwise) and real processes.

Before: the state files could not open, and the start exited 78 (a config error), which the unit
never restarts (``RestartPreventExitStatus=78``): the device stayed dark after the disk had room
again, even with the outbox's 4 MiB reserve lying there to be freed.  Now the reserve is freed
at the start and the service runs; without one the start exits 75, which the unit restarts, and
under systemd it first waits for room, saying so (``STATUS=``), so that the restarts stay far
below the unit's start limit.
"""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from test_cli_server import ROOT, cli, start_serve
from test_outbox_full import roomy_fs
from test_state_dir import NOBODY, fill, full_state, small_fs
from test_unit_devices import UNIT, unit_values

from edge_alpr import config, state_lock
from edge_alpr.api.server import free_port
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.outbox_reserve import RESERVE_BYTES, Reserve
from edge_alpr.errors import DiskFull
from edge_alpr.state_room import EXIT_TEMPFAIL, FULL_WAIT_S, full_at_start
from edge_alpr.statedir import RESERVE_FILE, writable_folder

__all__ = ["full_state", "roomy_fs", "small_fs"]  # the fixtures, used by name


def _quiet_env() -> dict[str, str]:
    """This process's environment, without a systemd notify socket it may have been given."""
    return {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}


def test_a_start_on_a_full_disk_frees_the_reserve_says_so_once_and_serves(
        roomy_fs: Path, sample_images: list[Path]) -> None:
    """The disk filled while the service was down (its reserve made before): ``serve`` frees the
    reserve, says so once (its path, the space free, the fix) and counts the reads it answers."""
    state = roomy_fs / "state"
    box = Outbox(state / "outbox.sqlite")
    box.follow_clock()  # the reserve, as a running service makes it
    box.close()
    reserve = state / RESERVE_FILE
    assert reserve.stat().st_size == RESERVE_BYTES
    fill(roomy_fs / "filler")
    config = roomy_fs.parent / "c.yaml"
    config.write_text(f"state_dir: {state}\n")
    port = free_port()
    proc = start_serve(config, port, env=_quiet_env())  # before: exit 78, "the file system is full"
    try:
        image = sample_images[0].read_bytes()
        answer = requests.post(f"http://127.0.0.1:{port}/v1/plate-reader/", files={"upload": ("car.jpg", image)},
                               timeout=60)
        assert answer.status_code == 201, answer.text
        assert answer.json()["usage"]["calls"] == 1  # written to usage.sqlite, on the disk filled
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert not reserve.exists()
    said = [line for line in stderr.splitlines() if str(reserve) in line]
    assert len(said) == 1, stderr
    assert re.search(rf"state_dir {state}: the file system is full at this start \(\d+ bytes free(, \d+ inodes)?\): "
                     rf"freed {reserve} \({RESERVE_BYTES} bytes\)", said[0]), said
    assert " WARNING " in said[0] and "free space there" in said[0] and "made again" in said[0], said
    assert "Traceback" not in stderr and " ERROR " not in stderr, stderr


def test_a_start_with_room_keeps_the_reserve(tmp_path: Path) -> None:
    """Only a full disk costs the reserve: a start on a disk with room leaves it for the next one."""
    state = tmp_path / "state"
    state.mkdir()
    assert Reserve(state / RESERVE_FILE, 64 * 1024).make()
    state_lock.hold_state(config.from_dict({"state_dir": str(state)})).close()
    assert (state / RESERVE_FILE).stat().st_size == 64 * 1024


def test_a_start_that_fails_with_room_left_frees_the_reserve_for_the_next(tmp_path: Path) -> None:
    """The state files failed to open on a disk with more free than a start frees the reserve at
    (a large log to open, say): the reserve goes too, so that the unit's next start has room; by
    hand the exit is at once."""
    state = tmp_path / "state"
    state.mkdir()
    Reserve(state / RESERVE_FILE, 64 * 1024).make()
    error = DiskFull("full", state, "state_dir", 12345)
    assert full_at_start(error, held=True, environ={}) == EXIT_TEMPFAIL
    assert not (state / RESERVE_FILE).exists()
    Reserve(state / RESERVE_FILE, 64 * 1024).make()
    assert full_at_start(error, held=False, environ={}) == EXIT_TEMPFAIL  # not this process's lock
    assert (state / RESERVE_FILE).exists()


@pytest.fixture()
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET (a short path: AF_UNIX's limit)."""
    with tempfile.TemporaryDirectory(prefix="ea-notify-") as top:
        path = str(Path(top) / "n")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(120)
        try:
            yield sock, path
        finally:
            sock.close()


def test_under_systemd_a_start_without_room_waits_for_it_then_exits_75(
        full_state: Path, notify_socket: tuple[socket.socket, str]) -> None:
    """No reserve, no room: the error said once, then the wait, told to systemd (``STATUS=`` names
    the folder, ``EXTEND_TIMEOUT_USEC`` holds off ``TimeoutStartSec``); once room is freed, exit 75
    for the unit to start it again.  Before: exit 78 at once, never restarted."""
    sock, path = notify_socket
    config = full_state.parent.parent / "c.yaml"
    config.write_text(f"state_dir: {full_state}\nmqtt: {{enabled: false}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "serve", "--config", str(config), "--port",
                             str(free_port())], cwd=ROOT, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**_quiet_env(), "NOTIFY_SOCKET": path})
    try:
        first = sock.recv(4096).decode()
        second = sock.recv(4096).decode()  # still waiting a poll later: the disk is still full
        assert proc.poll() is None
        (full_state.parent / "filler").unlink()
        _, stderr = proc.communicate(timeout=FULL_WAIT_S + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for message in (first, second):
        fields = dict(line.split("=", 1) for line in message.splitlines())
        waiting = f"waiting for room on state_dir {full_state} (full at start; exit 75"
        assert fields["STATUS"].startswith(waiting), fields
        assert int(fields["EXTEND_TIMEOUT_USEC"]) >= 5_000_000, fields
        assert "READY" not in fields
    assert proc.returncode == EXIT_TEMPFAIL, stderr
    errors = [line for line in stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and f"state_dir {full_state}: the file system is full (" in errors[0], stderr
    assert f"state_dir {full_state}: there is room again (" in stderr, stderr
    assert "Traceback" not in stderr, stderr


def test_check_config_says_that_the_state_folder_s_file_system_is_full(full_state: Path) -> None:
    """A warning, not an error (the disk may have room by the time the service starts), naming the
    folder, the space free and what a start will do.  Before: "config OK" and nothing else."""
    config = full_state.parent.parent / "c.yaml"
    config.write_text(f"state_dir: {full_state}\n")
    out = cli("check-config", "--config", str(config), env=_quiet_env())
    assert out.returncode == 0, out.stderr
    said = [line for line in out.stderr.splitlines() if line.startswith(f"edge-alpr: warning: state_dir {full_state}:")]
    assert len(said) == 1, out.stderr
    assert re.search(r"the file system is full \(\d+ bytes free\)", said[0]), said
    assert f"frees {RESERVE_FILE}" in said[0] and "exits 75" in said[0] and "free space there" in said[0], said


def test_a_state_folder_that_cannot_be_made_on_a_full_disk_exits_75(tmp_path: Path) -> None:
    """No inode left for the folder itself (a tmpfs whose every inode another writer took): exit
    75, not 78 ("cannot create it ... set state_dir to a writable folder"), with an error naming
    the inodes (the bytes free are plenty)."""
    mount = tmp_path / "few"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,nr_inodes=8", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        with pytest.raises(OSError):
            for n in range(100):
                (mount / f"f{n}").touch()
        config = tmp_path / "c.yaml"
        config.write_text(f"state_dir: {mount / 'state'}\n")
        out = cli("serve", "--config", str(config), "--port", str(free_port()), env=_quiet_env(), timeout=60)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)
    assert out.returncode == EXIT_TEMPFAIL, out.stderr
    errors = [line for line in out.stderr.splitlines() if "error" in line]
    said = f"state_dir {mount / 'state'} (from {config}): cannot create it: the file system has no inode left "
    assert len(errors) == 1 and said in errors[0], errors  # not "2097152 bytes free", as if bytes were short
    assert "inodes free" in errors[0] and "free space there" in errors[0], errors


def _seconds(value: str) -> float:
    """A systemd time span of this unit's kind (``120``, ``5s``, ``2min``) in seconds."""
    found = re.fullmatch(r"(\d+)\s*(s|min|)", value)
    assert found is not None, value
    return float(found[1]) * (60 if found[2] == "min" else 1)


def test_the_unit_restarts_a_full_start_and_never_reaches_its_start_limit() -> None:
    """Exit 75 is restarted, 78 is not; a start that waits ``FULL_WAIT_S`` for room, then
    ``RestartSec=``, fits fewer starts in the start limit's window than its burst, with keys that
    systemd 252 (bookworm) knows (no ``RestartSteps=``/``RestartMaxDelaySec=``, 254 and later)."""
    text = UNIT.read_text()
    assert unit_values(text, "Restart") == ["on-failure"]
    prevented = unit_values(text, "RestartPreventExitStatus")
    assert "78" in prevented and str(EXIT_TEMPFAIL) not in prevented and "TEMPFAIL" not in prevented
    interval = _seconds(unit_values(text, "StartLimitIntervalSec")[0])
    burst = int(unit_values(text, "StartLimitBurst")[0])
    cycle = FULL_WAIT_S + _seconds(unit_values(text, "RestartSec")[0])
    assert math.floor(interval / cycle) + 1 < burst, (interval, cycle, burst)
    assert not unit_values(text, "RestartSteps") and not unit_values(text, "RestartMaxDelaySec")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to leave a reserve of another user")
def test_a_reserve_left_by_root_neither_blocks_the_start_nor_stays() -> None:
    """``sudo edge-alpr run`` once leaves ``outbox.reserve`` owned by root in the service's folder:
    the service's user passes the start's check (before: "outbox.reserve is not writable by user
    nobody (owner root ...)", exit 78) and can still free it (a deletion needs the folder's
    write access, not the file's)."""
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)  # nobody can reach it
        state = Path(top) / "state"
        state.mkdir()
        os.chown(state, NOBODY, NOBODY)
        assert Reserve(state / RESERVE_FILE, 64 * 1024).make()  # as root: root's, 0644
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never back into pytest
            said = "nothing"
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                writable_folder(state, "state_dir")
                said = f"freed {Reserve(state / RESERVE_FILE).free()}"
            except BaseException as e:
                said = repr(e)
            finally:
                os.write(write, said.encode())
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        said = os.read(read, 4096).decode()
        os.close(read)
        assert said.startswith("freed ") and int(said.split()[1]) >= 64 * 1024, said
        assert not (state / RESERVE_FILE).exists()
