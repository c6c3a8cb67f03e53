"""A real mosquitto on a free loopback port, for the tests and the benchmarks that need a broker.

Why one starter: the tests (``tests/mosquitto.py``), the camera-loop benchmark and the soak all
run their own broker, and each needs the same details right: its own folder and config, and
``user root`` when started as root, because Debian's mosquitto otherwise drops privileges to
the ``mosquitto`` user and can no longer write its folder (made world writable for the same
reason).  What differs between them is a parameter: the tests want persistence (a restarted
broker keeps the retained messages and the queued QoS 1 ones), the soak a deep queue and no
persistence (as on a plain broker, a restart loses the retained messages and the device must
publish them again).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from edge_alpr.api.server import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def installed() -> bool:
    """Whether there is a mosquitto binary to start (``apt-get install mosquitto``)."""
    return os.path.exists(MOSQUITTO)


class Broker:
    """A mosquitto process that can be stopped and restarted on the same port.

    ``persistent``: keep retained and queued messages across restarts (saved every second);
    ``max_queued_messages``: how many QoS 1 messages it queues per client (mosquitto's default
    when None).
    """

    def __init__(self, workdir: Path, persistent: bool = True, max_queued_messages: int | None = None) -> None:
        self.port = free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.conf = self.dir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true",
                 f"log_dest file {self.dir}/mosquitto.log"]
        if persistent:
            lines += ["persistence true", f"persistence_location {self.dir}/", "autosave_interval 1"]
        else:
            lines.append("persistence false")
        if max_queued_messages is not None:
            lines.append(f"max_queued_messages {max_queued_messages}")
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and return once it listens; raise if it exits or does not within 10 s."""
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None
