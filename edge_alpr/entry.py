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
-1``) ends the command quietly with 141, as a shell reports a writer ended by SIGPIPE: it was
"stopped on an unexpected error; please report it with this traceback".
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_PIPE = 141  # 128 + SIGPIPE: stdout's reader went away


def _interrupted(signum: int, frame: FrameType | None) -> None:
    """SIGINT while the CLI is imported: nothing to stop or flush yet, so exit at once."""
    os._exit(EXIT_INTERRUPTED)


def main(argv: list[str] | None = None) -> int:
    """``cli.main``, with Ctrl-C exiting 130 quietly during its imports and before its own handling."""
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
        return cli_main(argv)
    except KeyboardInterrupt:  # before cli.main's own ``try`` (parsing the arguments)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout's (cli.main lets no other through)
        # Python flushes stdout again at exit and would report the pipe once more
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        return EXIT_PIPE
