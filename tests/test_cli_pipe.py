"""The commands that print to stdout, read by a pipe that stops early (``edge-alpr regions |
head``): a quiet exit 141, as a shell reports a writer ended by SIGPIPE, never a traceback asking
for a bug report (``--help`` and ``--version``: argparse drops a failed write itself).  The real
``edge-alpr`` command as a process, its stdout a pipe whose reading end is closed before it
starts, so its first write fails as a ``head`` that has had its lines makes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(str(p) for p in (ROOT / "edge_alpr" / "samples").glob("*.jpg"))


@pytest.mark.parametrize("args", [["regions"], ["read", *SAMPLES[:2]], ["check-config"]],
                         ids=["regions", "read", "check-config"])
def test_a_reader_that_stops_early_ends_the_command_quietly(args: list[str]) -> None:
    reading, writing = os.pipe()
    os.close(reading)
    try:
        out = subprocess.run([sys.executable, "-m", "edge_alpr", *args], stdout=writing, stderr=subprocess.PIPE,
                             text=True, timeout=120, cwd=ROOT)
    finally:
        os.close(writing)
    assert out.returncode == 141, (out.returncode, out.stderr[-3000:])
    assert "Traceback" not in out.stderr and "unexpected error" not in out.stderr, out.stderr[-3000:]
    assert "Broken pipe" not in out.stderr, out.stderr[-3000:]
