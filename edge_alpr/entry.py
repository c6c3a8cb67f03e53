"""The ``edge-alpr`` command's entry point (and ``python -m edge_alpr``'s): Ctrl-C exits 130
quietly from the first instant the package runs, not only once the CLI does.

Why: importing the CLI (the config, its sections, and what they import) takes about 0.1 s on
an x86 core and more on a Pi, and a Ctrl-C in that time came as a ``KeyboardInterrupt`` inside
an import: Python's traceback, and an exit by the signal, where a Ctrl-C later exits 130 with
nothing said (``cli.main``, ``lifecycle.py``).  This module imports nothing but the standard
library's ``signal`` and ``os``: SIGINT ends the process with 130 at once while the CLI is
imported (nothing is open or written yet), then goes back to Python's own handling.  Before the
package runs at all (Python's own start, ``site``: about 50 ms) nothing of it can answer.

A reader of stdout that stops early (``edge-alpr regions | head``, ``edge-alpr read *.jpg | head
-1``, ``edge-alpr --help | true``) ends the command quietly with 141, as a shell reports a writer
ended by SIGPIPE: it was "stopped on an unexpected error; please report it with this traceback".
stdout is flushed here, before ``main`` returns: where it is buffered (a pipe or a file, unless
``PYTHONUNBUFFERED`` is set) the first write to a closed pipe fails only in that flush, which
Python's own one at exit made "Exception ignored ... BrokenPipeError" and exit status 120.  Only
stdout's reader is meant: a closed stderr (its reader gone while stdout is a file) is no reason
to drop what stdout holds, which is still written.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import TextIO

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_PIPE = 141  # 128 + SIGPIPE: stdout's reader went away


def _interrupted(signum: int, frame: FrameType | None) -> None:
    """SIGINT while the CLI is imported: nothing to stop or flush yet, so exit at once."""
    os._exit(EXIT_INTERRUPTED)


def main(argv: list[str] | None = None) -> int:
    """``cli.main``, with Ctrl-C exiting 130 quietly during its imports and before its own handling."""
    fill_closed_fds()
    # Only where Ctrl-C would interrupt: a process started with SIGINT ignored (a background job
    # of a script) keeps ignoring it.
    guard = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    previous = signal.signal(signal.SIGINT, _interrupted) if guard else None
    try:
        from .cli import main as cli_main
    finally:
        if guard:
            signal.signal(signal.SIGINT, previous)
    try:
        try:
            return cli_main(argv)
        finally:  # on every way out, argparse's SystemExit (--help, --version) too
            _flush_outputs()
    except KeyboardInterrupt:  # before cli.main's own ``try`` (parsing the arguments)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        if stdout_gone():  # what stdout still holds would fail again in Python's flush at exit
            to_devnull(sys.stdout)
            return EXIT_PIPE
        # another stream's (stderr's reader gone): a failure, not a reader of the output that
        # stopped, and never 141, which a unit's RestartPreventExitStatus=78 does not expect
        to_devnull(sys.stderr)
        return 1


def fill_closed_fds() -> None:
    """A process started with stdin, stdout or stderr closed (``2>&-``) gets /dev/null there, and
    a ``sys.stderr`` on it.  Why: the first file the process opens takes the free number, and
    what writes to that number (the TFLite runtime's line on fd 2) writes into that file; and
    with ``sys.stderr`` None, ``print(file=sys.stderr)`` writes on stdout, among the results
    (``read --json nope.jpg car.jpg 2>&-`` printed nothing of car.jpg, exit 1)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
    if sys.stderr is None:
        sys.stderr = os.fdopen(2, "w", closefd=False)


def stdout_gone() -> bool:
    """Whether stdout's reader has gone (a pipe or socket whose other end is closed: it polls as
    an error or a hang-up), so that a ``BrokenPipeError`` is stdout's and ends the command with
    141; one from anything else (stderr's reader gone while stdout is a file) is no closed pipe
    of the command's output."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # None (started with stdout closed), or no file
        return False
    import select

    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _flush_outputs() -> None:
    """Write what stdout holds (a ``BrokenPipeError`` where its reader has gone), then what
    stderr holds: a stderr whose reader has gone is dropped, so that Python's flush at exit does
    not turn the command's own exit status into 120.  stdout that cannot be written otherwise (a
    full disk) is said on stderr, and the command exits 1."""
    try:
        if sys.stdout is not None:  # None: started with stdout closed (edge-alpr regions >&-)
            sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        to_devnull(sys.stdout)
        say(f"edge-alpr: error: cannot write the output: {(e.strerror or str(e)).lower()}")
        raise SystemExit(1) from e
    finally:
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
        except OSError:
            to_devnull(sys.stderr)


def say(text: str) -> None:
    """``text`` on stderr, where it can be written at all: a stderr whose reader has gone (a
    closed pipe, the journal's socket) is pointed at /dev/null, so that the error it was to say
    does not become another one and the command keeps its own exit status (78 for a bad config,
    which systemd must see to stop restarting).  With no stderr at all (``2>&-``: Python's
    ``sys.stderr`` is None) nothing is said: ``print`` would write it on stdout, among the results."""
    if sys.stderr is None:
        return
    try:
        print(text, file=sys.stderr, flush=True)
    except (AttributeError, OSError):
        to_devnull(sys.stderr)


def to_devnull(stream: TextIO | None) -> None:
    """Point ``stream``'s file descriptor at /dev/null, where what it still holds goes at exit."""
    try:
        fd = stream.fileno() if stream is not None else -1
    except (OSError, ValueError):
        return
    if fd < 0:
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)
