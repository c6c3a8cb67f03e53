"""A one-line progress bar on stderr for the scripts' long loops (evaluations, benchmarks, packing).

Why one helper: each script had its own ``\\r`` counter, and redirected to a log file those
redrawn lines piled up into one very long line.  On a terminal this redraws a bar in place (at
most every ``min_interval`` seconds); on anything else (a log file, CI) it writes a plain line
at most every ``log_interval`` seconds and one at the end, so a log shows that work moves
without filling up.  Standard output stays clean for the results.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")
BAR_WIDTH = 24


class Progress:
    """Count done items of ``total`` under ``label``; use as a context manager or call ``close``."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, min_interval: float = 0.2,
                 log_interval: float = 30.0) -> None:
        self.label, self.total, self.done = label, max(0, total), 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = min_interval if self.tty else log_interval
        self.start = self.last = time.monotonic()
        self.closed = False

    def line(self) -> str:
        """``label [#####-----] 12/40 30% 3.1/s 9s left`` (the bar and the time left need a total)."""
        el = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / el
        if not self.total:
            return f"{self.label}: {self.done} {rate:.1f}/s"
        frac = min(1.0, self.done / self.total)
        fill = round(frac * BAR_WIDTH)
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = f"{left:.0f}s left" if left != float("inf") else "--"
        return (f"{self.label} [{'#' * fill}{'-' * (BAR_WIDTH - fill)}] {self.done}/{self.total} "
                f"{frac:4.0%} {rate:.1f}/s {eta}")

    def update(self, n: int = 1) -> None:
        """``n`` more items done; redraw if the interval has passed."""
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._write(self.line())

    def close(self) -> None:
        """The final line: how many, in how long (``stopped`` if the loop ended before its total)."""
        if self.closed:
            return
        self.closed = True
        el = time.monotonic() - self.start
        end = "stopped after" if self.total and self.done < self.total else "done in"
        self._write(f"{self.label}: {self.done}{f'/{self.total}' if self.total else ''} {end} {el:.1f}s")
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _write(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + text)  # back to the line's start, clear it, redraw
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(items: Iterable[T], label: str, total: int | None = None, stream: TextIO | None = None) -> Iterator[T]:
    """Yield ``items`` while showing a progress bar (``total`` defaults to ``len(items)``)."""
    if total is None:
        total = len(items) if isinstance(items, (list, tuple)) else 0
    with Progress(label, total, stream) as bar:
        for item in items:
            yield item
            bar.update()  # counted once the loop asks for the next one: the item's work is done
