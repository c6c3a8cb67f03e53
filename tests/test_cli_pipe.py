"""The commands that print to stdout, read by a pipe that stops early (``edge-alpr regions |
head``): a quiet exit 141, as a shell reports a writer ended by SIGPIPE, never a traceback asking
for a bug report nor Python's "Exception ignored ... BrokenPipeError" and exit 120.  The real
``edge-alpr`` command as a process, its stdout a pipe whose reading end is closed before it
starts, so its first write fails as a ``head`` that has had its lines makes it.

Each runs without ``PYTHONUNBUFFERED``, as a user's shell does: stdout to a pipe is then
buffered, and the failing write is the flush at the end, after the command's own code returned."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(str(p) for p in (ROOT / "edge_alpr" / "samples").glob("*.jpg"))
# as a user's environment: stdout buffered where it is no terminal
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


def edge_alpr(args: list[str], stdout: int, stderr: int, cwd: Path = ROOT,
              **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_alpr", *args], stdout=stdout, stderr=stderr,
                          text=True, timeout=120, cwd=cwd, env={**ENV, "PYTHONPATH": str(ROOT)}, **kw)


def read_into_file(folder: Path, names: list[str], stderr: int,
                   **kw: Any) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``read --json names`` run in ``folder`` (which gets car.jpg, a sample), its stdout a file:
    the process and the lines of that file."""
    (folder / "car.jpg").write_bytes(Path(SAMPLES[0]).read_bytes())
    results = folder / "results.txt"
    with results.open("w") as file:
        out = edge_alpr(["read", "--json", *names], stdout=file.fileno(), stderr=stderr, cwd=folder, **kw)
    return out, results.read_text().splitlines()


def closed_pipe() -> int:
    """The write end of a pipe whose reader is gone (the caller closes it)."""
    reading, writing = os.pipe()
    os.close(reading)
    return writing


@pytest.mark.parametrize("args", [["regions"], ["read", *SAMPLES[:2]], ["read", "--json", *SAMPLES[:2]],
                                  ["check-config"], ["--help"], ["--version"], ["read", "--help"]],
                         ids=["regions", "read", "read-json", "check-config", "help", "version", "read-help"])
def test_a_reader_that_stops_early_ends_the_command_quietly(args: list[str]) -> None:
    writing = closed_pipe()
    try:
        out = edge_alpr(args, stdout=writing, stderr=subprocess.PIPE)
    finally:
        os.close(writing)
    assert out.returncode == 141, (out.returncode, out.stderr[-3000:])
    assert "Traceback" not in out.stderr and "unexpected error" not in out.stderr, out.stderr[-3000:]
    assert "Broken pipe" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr[-3000:]


