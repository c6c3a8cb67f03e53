"""A state folder this user cannot write (``make run`` once as root, then as oneself) is a
config error naming the file, its owner and the fix, not SQLite's ``attempt to write a readonly
database`` traceback after the models load.  The CLI's ``main`` in a forked process: as root the
test drops that process to ``nobody`` on a folder root made (the venv's interpreter may sit in
root's home, out of nobody's reach, so nothing is executed anew); as another user, it runs on
the folder made read-only, as another user's files are to it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import edge_alpr.service  # noqa: F401  loaded here: the child, as nobody, may not reach the library
from edge_alpr import state_lock
from edge_alpr.api.server import free_port
from edge_alpr.cli import EXIT_CONFIG, main
from edge_alpr.delivery import mqtt_claim
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.errors import ConfigError, StateError
from edge_alpr.state_room import EXIT_TEMPFAIL
from edge_alpr.statedir import user_name, writable_folder
from edge_alpr.usage import Usage

NOBODY = 65534
# what main imports only when it runs, loaded here as edge_alpr.service is: a checkout in root's
# home (/root/edge-alpr, the quick start as root) is out of the reach of nobody, the child
PRELOADED = (state_lock.hold_state, mqtt_claim.hold)


@pytest.fixture()
def left_state() -> Iterator[Path]:
    """A folder with the state files a first run leaves (in a folder ``nobody`` can reach)."""
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)
        state = Path(top) / "state"
        Usage(state / "usage.sqlite").close()
        Outbox(state / "outbox.sqlite").close()
        (state / "history").mkdir()
        config = Path(top) / "c.yaml"
        config.write_text(f"state_dir: {state}\nlog_level: INFO\n")
        os.chmod(config, 0o644)
        yield state
        for path in (state, *state.rglob("*")):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)


def run_as_another_user(command: str, state: Path, files_only: bool = False) -> tuple[int, str]:
    """``edge-alpr <command>`` as a user that does not own ``state`` (its exit status, stderr);
    ``files_only``: the folder stays writable, its files do not."""
    if os.geteuid() != 0:
        paths = [p for p in state.rglob("*") if p.is_file()] if files_only else [*state.rglob("*"), state]
        for path in paths:
            os.chmod(path, 0o555 if path.is_dir() else 0o444)
    argv = [command, "--config", str(state.parent / "c.yaml")]
    if command == "serve":
        argv += ["--port", str(free_port())]
    err = state.parent / "stderr.txt"
    fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 70
        try:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = sys.stderr = open(2, "w", buffering=1, closefd=False)
            logging.getLogger().handlers.clear()  # pytest's: main configures its own
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            code = main(argv)
        finally:
            os._exit(code)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err.read_text()


@pytest.mark.parametrize("command", ["serve", "run"])
def test_a_state_folder_of_another_user_is_one_config_error(left_state: Path, command: str) -> None:
    code, stderr = run_as_another_user(command, left_state)
    assert code == EXIT_CONFIG, stderr
    assert "Traceback" not in stderr and "readonly database" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if "error" in line]
    config = left_state.parent / "c.yaml"
    # the value came from the file: the error names it, as the start-up line does
    assert len(errors) == 1 and errors[0].startswith(f"edge-alpr: error: state_dir {left_state} (from {config}): "), \
        errors
    assert f"INFO edge_alpr: config: {config}" in stderr, stderr
    if os.geteuid() == 0:
        assert "the folder is not writable by user nobody (owner root, mode 0755)" in errors[0]
        assert f"or give it to nobody (sudo chown -R nobody {left_state})" in errors[0]
    else:
        assert "the folder is not writable by user " in errors[0] and "chmod -R u+w" in errors[0]
    assert f"set state_dir in {config} to a folder " in errors[0]
    assert "loaded model" not in stderr, "the folder is checked before the models load"


SYSTEM_UID = 998  # a system user's, as the package's edge-alpr is (sysusers picks one below 1000)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder to another user")
@pytest.mark.parametrize("command", ["serve", "run"])
def test_the_service_s_state_folder_is_not_chowned_to_another_user(left_state: Path, command: str) -> None:
    """The state folder is a system user's (the installed service's /var/lib/edge-alpr, read by
    ``make run`` in a checkout through /etc/edge-alpr/config.yaml): a chown would take it from
    the service, so the fix is a folder of one's own, set in a config one may edit."""
    for path in (left_state, *left_state.rglob("*")):
        os.chown(path, SYSTEM_UID, SYSTEM_UID)
        os.chmod(path, 0o750 if path.is_dir() else 0o640)
    config = left_state.parent / "c.yaml"
    os.chmod(config, 0o644)  # readable by nobody, not writable: as /etc/edge-alpr/config.yaml is
    code, stderr = run_as_another_user(command, left_state)
    assert code == EXIT_CONFIG, stderr
    errors = [line for line in stderr.splitlines() if "error" in line]
    owner = user_name(SYSTEM_UID)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"edge-alpr: error: state_dir {left_state} (from {config}): the folder is not "
                                f"writable by user nobody (owner {owner}, mode 0750)"), errors
    assert "chown" not in errors[0].replace("(no chown)", ""), errors
    assert f"it is {owner}'s state, so leave it to that user (no chown): set state_dir to a folder " \
           "of nobody's own instead, e.g. " in errors[0], errors
    assert f"in a copy of {config} given with --config" in errors[0], errors


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a folder another user cannot create in")
def test_a_state_folder_this_user_cannot_create_names_the_command_that_makes_it(left_state: Path) -> None:
    """The package's /var/lib/edge-alpr removed (its state cleared) and the service started by
    hand as its user, where systemd's StateDirectory= would have made the folder: the error says
    how to make it for that user, not only "set state_dir"."""
    for path in sorted(left_state.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    left_state.rmdir()  # its parent is root's, 0755: nobody cannot create it there
    code, stderr = run_as_another_user("run", left_state)
    assert code == EXIT_CONFIG, stderr
    errors = [line for line in stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "cannot create it" in errors[0], errors
    assert errors[0].endswith(f"to a writable folder, or create it for user nobody "
                              f"(sudo install -d -o nobody -m 0750 {left_state})"), errors
    assert not left_state.exists()
    left_state.mkdir()  # for the fixture's clean-up


def test_a_file_of_another_user_in_a_writable_folder_is_named(left_state: Path) -> None:
    """The folder is this user's, a file in it is not (the outbox's, left by root)."""
    if os.geteuid() == 0:
        for folder in (left_state, left_state / "history"):
            os.chmod(folder, 0o777)
    code, stderr = run_as_another_user("run", left_state, files_only=True)
    assert code == EXIT_CONFIG, stderr
    assert f"state_dir {left_state} (from {left_state.parent / 'c.yaml'}): outbox.sqlite is not writable " \
           "by user " in stderr, stderr
    assert "Traceback" not in stderr


@pytest.fixture()
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB tmpfs (the state folder's file system in these tests)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(path: Path) -> Path:
    """Another writer takes every byte left on ``path``'s file system."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:  # ENOSPC: the file system is full
        pass
    finally:
        os.close(fd)
    return path


@pytest.fixture()
def full_state(small_fs: Path) -> Path:
    """The state folder on a tmpfs that another writer has filled to the last byte."""
    (small_fs / "state").mkdir()
    fill(small_fs / "filler")
    return small_fs / "state"


@pytest.mark.parametrize("command", ["serve", "run"])
def test_a_full_state_file_system_is_one_error_and_exit_75(full_state: Path, command: str, tmp_path: Path) -> None:
    """SQLite's ``database or disk is full`` as the state files open: one error naming the folder
    and the fix, no traceback asking for a bug report, and exit 75 (EX_TEMPFAIL), which the unit
    restarts, not 78 (a config error, never restarted: the device stayed dark once there was room).
    By hand (no $NOTIFY_SOCKET) at once, without waiting for room (``test_state_full_start.py``)."""
    config = tmp_path / "c.yaml"
    config.write_text(f"state_dir: {full_state}\nmqtt: {{enabled: false}}\n")
    argv = [command, "--config", str(config)] + (["--port", str(free_port())] if command == "serve" else [])
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    done = subprocess.run([sys.executable, "-m", "edge_alpr", *argv], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, env=env)
    assert done.returncode == EXIT_TEMPFAIL, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"edge-alpr: error: state_dir {full_state}: the file system is full ("), errors
    assert "free space there, or set state_dir in the config to a folder on a file system with room" in errors[0]


def test_a_full_disk_while_serving_is_503_naming_the_folder(small_fs: Path, api_factory: Any,
                                                            sample_images: list[Path],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """The disk fills under a running server: a read is answered 503 with Retry-After and the
    folder, the space left and the fix (the call not counted), not a 500 whose log says
    ``cannot rollback - no transaction is active``; once space is freed, reads are counted again."""
    api = api_factory(state_dir=small_fs / "state")
    image = sample_images[0].read_bytes()

    def read() -> requests.Response:
        return requests.post(api.url + "/v1/plate-reader/", files={"upload": ("car.jpg", image)}, timeout=60)

    assert read().json()["usage"]["calls"] == 1
    filler = fill(small_fs / "filler")
    full = read()
    assert full.status_code == 503, full.text
    assert full.headers["Retry-After"] == "30"
    detail = full.json()["detail"]
    assert detail.startswith(f"state_dir {small_fs / 'state'}: the file system is full ("), detail
    assert "database or disk is full" in detail and "free space there, or set state_dir" in detail
    logged = [r.getMessage() for r in caplog.records if r.name == "edge_alpr.api.app"]
    assert logged == [f"POST '/v1/plate-reader/': {detail}"], logged  # the path quoted: a client's text
    filler.unlink()
    again = read()
    assert again.status_code == 201, again.text
    assert again.json()["usage"]["calls"] == 2  # the refused call was not counted


def test_a_failed_commit_on_a_full_disk_names_the_disk(small_fs: Path) -> None:
    """The counters' own error on a full disk, not the ROLLBACK's that SQLite already did."""
    usage = Usage(small_fs / "state" / "usage.sqlite")
    try:
        usage.take()
        fill(small_fs / "filler")
        with pytest.raises(StateError, match=r"the file system is full \(\d+ bytes free; database or disk is full\)"):
            for _ in range(100):  # the WAL has a few free pages: the first counts may still fit
                usage.take()
    finally:
        usage.close()


def test_a_state_folder_on_a_read_only_file_system_names_the_mount_not_chmod(small_fs: Path) -> None:
    """A state folder on a file system mounted read-only (a Pi's SD card remounted after errors,
    an overlay root): the error says so and names the mount, instead of suggesting a chmod that
    cannot help (the folder's mode allows writing; the kernel refuses it with EROFS)."""
    state = small_fs / "state"
    (state / "history").mkdir(parents=True)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    with pytest.raises(ConfigError) as raised:
        writable_folder(state, "state_dir", "site.yaml")
    said = str(raised.value)
    assert f"the file system holding it ({small_fs}) is mounted read-only" in said, said
    assert f"mount -o remount,rw {small_fs}" in said and "chmod" not in said, said
