"""What ``run`` and ``serve`` do before they serve, as real processes: ``--host``/``--port`` over
the config's (``make run PORT=8081``), the first line naming the config in use, and a port in use
said at once, before the models load, as one config error."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from edge_alpr import config
from edge_alpr.api.listener import VIA_MAKE
from edge_alpr.api.server import free_port
from edge_alpr.cli import EXIT_CONFIG
from edge_alpr.startup import config_line

ROOT = Path(__file__).resolve().parent.parent
MODELS_LOADING = ("XNNPACK", "loaded model")  # LiteRT's own line, and ours, as the models load


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``edge-alpr`` as typed at a shell: without the mark of ``make run``/``make serve``."""
    shell = {k: v for k, v in os.environ.items() if k != VIA_MAKE}
    return subprocess.run([sys.executable, "-m", "edge_alpr", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**shell, **(env or {})}, stdin=subprocess.DEVNULL)


def quiet_config(tmp_path: Path, extra: str = "") -> Path:
    """A config whose ``run`` opens no camera and no broker, with ``api.port`` one nothing uses."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nlog_level: INFO\nmqtt: {{enabled: false}}\n"
                   f"stream: {{enabled: false}}\n{extra}")
    return cfg


@pytest.fixture()
def taken_port() -> Iterator[int]:
    """A loopback port another program (this test) listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_run_serves_on_the_port_and_host_given_over_the_config_s(tmp_path: Path) -> None:
    configured, given = free_port(), free_port()
    cfg = quiet_config(tmp_path, f"api: {{host: 127.0.0.1, port: {configured}}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "run", "--config", str(cfg), "--host", "localhost",
                             "--port", str(given)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            seen.append(line)
            if not line or "running; API:" in line:
                break
        assert f"API: http://localhost:{given}/v1/plate-reader/" in "".join(seen), "".join(seen)
        assert requests.get(f"http://127.0.0.1:{given}/info/", timeout=10).status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{configured}/info/", timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0, "".join(seen) + rest


def test_run_refuses_a_public_host_given_without_a_token(tmp_path: Path) -> None:
    """``run --host`` passes the check serve's does: an address beyond this machine needs a token."""
    out = cli("run", "--config", str(quiet_config(tmp_path)), "--host", "0.0.0.0", "--port", str(free_port()),
              env={"EDGE_ALPR_API_TOKEN": ""})
    assert out.returncode == EXIT_CONFIG, out.stderr[-3000:]
    assert "refusing to listen on 0.0.0.0 (api.host, or --host) without an API token" in out.stderr, out.stderr
    assert not [s for s in MODELS_LOADING if s in out.stderr], out.stderr


def test_run_with_the_api_off_says_the_address_has_no_use(tmp_path: Path) -> None:
    cfg = quiet_config(tmp_path, "api: {enabled: false}\n")
    out = cli("run", "--config", str(cfg), "--port", "8081")
    assert out.returncode == EXIT_CONFIG, out.stderr[-3000:]
    assert (f"edge-alpr: error: run --port 8081: the API is off (api.enabled: false in {cfg}); set "
            "api.enabled: true there, or leave out --host/--port") in out.stderr, out.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="no make here")
def test_make_run_and_serve_pass_host_and_port_when_given(tmp_path: Path) -> None:
    """``make run PORT=8081`` reaches ``edge-alpr run`` (the README's Development table), and a
    target given neither leaves the config's address alone."""
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed").touch()  # newer than setup.cfg: make -n prints the command alone

    def command(target: str, *assignments: str, **environ: str) -> str:
        clean = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "CONFIG")}
        out = subprocess.run(["make", "-n", "-s", target, f"VENV={venv}", *assignments], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, env={**clean, **environ})
        assert out.returncode == 0, out.stderr
        return " ".join(out.stdout.split())

    for target in ("run", "serve"):
        assert command(target, "PORT=8081") == f"{venv}/bin/edge-alpr {target} --port 8081"
        assert command(target, "HOST=0.0.0.0", "PORT=9000", "CONFIG=my.yaml") == \
            f"{venv}/bin/edge-alpr {target} --config my.yaml --host 0.0.0.0 --port 9000"
        assert command(target) == f"{venv}/bin/edge-alpr {target}"
        # tcsh exports HOST (the machine's name), many platforms PORT: never taken from there
        assert command(target, HOST="mybox", PORT="3000") == f"{venv}/bin/edge-alpr {target}"
        assert command(target, "HOST=") == f"{venv}/bin/edge-alpr {target}"  # no bare --host


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_taken_port_is_said_before_the_models_load(tmp_path: Path, taken_port: int, command: str) -> None:
    """One error naming the port, its holder and the fix (``--port`` for both commands, or
    api.port in the file), before the models load (no LiteRT banner), and no "start failed"."""
    cfg = quiet_config(tmp_path, f"api: {{port: {taken_port}}}\n")
    started = time.monotonic()
    # MAKELEVEL: what any make starts inherits it (``make test`` these tests): not a sign of make run
    out = cli(command, "--config", str(cfg), env={"MAKELEVEL": "1"})
    assert out.returncode == EXIT_CONFIG, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith(f"edge-alpr: error: cannot listen on 127.0.0.1:{taken_port} ("), \
        out.stderr
    assert f"stop it or pick another port (--port N, or api.port in {cfg})" in errors[0], errors
    assert "make" not in errors[0], "typed at a shell: make is not named"
    assert not [s for s in MODELS_LOADING if s in out.stderr], out.stderr
    assert "start failed" not in out.stderr, out.stderr
    assert time.monotonic() - started < 30


