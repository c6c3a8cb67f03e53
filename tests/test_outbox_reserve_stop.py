"""A SIGTERM while ``serve`` or ``run`` (the unit's command) makes the outbox's reserve (4 MiB
written and fsynced).

Before: each made it in its main loop, so a stop during a make on a slow card waited for its
writes and fsync, and past the stop's deadline the last-resort timer ended the process by the
signal, with an error line ("still running ... exiting now").  Now the reserve is made on a
thread of its own and the stop ends the make: the process stops cleanly.

The slow card is stood in for (it cannot exist here): ``os.fsync`` of the reserve's file sleeps
``SLOW_S``, longer than the stop's deadline, after writing a marker that the make is there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli_server import ROOT

from edge_alpr.api.server import free_port

SLOW_S = 5.0
WRAPPER = f"""
import os, sys, time
marker, real = sys.argv[1], os.fsync
def slow(fd):
    try:
        name = os.readlink(f"/proc/self/fd/{{fd}}")
    except OSError:
        name = ""
    if name.endswith("outbox.reserve.tmp"):
        open(marker, "w").close()
        time.sleep({SLOW_S})
    real(fd)
os.fsync = slow
from edge_alpr.entry import main
sys.argv = ["edge-alpr"] + sys.argv[2:]
sys.exit(main())
"""


@pytest.mark.parametrize("command", ["serve", "run"])
def test_sigterm_during_a_make_of_the_reserve_stops_cleanly(tmp_path: Path, command: str) -> None:
    wrapper = tmp_path / "slow_card.py"
    wrapper.write_text(WRAPPER)
    marker = tmp_path / "in-fsync"
    config = tmp_path / "c.yaml"
    port = free_port()
    config.write_text(f"state_dir: {tmp_path / 'state'}\nmqtt: {{enabled: false}}\n"
                      f"api: {{port: {port}}}\nstream: {{enabled: false}}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, str(wrapper), str(marker), command, "--config", str(config)],
                            cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.poll()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "still running" not in stderr and "Traceback" not in stderr, stderr
    assert not (tmp_path / "state" / "outbox.reserve").exists()  # the make stopped: no rename
