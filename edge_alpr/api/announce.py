"""``serve``'s ``listening on URL`` line on stdout: where it goes, and a reader gone before it."""

from __future__ import annotations

import logging
import sys
from typing import IO

from ..entry import to_devnull
from ..systemd import file_id, is_journal

log = logging.getLogger(__name__)


def announce(url: str) -> None:
    """``listening on URL`` on stdout.  A reader gone before it (``serve | true``, a starter that
    died) is no reason to stop serving: stdout then points at /dev/null and the server goes on
    (the log line says the address).  Why: the failing write raised out of ``serve`` with the
    HTTP threads still serving and the state folder's lock released, a process half alive that
    a second ``serve`` on the same state_dir then ran beside."""
    try:
        print(f"listening on {url}", flush=True)
    except OSError as e:
        to_devnull(sys.stdout)
        log.warning("cannot print 'listening on %s' on stdout (%s); still serving", url,
                    (e.strerror or str(e)).lower())


def announce_to(stream: IO[str] | None) -> bool:
    """Whether ``serve`` prints its ``listening on URL`` line on ``stream`` (stdout); the log line
    leaves the address out only when it goes to the same place (``same_target``).

    Why: a program that starts the server reads that line from a pipe to know it is up; a person
    at a terminal sees the log line on stderr, and under systemd stdout and stderr both go to the
    journal (``JOURNAL_STREAM`` names its socket): there the log line says it.  With stdout
    closed (``serve >&-``) Python's ``sys.stdout`` is None: nowhere to print.
    """
    if stream is None:
        return False
    try:
        if stream.isatty():
            return False
    except (OSError, ValueError):  # not a file (a test's capture): print
        return True
    return not is_journal(stream)


def same_target(a: IO[str] | None, b: IO[str] | None) -> bool:
    """Whether two streams write to one file, pipe or terminal (``2>&1``); False where either
    writes to none (a test's capture)."""
    ident = file_id(a)
    return ident is not None and ident == file_id(b)
