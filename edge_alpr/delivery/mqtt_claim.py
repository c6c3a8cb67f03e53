"""One ``run`` per MQTT identity on a machine: a second one with the running one's client id or
topics on the same broker refuses to start, naming the first and the fix.

Why: the state folder's lock (``state_lock.py``) stops a second ``run`` on the same ``state_dir``,
but a copy started by hand with the defaults (``/var/lib/edge-alpr`` as root) beside one with its
own config, or two configs with their own state folders, still start both.  Both then connect as
``edge-alpr-<host name>`` under the topics ``edge-alpr/<host name>/``: measured on one machine
with mosquitto 2, the broker took the connection from one for the other every 2 s for as long as
both ran, each cleared the other's retained camera health at every reconnect ("a camera no
longer configured", an info line each time, in both logs) and the ``status`` topic flapped
between them, while the only warning (the connection drops) came 5 s in and guessed among three
causes.

How: for each identity (the client id, and the topic base ``<prefix>/<device>``), qualified by
the broker's address as configured, an abstract Unix socket is bound for the process's life.
Such a name is no file: the kernel drops it when the process ends however it ends (SIGKILL, a
crash), so nothing stale is left, and it is shared by every user and mount namespace of the
network namespace (the unit's ``PrivateTmp`` and its own user do not hide it).  Its holder is
found as a port's is (``/proc/net/unix`` gives the inode, ``/proc/<pid>/fd`` the process).
Devices on other machines that share a device id are not seen here: the broker's takeovers
are then warned of by ``mqtt_outage.Outage``.

Exit status: like the state lock's, a ``StateError`` (exit 1, which the unit retries): the name
goes when its holder stops.
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from ..api.port_owner import socket_process
from ..errors import StateError
from ..lock_holder import described
from .mqtt_config import MqttConfig
from .mqtt_connect import client_id, device_id

PREFIX = "edge-alpr-mqtt/"
LOOPBACK = {"localhost", "127.0.0.1", "::1", "ip6-localhost", "localhost6"}  # one broker, several names
HOLDER_BUDGET_S = 0.3  # an error message must not wait on a machine with very many processes


class Claim:
    """The identity names this process holds; ``close`` (or the process's end) releases them."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []

    def close(self) -> None:
        while self.sockets:
            self.sockets.pop().close()

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def broker(cfg: MqttConfig) -> str:
    """The broker as ``host:port``, its loopback names as one."""
    host = cfg.host.strip().lower().strip("[]")
    return f"{'localhost' if host in LOOPBACK else host}:{cfg.port}"


def identities(cfg: MqttConfig) -> list[tuple[str, str]]:
    """What two processes must not share on one broker: (what it is, as the error says it, name)."""
    base = f"{cfg.topic_prefix}/{device_id(cfg)}"
    return [(f"client id '{client_id(cfg)}'", f"client:{client_id(cfg)}"), (f"the topics {base}/", f"topics:{base}")]


def address(cfg: MqttConfig, name: str) -> bytes:
    """The abstract socket name of ``name`` on ``cfg``'s broker (a digest: names are <= 107 bytes)."""
    digest = hashlib.sha256(f"{broker(cfg)}\0{name}".encode()).hexdigest()[:40]
    return f"\0{PREFIX}{digest}".encode()


def hold(cfg: MqttConfig, origin: str) -> Claim:
    """Take ``cfg``'s identities on its broker for this process, or raise the ``StateError`` naming
    the process that holds one and the fix (``origin``: the config file, "" for the defaults)."""
    claim = Claim()
    try:
        for said, name in identities(cfg):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(address(cfg, name))
            except OSError as e:
                sock.close()
                if e.errno != errno.EADDRINUSE:
                    return claim  # no abstract sockets here (not Linux): run unguarded
                holder = holder_of(address(cfg, name)) or "another process on this machine"
                where = f"in {origin}" if origin else "(`mqtt: {device_id: NAME}` in a file given with --config)"
                raise StateError(
                    f"mqtt: {holder} already publishes to broker {cfg.host}:{cfg.port} under {said}: two "
                    "would take the connection from each other every few seconds and clear each other's "
                    f"retained camera health; stop it, or give this one its own mqtt.device_id {where}") from e
            claim.sockets.append(sock)
    except BaseException:
        claim.close()
        raise
    return claim


def holder_of(name: bytes, proc: Path = Path("/proc")) -> str | None:
    """Who has bound the abstract socket ``name``, as ``lock_holder.described`` says it; None when
    nothing this user may inspect says (never raises: it runs while reporting another error)."""
    shown = "@" + name[1:].decode()
    try:
        lines = (proc / "net" / "unix").read_text(encoding="ascii", errors="replace").splitlines()[1:]
        # Num RefCount Protocol Flags Type St Inode Path
        inodes = {fields[6] for fields in (line.split() for line in lines) if len(fields) >= 8 and fields[7] == shown}
        found = socket_process(inodes, proc, time.monotonic() + HOLDER_BUDGET_S) if inodes else None
    except (OSError, ValueError):
        return None
    if found is None or found[0] == os.getpid():
        return None
    return described(found[0], proc / str(found[0]), with_command=True)
