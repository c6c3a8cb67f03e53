"""``serve``'s ``listening on URL`` line goes only where a program reads it.

Why: scripts and tests start the server and read that line from a pipe to know it is up, but a
person at a terminal also sees the log line on stderr, and under systemd stdout and stderr both
go to the journal: the address came twice.  Real pipes and a real pseudo-terminal here.
"""

from __future__ import annotations

import io
import os
import pty
from collections.abc import Iterator
from typing import IO

import pytest

from edge_alpr.api.server import announce_to


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
