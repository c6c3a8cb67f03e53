"""Worker threads that heal themselves, and the check that decides the systemd watchdog ping.

Why: a device runs unattended for months.  A thread that dies on an unexpected exception (a
``RuntimeError`` from a runtime, an ``sqlite3`` error on a full disk) must not end that camera
or that sink for good while the process looks healthy; and a thread that hangs must get the
process restarted, which systemd does only if the watchdog pings stop.

* ``Worker`` runs ``work()``; when it raises anything but a deliberate stop, the exception is
  logged once with its traceback, counted in ``crashes`` and ``work()`` runs again after a
  backoff (doubling from ``backoff_initial_s`` to ``backoff_max_s``; back to the start once a
  run lasted longer than ``backoff_max_s``).  ``work()`` returning means the worker is done
  (stop, end of a file, a disabled sink).
* Progress: a worker calls ``beat(within)`` to promise its next beat within ``within`` seconds
  (before a blocking read, a network send, a backoff wait).  ``Supervisor.stalled()`` names the
  workers past their promise; ``service.main`` pings the watchdog only while there are none.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .credentials import hide_credentials

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 60.0  # most a worker may go without a beat unless it promised longer


class Worker(threading.Thread):
    """A daemon thread running ``work()`` under supervision (see the module docstring)."""

    def __init__(self, name: str, stop: threading.Event, deadline_s: float = DEFAULT_DEADLINE_S,
                 backoff_initial_s: float = 1.0, backoff_max_s: float = 60.0) -> None:
        super().__init__(name=name, daemon=True)
        self.stop_event = stop
        self.deadline_s = deadline_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.crashes = 0
        self.last_error: str | None = None  # the last crash's type and message, credentials hidden
        self.crashed_at: float | None = None  # monotonic time of the last crash (the console's summary)
        self.finished = False
        self._due = float("inf")  # no promise before it runs
        self._backoff = backoff_initial_s
        self._run_since = time.monotonic()

    def work(self) -> None:
        """The worker's loop; returns when it is done (it must watch ``stop_event``)."""
        raise NotImplementedError

    def beat(self, within: float | None = None) -> None:
        """Progress: the next beat comes within ``within`` s (default ``deadline_s``)."""
        self._due = time.monotonic() + (self.deadline_s if within is None else within)

    def overdue(self, now: float | None = None) -> float:
        """Seconds past its promised beat (0 when on time, done, or not started)."""
        if self.finished or not self.is_alive():
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - self._due)

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                self.beat()
                self._run_since = time.monotonic()
                try:
                    self.work()
                    return
                except Exception as e:  # the point of supervision: anything a worker did not expect
                    if not self.recover(e):
                        return
        finally:
            self.finished = True
            self.finish()

    def recover(self, error: Exception) -> bool:
        """Count ``error``, log it once with its traceback and wait out the backoff before the
        work goes on; False when stop came meanwhile.  ``run`` calls it, and so does a loop that
        must keep its place (the API server's)."""
        if time.monotonic() - self._run_since > self.backoff_max_s:
            self._backoff = self.backoff_initial_s  # it ran a good while: a new failure, not a loop
        self.crashes += 1
        # hidden here, once: /info/, MQTT health and the console show it as it is (an OpenCV or
        # urllib error may quote the camera's or receiver's URL, password and all)
        self.last_error = hide_credentials(f"{type(error).__name__}: {error}")
        self.crashed_at = time.monotonic()
        log.error("%s failed unexpectedly (%d so far): %s; restarting it in %.1f s", self.name, self.crashes,
                  self.last_error, self._backoff, exc_info=error)
        self.beat(self._backoff + self.deadline_s)
        stopped = self.stop_event.wait(self._backoff)
        self._backoff = min(self._backoff * 2, self.backoff_max_s)
        self._run_since = time.monotonic()
        return not stopped

    def finish(self) -> None:
        """Called once in the worker's thread when it ends (release what it owns)."""

    def describe(self) -> dict[str, Any]:
        """Name, state and error counts for ``/info/`` and the MQTT health message."""
        state = "stopped" if self.finished else ("stalled" if self.overdue() else
                                                  ("running" if self.is_alive() else "not started"))
        return {"name": self.name, "state": state, "crashes": self.crashes, "last_error": self.last_error}


class FunctionWorker(Worker):
    """A ``Worker`` whose ``work`` is a function of the worker (so it can ``beat``)."""

    def __init__(self, name: str, target: Callable[[Worker], None], stop: threading.Event,
                 **kwargs: Any) -> None:
        super().__init__(name, stop, **kwargs)
        self.target = target

    def work(self) -> None:
        self.target(self)


class Supervisor:
    """The workers of one process, for the watchdog decision and the health reports."""

    def __init__(self) -> None:
        self._workers: list[Callable[[], Iterable[Worker]]] = []
        self._reported: set[str] = set()

    def watch(self, workers: Callable[[], Iterable[Worker]]) -> None:
        """Add a group of workers (a function, so that groups built later are seen too)."""
        self._workers.append(workers)

    def workers(self) -> list[Worker]:
        return [w for group in self._workers for w in group()]

    def stalled(self) -> list[str]:
        """Names of the workers past their promised beat, each logged once per stall."""
        now = time.monotonic()
        # a list, not a dict by name: two workers of one name must not hide each other's stall
        late = sorted((w.name, s) for w in self.workers() if (s := w.overdue(now)) > 0)
        for name, seconds in late:
            if name not in self._reported:
                log.error("%s made no progress for %.0f s past its deadline: the watchdog is no longer "
                          "pinged, so systemd restarts the service", name, seconds)
        self._reported = {name for name, _ in late}
        return [name for name, _ in late]

    def crashes(self) -> int:
        return sum(w.crashes for w in self.workers())

    def describe(self) -> list[dict[str, Any]]:
        return [w.describe() for w in self.workers()]
