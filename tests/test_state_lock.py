"""One ``serve`` or ``run`` at a time on a state folder (``state_lock.py``).

Real processes throughout: a second ``serve`` or ``run`` with the running one's state_dir (the
admin's mistake: a copy started by hand beside the service) exits 1 naming the folder, the
holder (pid and command) and the fix, before it loads a model or binds its port, while the first
keeps serving; a holder killed with SIGKILL leaves no stale lock; ``read`` and ``check-config``,
which never open the state, keep working beside a running service.  Before the lock, both
started without a word, and two ``run``s published the outbox's events twice and took turns on
the broker under one client id.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests
from mosquitto import Broker, Subscriber
from test_cli_server import ROOT, cli, start_serve
from test_state_dir import NOBODY
from waiting import wait_for

from edge_alpr import cli as cli_mod
from edge_alpr import config, state_lock
from edge_alpr.api.server import free_port
from edge_alpr.errors import StateError
from edge_alpr.lock_holder import holders_of
from edge_alpr.statedir import user_name
from edge_alpr.stream.sources import sample_dir

pytest_plugins = ["mosquitto"]

ME = user_name(os.geteuid())
HARM = "two processes on one state_dir would deliver its outbox's events twice"


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def holder(proc: subprocess.Popen[str], *argv: str) -> str:
    """How the error names ``proc``, started as ``python -m edge_alpr ARGV``."""
    return f"another edge-alpr (pid {proc.pid}, user {ME}, command: {sys.executable} -m edge_alpr {' '.join(argv)})"


def refused(*argv: str) -> list[str]:
    """``edge-alpr ARGV``, which must exit 1 at once: its stderr lines other than the config line."""
    out = cli(*argv, timeout=60)
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert "listening on" not in out.stdout, out.stdout
    return [line for line in out.stderr.splitlines() if "INFO edge_alpr: config: " not in line]


def serve_on_a_state_dir(tmp_path: Path) -> tuple[Path, Path, int, subprocess.Popen[str]]:
    """A running ``edge-alpr serve`` with its own state folder: (folder, config, port, process)."""
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yaml", f"state_dir: {state}\n")
    port = free_port()
    return state, cfg, port, start_serve(cfg, port)


def serving(port: int) -> bool:
    return requests.get(f"http://127.0.0.1:{port}/info/", timeout=10).status_code == 200


def test_a_second_serve_exits_1_naming_the_holder_while_the_first_serves(tmp_path: Path) -> None:
    state, cfg, port, first = serve_on_a_state_dir(tmp_path)
    try:
        # nothing else: no model loaded, no port bound, no camera opened before the refusal
        assert refused("serve", "--config", str(cfg), "--port", str(free_port())) == [
            f"edge-alpr: error: state_dir {state} (from {cfg}) is in use by "
            f"{holder(first, 'serve', '--port', str(port), '--config', str(cfg))}: {HARM}; "
            f"stop it, or give this one its own state_dir in {cfg}"]
        assert serving(port) and first.poll() is None
    finally:
        first.kill()
        first.wait()


def test_a_second_run_never_reaches_the_broker_or_the_outbox(tmp_path: Path, broker: Broker,
                                                             subscriber: Subscriber) -> None:
    """The same config twice, as a copy started by hand beside the service: before the lock
    the second connected with the same client id, and the broker dropped one for the other."""
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yaml", f"state_dir: {state}\nstream: {{enabled: false}}\n"
                       f"mqtt: {{host: 127.0.0.1, port: {broker.port}, device_id: dev}}\n")
    port = free_port()
    argv = ["run", "--config", str(cfg), "--port", str(port)]
    first = subprocess.Popen([sys.executable, "-m", "edge_alpr", *argv], cwd=ROOT, text=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert subscriber.wait_for_text("dev/status", "online", 120)[-1:] == ["online"]
        lines = refused("run", "--config", str(cfg), "--port", str(free_port()))
        assert lines == [f"edge-alpr: error: state_dir {state} (from {cfg}) is in use by {holder(first, *argv)}: "
                         f"{HARM}; stop it, or give this one its own state_dir in {cfg}"]
        assert serving(port) and first.poll() is None
        assert subscriber.texts("dev/status") == ["online"], "the broker saw a second client with the same id"
    finally:
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=30)
    assert first.returncode == 0 and " ERROR " not in stderr and " WARNING " not in stderr, stderr


def test_the_lock_dies_with_its_holder(tmp_path: Path) -> None:
    """SIGKILL leaves the lock file but no lock: the next one starts, and the file names it."""
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yaml", f"state_dir: {state}\n")
    first = start_serve(cfg, free_port())
    try:
        assert any(f"pid {first.pid}" in line for line in refused("serve", "--config", str(cfg), "--port", "0"))
    finally:
        first.kill()
        first.wait()
    assert (state / state_lock.LOCK_FILE).is_file()
    port = free_port()
    second = start_serve(cfg, port)
    try:
        assert serving(port)
        assert (state / state_lock.LOCK_FILE).read_text().startswith(f"pid {second.pid}, command: ")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=10) == 0


def test_read_and_check_config_work_beside_a_running_service(tmp_path: Path) -> None:
    state, cfg, port, first = serve_on_a_state_dir(tmp_path)
    try:
        assert wait_for(lambda: holders_of([state / state_lock.LOCK_FILE]) == [
            f"another edge-alpr (pid {first.pid}, user {ME})"])  # the service holds the folder
        out = cli("check-config", "--config", str(cfg))
        assert out.returncode == 0 and "config OK" in out.stdout, out.stderr
        out = cli("read", str(sorted(sample_dir().glob("*.jpg"))[0]), "--json", "--config", str(cfg))
        assert out.returncode == 0 and '"plate": ' in out.stdout, out.stderr
        for argv in (["--help"], ["--version"], ["read", "--help"], ["run", "--help"], ["serve", "--help"]):
            assert cli(*argv).returncode == 0, argv
        assert serving(port) and first.poll() is None
    finally:
        first.kill()
        first.wait()


def test_every_command_either_takes_the_lock_or_is_tested_beside_a_service() -> None:
    """A new subcommand must be put on one side: writing the state (locked) or not (``regions``
    lists codes and reads no file)."""
    out = cli("--help")
    commands = out.stdout.split("  COMMAND\n", 1)[1].split("\n\n", 1)[0]  # the list under positional arguments
    listed = [line.split()[0] for line in commands.splitlines() if line.startswith("    ") and line[4] != " "]
    assert cli_mod.STATE_COMMANDS == ("serve", "run")
    assert sorted(listed) == sorted([*cli_mod.STATE_COMMANDS, "read", "check-config", "regions"]), listed


def test_a_shared_history_dir_is_held_too(tmp_path: Path) -> None:
    """Two services with their own state folders and one history.dir would write one database."""
    history = tmp_path / "history"
    cfg_a = write_config(tmp_path / "a.yaml", f"state_dir: {tmp_path / 'a'}\nhistory: {{dir: {history}}}\n")
    cfg_b = write_config(tmp_path / "b.yaml", f"state_dir: {tmp_path / 'b'}\nhistory: {{dir: {history}}}\n")
    port = free_port()
    first = start_serve(cfg_a, port)
    try:
        assert refused("serve", "--config", str(cfg_b), "--port", "0") == [
            f"edge-alpr: error: history.dir {history} (from {cfg_b}) is in use by "
            f"{holder(first, 'serve', '--port', str(port), '--config', str(cfg_a))}: two processes on one "
            f"history.dir would write one history database; stop it, or give this one its own history.dir in {cfg_b}"]
    finally:
        first.kill()
        first.wait()


def test_a_holder_out_of_sight_is_named_by_its_lock_file(tmp_path: Path) -> None:
    """In another container /proc/locks shows the holder as pid 0; its lock file still names it.
    (Here the holder is this process, which /proc/locks names but ``holders_of`` leaves out.)"""
    cfg = config.from_dict({"state_dir": str(tmp_path / "state"), "history": {"dir": str(tmp_path / "state")}})
    with state_lock.hold_state(cfg) as held:
        assert len(held.fds) == 1  # history.dir is the state folder itself: locked once
        with pytest.raises(StateError) as caught:
            state_lock.hold_state(cfg)
    lock = tmp_path / "state" / state_lock.LOCK_FILE
    assert str(caught.value).startswith(
        f"state_dir {tmp_path / 'state'} (from <config>) is in use by a process not visible from here (another "
        f"container or pid namespace?), which its lock file {lock} names as pid {os.getpid()}, command: "), caught.value
    assert str(caught.value).endswith(f"{HARM}; stop it, or give this one its own state_dir in <config>")
    state_lock.hold_state(cfg).close()  # closed: free again


def test_a_state_dir_taken_by_default_says_how_to_give_another(tmp_path: Path) -> None:
    """Without a config file (the state_dir is the default), the fix names the key and --config:
    serve and run have no option of their own for it."""
    folder = tmp_path / "state"
    folder.mkdir()
    with state_lock.hold([(folder, "state_dir", "")]):
        with pytest.raises(StateError) as caught:
            state_lock.hold([(folder, "state_dir", "")])
    assert str(caught.value).endswith(
        f"{HARM}; stop it, or give this one its own state_dir (`state_dir: DIR` in a file given with --config)")


def test_a_file_system_without_locks_runs_unguarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(state_lock.fcntl, "flock", no_locks)
    cfg = config.from_dict({"state_dir": str(tmp_path / "state")})
    with caplog.at_level(logging.WARNING), state_lock.hold_state(cfg) as held:
        assert held.fds == []
    assert f"cannot lock {tmp_path / 'state' / state_lock.LOCK_FILE}" in caplog.text
    assert "a second edge-alpr on this folder would not be stopped" in caplog.text


def test_holders_of_names_a_flock_holder_and_its_command(tmp_path: Path) -> None:
    lock = tmp_path / "edge-alpr.lock"
    lock.write_bytes(b"")
    st = lock.stat()
    proc = tmp_path / "proc"
    (proc / "4001").mkdir(parents=True)
    (proc / "4001" / "comm").write_text("edge-alpr\n")
    (proc / "4001" / "cmdline").write_bytes(b"/usr/bin/python3\0/usr/bin/edge-alpr\0run\0--port\0\x1b8081\0")
    (proc / "locks").write_text(
        f"1: FLOCK  ADVISORY  WRITE 4001 {os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino} 0 EOF\n"
        f"2: FLOCK  ADVISORY  WRITE 0 {os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino} 0 EOF\n")
    assert holders_of([lock], proc, command=True) == [
        f"another edge-alpr (pid 4001, user {ME}, command: /usr/bin/python3 /usr/bin/edge-alpr run --port ?8081)"]
    assert holders_of([lock], proc) == [f"another edge-alpr (pid 4001, user {ME})"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to leave a lock file of another user")
def test_a_lock_file_left_by_root_does_not_stop_the_service() -> None:
    """``sudo edge-alpr run`` once on the service's folder leaves a lock file owned by root: the
    service's user locks it read-only (a lock needs no write access), not a state-file error."""
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)  # nobody can reach it
        state = Path(top) / "state"
        state.mkdir()
        os.chown(state, NOBODY, NOBODY)
        cfg = config.from_dict({"state_dir": str(state)})
        state_lock.hold_state(cfg).close()  # as root: the file is root's, 0644
        assert (state / state_lock.LOCK_FILE).stat().st_uid == 0
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never back into pytest
            said = "no lock held"
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                with state_lock.hold_state(cfg) as held:
                    said = "ok" if len(held.fds) == 1 else said
            except BaseException as e:
                said = repr(e)
            finally:
                os.write(write, said.encode())
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            said = pipe.read().decode()
        os.waitpid(pid, 0)
    assert said == "ok", said
