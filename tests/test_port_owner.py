"""A port in use names the program that holds it, read from /proc (``ss`` is not on a minimal
Debian system): real sockets bound on free loopback ports, a process of another user that may
not look into root's, and /proc tables that are not what Linux writes, which must not fail."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_alpr.api.port_owner import port_owner
from edge_alpr.api.server import ApiServer, free_port
from edge_alpr.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
IN_USE = "[Errno 98] Address already in use"
# /proc/net/tcp as Linux writes it: port 0x1F90 (8080) listening and 0x1F91 connected, both uid 0
TCP = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
       "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0\n"
       "   1: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0\n")
pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").is_file(), reason="no /proc/net/tcp (not Linux)")


@pytest.fixture(params=[(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")], ids=["ipv4", "ipv6"])
def listening(request: pytest.FixtureRequest) -> Iterator[int]:
    """A port this process listens on."""
    family, host = request.param
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, 0))
        except OSError as e:
            pytest.skip(f"cannot bind {host}: {e}")
        s.listen()
        yield s.getsockname()[1]


def this_program() -> str:
    return Path(f"/proc/{os.getpid()}/comm").read_text().strip()


def test_the_process_listening_is_named(listening: int) -> None:
    started = time.monotonic()
    owner = port_owner(listening)
    assert time.monotonic() - started < 2.0
    assert owner is not None and owner.pid == os.getpid(), owner
    assert f"{this_program()} (pid {os.getpid()}, user " in str(owner)


def test_a_port_nobody_listens_on_has_no_owner() -> None:
    assert port_owner(free_port()) is None


def test_the_api_server_names_who_holds_its_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ApiServer(lambda environ, start: [], "127.0.0.1", port, threads=1, shutdown_timeout_s=1.0)
        with pytest.raises(ConfigError) as raised:
            server.start()
    message = str(raised.value)
    assert f"port {port} is in use by {this_program()} (pid {os.getpid()}" in message, message
    assert "pick another port" in message and "ss -ltnp" not in message, message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a process as another user")
def test_another_users_program_is_named_by_its_user_with_the_command_to_find_it() -> None:
    """``nobody`` may not read root's /proc/<pid>/fd: the socket's owner is still said.  It keeps
    the capability to read files (not other processes' fds), as a checkout under /root (mode 0700
    on Debian) must still be imported."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = f"from edge_alpr.api.port_owner import port_in_use; print(port_in_use({port}))"
        out = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                              "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search",
                              sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"port {port} is in use by a program of user root" in out.stdout, out.stdout
    assert f"ss -ltnp 'sport = :{port}'" in out.stdout and "iproute2" in out.stdout, out.stdout
    assert f"pid {os.getpid()}" not in out.stdout


def test_a_port_in_use_whose_holder_is_not_found_keeps_the_command_and_names_its_package() -> None:
    # EADDRINUSE without a listener (a socket bound and not listening, a race): no owner to name
    from edge_alpr.api.server import listen_fix

    port = free_port()
    fix = listen_fix(IN_USE, "127.0.0.1", port)
    assert f"port {port} is in use" in fix and f"ss -ltnp 'sport = :{port}'" in fix and "iproute2" in fix, fix


@pytest.mark.parametrize("tcp", [
    "",  # empty
    "header only\n",
    "  sl  local_address rem_address   st\n   0: zz:yy 00000000:0000 0A\n",  # short, not hex
    "h\n 0: 0100007F:ZZZZ 00000000:0000 0A 0:0 00:0 0 notauid 0 123\n",
    "\x00\xff garbage \n" * 50,
])
def test_tables_unlike_linux_s_say_nothing_and_never_fail(tmp_path: Path, tcp: str) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(tcp, encoding="latin-1")
    assert port_owner(80, proc=tmp_path) is None
    assert port_owner(80, proc=tmp_path / "missing") is None


def test_a_socket_no_visible_process_holds_is_named_by_its_owner(tmp_path: Path) -> None:
    """The process holding the socket is another user's (no fd folder to read), then a visible one."""
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(TCP)
    assert port_owner(8081, proc=tmp_path) is None, "an established connection is not a listener"
    owner = port_owner(8080, proc=tmp_path)
    assert owner is not None and owner.pid is None and str(owner) == "a program of user root"
    fd = tmp_path / "77" / "fd"
    fd.mkdir(parents=True)
    (fd / "3").symlink_to("socket:[4242]")
    (tmp_path / "77" / "comm").write_text("edge-alpr\x1b[2J\n")
    owner = port_owner(8080, proc=tmp_path)
    assert owner is not None and owner.pid == 77 and str(owner) == "edge-alpr?[2J (pid 77, user root)"
