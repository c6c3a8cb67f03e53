"""``serve``'s ``listening on URL`` line goes only where a program reads it.

Why: scripts and tests start the server and read that line from a pipe to know it is up, but a
person at a terminal also sees the log line on stderr, and under systemd stdout and stderr both
go to the journal: the address came twice.  Real pipes and a real pseudo-terminal here, and the
real server as a process.
"""

from __future__ import annotations

import io
import os
import pty
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import requests

from edge_alpr.api.announce import announce_to
from edge_alpr.api.server import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def pipe_writer() -> Iterator[IO[str]]:
    r, w = os.pipe()
    stream = os.fdopen(w, "w")
    yield stream
    stream.close()
    os.close(r)


def test_a_pipe_gets_the_line(pipe_writer: IO[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    assert announce_to(pipe_writer)


def test_a_terminal_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as tty:
        assert not announce_to(tty)
    os.close(leader)


def test_the_journal_does_not_but_another_stream_does(pipe_writer: IO[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    st = os.fstat(pipe_writer.fileno())
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    assert not announce_to(pipe_writer)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino + 1}")
    assert announce_to(pipe_writer)


def test_a_stream_without_a_file_gets_the_line_and_a_closed_stdout_none() -> None:
    assert announce_to(io.StringIO())
    assert not announce_to(None)  # sys.stdout when the server is started with stdout closed


def test_a_reader_gone_before_the_line_leaves_the_server_serving_and_stoppable(tmp_path: Path) -> None:
    """``edge-alpr serve | true``: the line cannot be written.  The server goes on whole (the
    state folder still locked: a second ``serve`` on it is refused) and SIGTERM stops it with 0;
    it was a process half alive, its HTTP threads serving after ``serve`` had given up the lock."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nlog_level: INFO\n")
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "PYTHONPATH": str(ROOT)}
    port = free_port()
    reading, writing = os.pipe()
    os.close(reading)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "serve", "--port", str(port), "--config",
                                 str(cfg)], stdout=writing, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    finally:
        os.close(writing)
    try:
        assert proc.stderr is not None
        said = []
        for line in proc.stderr:  # until the write has failed (or the process says why it stopped)
            said.append(line)
            if "on stdout" in line or "unexpected error" in line:
                break
        assert "still serving" in said[-1], "".join(said)
        assert requests.get(f"http://127.0.0.1:{port}/info/", timeout=30).status_code == 200
        second = subprocess.run([sys.executable, "-m", "edge_alpr", "serve", "--port", str(free_port()),
                                 "--config", str(cfg)], capture_output=True, text=True, timeout=120, cwd=ROOT,
                                env=env)
        assert second.returncode != 0 and "listening on" not in second.stdout, second.stderr[-2000:]
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(said) + rest
    assert "Traceback" not in rest, rest