def test_a_closed_stderr_is_no_closed_stdout_and_keeps_what_stdout_had(tmp_path: Path) -> None:
    """stdout a file, stderr a pipe whose reader is gone: the picture read before the one whose
    error cannot be said stays in the file, and the command fails (1), not 141 as if its output's
    reader had stopped."""
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"not the rest of a JPEG" * 4)
    writing = closed_pipe()
    try:
        out, lines = read_into_file(tmp_path, ["car.jpg", "bad.jpg"], stderr=writing)
    finally:
        os.close(writing)
    assert out.returncode == 1, out.returncode
    assert len(lines) == 1 and '"filename": "car.jpg"' in lines[0], lines


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full (Linux's always-full device)")
def test_a_stdout_that_cannot_be_written_is_said_in_one_line() -> None:
    """A full disk (/dev/full): the error named on stderr and exit 1, not Python's "Exception ignored"."""
    with open("/dev/full", "w") as full:
        out = edge_alpr(["regions"], stdout=full.fileno(), stderr=subprocess.PIPE)
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert out.stderr == "edge-alpr: error: cannot write the output: no space left on device\n", out.stderr


@pytest.mark.skipif(not hasattr(fcntl, "F_SETPIPE_SZ"), reason="no F_SETPIPE_SZ (Linux's pipe size)")
def test_a_reader_that_stops_in_the_middle_of_a_long_output_ends_it_quietly() -> None:
    """Over 8 KB of output (42 pictures, about 450 bytes a line): stdout's buffer is written while
    the command still runs, and the reader closes after its first bytes (as ``head -c 100``), so
    the failing write comes from ``read``'s own loop, not the flush at the end.  The pipe holds
    one page, so that the command is still writing (blocked) when the reader goes."""
    reading, writing = os.pipe()
    fcntl.fcntl(writing, fcntl.F_SETPIPE_SZ, 4096)
    try:
        command = subprocess.Popen([sys.executable, "-m", "edge_alpr", "read", "--json", *SAMPLES * 7],
                                   stdout=writing, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                   env={**ENV, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(writing)
    try:
        first = os.read(reading, 100)
    finally:
        os.close(reading)
    _, stderr = command.communicate(timeout=120)
    assert first.startswith(b'{"filename": '), first
    assert command.returncode == 141, (command.returncode, stderr[-3000:])
    assert "Traceback" not in stderr and "unexpected error" not in stderr, stderr[-3000:]
    assert "Broken pipe" not in stderr and "Exception ignored" not in stderr, stderr[-3000:]


BAD_CONFIG = "api:\n  port: nope\n"


def test_a_config_error_keeps_its_status_where_stderr_cannot_be_written(tmp_path: Path) -> None:
    """``check-config`` with stderr's reader gone (stdout a file): 78, the config's status, not 141
    as if stdout's reader had stopped."""
    (tmp_path / "bad.yaml").write_text(BAD_CONFIG)
    writing = closed_pipe()
    try:
        with (tmp_path / "out.txt").open("w") as file:
            out = edge_alpr(["check-config", "--config", "bad.yaml"], stdout=file.fileno(), stderr=writing,
                            cwd=tmp_path)
    finally:
        os.close(writing)
    assert out.returncode == 78, out.returncode


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_a_config_error_exits_78_where_the_journal_stream_is_gone(tmp_path: Path, command: str) -> None:
    """Under systemd, stdout and stderr the journal's socket (``JOURNAL_STREAM`` names it), whose
    other end has gone: still 78, which ``RestartPreventExitStatus=78`` stops restarting on."""
    (tmp_path / "bad.yaml").write_text(BAD_CONFIG)
    ours, journal = socket.socketpair()
    journal.close()
    with ours:
        st = os.fstat(ours.fileno())
        out = subprocess.run([sys.executable, "-m", "edge_alpr", command, "--config", "bad.yaml"],
                             stdout=ours.fileno(), stderr=ours.fileno(), timeout=120, cwd=tmp_path,
                             env={**ENV, "PYTHONPATH": str(ROOT), "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert out.returncode == 78, out.returncode


def test_a_file_whose_error_cannot_be_said_does_not_stop_the_next(tmp_path: Path) -> None:
    """``read nope.jpg car.jpg`` with stderr's reader gone: car.jpg is still read (exit 1)."""
    writing = closed_pipe()
    try:
        out, lines = read_into_file(tmp_path, ["nope.jpg", "car.jpg"], stderr=writing)
    finally:
        os.close(writing)
    assert out.returncode == 1, out.returncode
    assert len(lines) == 1 and '"filename": "car.jpg"' in lines[0], lines


def test_with_no_stderr_at_all_an_error_is_not_written_among_the_results(tmp_path: Path) -> None:
    """``read --json nope.jpg car.jpg 2>&-``: Python starts with ``sys.stderr`` None, where
    ``print(file=sys.stderr)`` writes on stdout; the error line went into the JSON lines."""
    out, lines = read_into_file(tmp_path, ["nope.jpg", "car.jpg"], stderr=subprocess.DEVNULL,
                                preexec_fn=lambda: os.close(2))
    assert out.returncode == 1, out.returncode
    assert len(lines) == 1 and '"filename": "car.jpg"' in lines[0], lines