def test_a_taken_port_under_make_run_names_make_run_s_port_too(tmp_path: Path, taken_port: int) -> None:
    """``make run`` with the config's port taken: the fix names ``make run PORT=N`` (what the
    user typed takes ``PORT=``, not ``--port``) beside ``--port N``.  Real make, real process: the
    venv's ``edge-alpr`` is this checkout's module."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".installed").touch()  # newer than setup.cfg: make runs the command alone
    program = venv / "bin" / "edge-alpr"
    program.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m edge_alpr "$@"\n')
    program.chmod(0o755)
    cfg = quiet_config(tmp_path, f"api: {{port: {taken_port}}}\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "CONFIG", "MAKELEVEL", "MAKEFLAGS")}
    out = subprocess.run(["make", "-s", "run", f"VENV={venv}", f"CONFIG={cfg}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env=clean, stdin=subprocess.DEVNULL)
    assert out.returncode != 0, out.stderr[-3000:]
    assert f"cannot listen on 127.0.0.1:{taken_port}" in out.stderr, out.stderr[-3000:]
    assert f"stop it or pick another port (--port N, make run PORT=N, or api.port in {cfg})" in out.stderr, \
        out.stderr[-3000:]


def test_the_first_line_names_the_config_in_use(tmp_path: Path, taken_port: int) -> None:
    cfg = quiet_config(tmp_path, f"api: {{port: {taken_port}}}\n")
    out = cli("serve", "--config", str(cfg))
    first = out.stderr.splitlines()[0]
    assert re.search(rf" INFO edge_alpr: config: {re.escape(str(cfg))}$", first), out.stderr


def test_without_config_the_line_says_which_was_read_and_why() -> None:
    """No ``--config``: the installed service's file when there is one (a checkout's ``make run``
    reads it), else the built-in defaults; both say where the choice came from."""
    installed = config.from_dict({"state_dir": "/var/lib/edge-alpr"}, config.DEFAULT_PATH)
    assert config_line(installed, None) == (f"config: {config.DEFAULT_PATH} (no --config given: the installed "
                                            "service's; --config FILE reads another)")
    assert config_line(config.from_dict({}, config.DEFAULTS), None) == \
        f"config: built-in defaults (no --config given, and no {config.DEFAULT_PATH})"
    assert config_line(installed, config.DEFAULT_PATH) == f"config: {config.DEFAULT_PATH}"


def test_a_socket_that_cannot_be_made_is_a_config_error_and_the_next_address_is_tried(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Making the socket can fail before binding it (IPv6 off in the kernel: EAFNOSUPPORT): the
    error names the address as a bind failure does, and the host's other addresses are tried."""
    import errno
    import socket

    from cheroot import wsgi

    from edge_alpr.api import listener
    from edge_alpr.errors import ConfigError

    made = wsgi.Server.prepare_socket

    def no_ipv6(address: object, family: int, *rest: object) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        return made(address, family, *rest)

    monkeypatch.setattr(wsgi.Server, "prepare_socket", staticmethod(no_ipv6))
    with pytest.raises(ConfigError, match=r"cannot listen on ::1:0 \(.*not supported"):
        listener.listen("::1", 0)
    pairs = [(socket.AF_INET6, socket.SOCK_STREAM, 0, "", ("::1", 0, 0, 0)),
             (socket.AF_INET, socket.SOCK_STREAM, 0, "", ("127.0.0.1", 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pairs)  # localhost: ::1 first
    sock = listener.listen("localhost", 0)
    try:
        assert sock.family == socket.AF_INET
    finally:
        sock.close()


def test_localhost_listens_on_127_0_0_1_where_the_hosts_file_names_ipv6_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian's own /etc/hosts names ::1 before 127.0.0.1 for localhost: `--host localhost` bound
    ::1 alone and http://127.0.0.1:<port>/ was refused (make test failed there)."""
    import socket

    from edge_alpr.api import listener

    pairs = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", 0, 0, 0)),
             (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: list(pairs))
    sock = listener.listen("localhost", 0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()
