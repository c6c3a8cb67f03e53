"""The worker that drains one sink of the outbox, in order, at least once.

    stop = threading.Event()
    worker = DeliveryWorker(box, "mqtt", send=lambda item: publish(item.payload), stop=stop)
    worker.start(); ...; stop.set(); worker.join()

``send`` raises any exception to mean "not delivered, retry later"; the worker then waits with
exponential backoff (``backoff_initial_s`` doubling up to ``backoff_max_s``; where the sink's
connection was down, only until it is up again: ``up``) and retries the *same* event, so a
sink's order is kept; a receiver's ``Retry-After`` (429, 503) makes that
wait at least as long as it asks, up to ``backoff_max_s``.  With ``max_failures`` > 0 the worker gives up after
that many consecutive failures and marks itself ``disabled``; the sink's events stay queued
(``outbox.py``).  Each failure is kept twice: ``last_reason``, a few words an operator reads
(``connection refused by 127.0.0.1:9``: ``failures.sentence``), and ``last_error``, the exact
error, which the log and ``/info/`` carry too.  The first failure of a run is warned of, the
retries logged at debug level; a failure that is the sink's connection being down
(``errors.NotConnected``) is at debug level too, as the connection warns of its outage itself
(one cause, one warning), and the first failure of another kind in that run is warned of.

An event the receiver refuses for its size (``send`` raises ``errors.EventTooLarge``) is no
failure to retry: sending it again cannot help, and the events behind it would wait forever.
It is set aside in the outbox (``outbox_sinks.py``: kept, queued again at the next start),
warned of once with the sink's words (the event id, its size, the receiver's limit, the fix),
counted in ``aside``, and the next event goes at once.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..credentials import hide_credentials
from ..errors import DatabaseLocked, EventTooLarge, NotConnected
from ..supervision import DEFAULT_DEADLINE_S, Worker
from . import failures
from .mqtt_connect import wait_connected
from .outbox import Outbox, OutboxItem

log = logging.getLogger(__name__)

LOCKED_RETRY_S = 1.0  # while another process holds the outbox locked: how often a worker looks again


@dataclass
class WorkerState:
    """What a worker reports for /info/ and logs (read without a lock: plain values)."""

    sent: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None  # the exact error (type: message), credentials hidden
    last_reason: str | None = None  # the same in a few words (``failures.sentence``)
    disabled: bool = False
    outbox_errors: int = 0  # reads and acks of the outbox that failed (sqlite3.Error)
    outbox_failing: bool = False
    aside: int = 0  # events set aside by this worker as too large for the receiver
    # when the failures in a row began (time.monotonic(), so a clock step cannot move it; the
    # console shows it as wall-clock time); None while the sink delivers
    failing_since: float | None = None


class DeliveryWorker(Worker):
    """Drains one sink in order: ``send(item)``, then ``ack``; on error back off and retry.

    A failing outbox (``sqlite3.Error`` from ``peek`` or ``ack``: a full disk, an I/O error)
    is retried with the same backoff, logged once per outage, an event sent but not acknowledged
    acknowledged then (not sent again at each retry); one another process holds locked
    (``DatabaseLocked``) is looked at again each ``LOCKED_RETRY_S``, an event sent meanwhile
    acknowledged then (not sent again); anything else unexpected is
    the supervisor's (``supervision.Worker``: logged with its traceback, counted, restarted).
    ``send_timeout_s``: the longest one ``send`` may take (the sink's own timeout).
    """

    def __init__(
        self,
        outbox: Outbox,
        sink: str,
        send: Callable[[OutboxItem], None],
        stop: threading.Event,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 300.0,
        max_failures: int = 0,
        idle_poll_s: float = 0.5,
        batch: int = 16,
        send_timeout_s: float = 30.0,
        shown: str | None = None,
        host: str = "",
        port: int | None = None,
        notice: Callable[[], str | None] | None = None,
        up: threading.Event | None = None,
    ) -> None:
        """``shown``: the sink in the worker's name, logs and reports (default: ``sink`` with its
        credentials hidden); unique per worker, as the supervisor tells workers apart by name.
        ``host``, ``port``: where ``send`` connects, named in ``last_reason``.  ``notice``: what
        the receiver limits while it delivers (MQTT: ``MqttPublisher.notice``), for the reports.
        ``up``: set while the sink's connection is (MQTT: ``MqttPublisher.up``): a retry after
        ``NotConnected`` goes as soon as it is set, not after the rest of the backoff."""
        shown = shown if shown is not None else hide_credentials(sink)
        super().__init__(f"delivery-{shown}", stop, deadline_s=idle_poll_s + DEFAULT_DEADLINE_S,
                         backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s)
        self.outbox = outbox
        self.sink = sink  # the queue's key in the outbox
        self.shown = shown  # the sink in logs and reports: a webhook URL's token hidden
        self.send = send
        self.max_failures = max_failures
        self.idle_poll_s = idle_poll_s
        self.batch = batch
        self.send_timeout_s = send_timeout_s
        self.host, self.port = host, port
        self._notice = notice
        self._up = up
        self.state = WorkerState()
        self._unacked: str | None = None  # sent while the outbox could not be written (locked, full)
        # the last error and reason from before a lock of the outbox, given back once it goes
        self._before_lock: tuple[str | None, str | None] | None = None
        self._warned = False  # this run of failures was warned of (reset by a delivery)

    def notice(self) -> str | None:
        """What the receiver limits (delivering within it), with the fix; None where nothing."""
        return self._notice() if self._notice is not None else None

    def work(self) -> None:
        backoff = self.backoff_initial_s
        while not self.stop_event.is_set():
            self.beat()
            try:
                if self._unacked is not None:  # sent before a lock or a full disk: acknowledged now, not sent again
                    self.outbox.ack(self.sink, self._unacked)
                    self._unacked = None
                    backoff = self._delivered()
                items = self.outbox.peek(self.sink, self.batch)
            except DatabaseLocked as e:
                self._wait_for_lock(e)
                continue
            except sqlite3.Error as e:
                backoff = self._outbox_failed("read" if self._unacked is None else "acknowledge", e, backoff)
                continue
            if self._before_lock is not None:  # the lock went: no longer this sink's last error
                self.state.last_error, self.state.last_reason = self._before_lock
                self._before_lock = None
            if not items:
                self.outbox.wait(self.idle_poll_s)
                continue
            for item in items:
                if self.stop_event.is_set():
                    return
                self.beat(self.send_timeout_s + self.deadline_s)
                try:
                    self.send(self.outbox.restamped(item))  # a clock step since the peek moves its times
                except EventTooLarge as e:  # never delivered as it is: kept aside, the next one goes
                    try:
                        self._set_aside(item, e)
                    except DatabaseLocked as locked:
                        self._wait_for_lock(locked)
                        break
                    except sqlite3.Error as failed:  # tried again (and refused again) once it recovers
                        backoff = self._outbox_failed("set aside an event in", failed, backoff)
                        break
                    continue
                except Exception as e:  # any other failure of a sink means "retry later"
                    self._failed(item, e)
                    if self.state.disabled:
                        return
                    asked = failures.retry_after(e)  # a throttling receiver's wish, within backoff_max_s
                    wait = backoff if asked is None else max(backoff, min(asked, self.backoff_max_s))
                    self.beat(wait + self.deadline_s)
                    if self._up is not None and isinstance(e, NotConnected):  # back: it goes at once
                        wait_connected(self._up, self.stop_event, wait)
                    else:
                        self.stop_event.wait(wait)
                    backoff = min(backoff * 2, self.backoff_max_s)
                    break
                try:
                    self.outbox.ack(self.sink, item.id)
                except DatabaseLocked as e:
                    self._unacked = item.id
                    self._wait_for_lock(e)
                    break
                except sqlite3.Error as e:  # sent (a full disk): acknowledged once it recovers, not sent again
                    self._unacked = item.id
                    backoff = self._outbox_failed("acknowledge", e, backoff)
                    break
                backoff = self._delivered()

    def _delivered(self) -> float:
        """An event acknowledged: the sink (and the outbox) work again; the next backoff."""
        self.state.sent += 1
        if self.state.consecutive_failures or self.state.outbox_failing:
            log.info("delivery to %s recovered after %d failure(s)", self.shown, self.state.consecutive_failures)
        self.state.consecutive_failures = 0
        self._warned = False
        self.state.outbox_failing = False
        self.state.failing_since = None
        self.state.last_error = self.state.last_reason = None
        self._before_lock = None  # delivering: no error of before a lock to give back
        return self.backoff_initial_s

    def _wait_for_lock(self, error: DatabaseLocked) -> None:
        """Another process holds the outbox locked (said by the outbox, once per episode): look
        again ``LOCKED_RETRY_S`` later, not after a backoff that grew meanwhile, or stop."""
        if self._before_lock is None:
            self._before_lock = (self.state.last_error, self.state.last_reason)
        self.state.last_error = self.state.last_reason = str(error)
        self.beat(LOCKED_RETRY_S + self.deadline_s)
        self.stop_event.wait(LOCKED_RETRY_S)

    def _outbox_failed(self, what: str, error: sqlite3.Error, backoff: float) -> float:
        """Count a failure of the outbox itself, wait out ``backoff``; the next backoff."""
        if self.stop_event.is_set():  # closed under a worker that was still sending: stopping anyway
            return backoff
        message = failures.detail(error)  # may quote the URL
        self._before_lock = None  # this error, not the one before a lock, is the last
        self.state.outbox_errors += 1
        self._failing()
        self.state.last_error = message
        self.state.last_reason = hide_credentials(f"cannot {what} the outbox: {error}")
        if not self.state.outbox_failing:
            log.error("delivery to %s: cannot %s the outbox %s (%s); retrying with backoff (check the "
                      "disk and its permissions)", self.shown, what, self.outbox.path, message)
        self.state.outbox_failing = True
        self.beat(backoff + self.deadline_s)
        self.stop_event.wait(backoff)
        return min(backoff * 2, self.backoff_max_s)

    def _set_aside(self, item: OutboxItem, error: EventTooLarge) -> None:
        """Keep ``item`` aside (raises as ``Outbox.set_aside``), said once: the sink's words name
        the event, its size, the limit and the fix; this line where it is kept and when retried."""
        self.outbox.set_aside(self.sink, item.id, failures.detail(error))
        self.state.aside += 1
        log.warning("delivery to %s: %s; the event is set aside in %s (kept: it is tried again at each start "
                    "of edge-alpr, so restart it once that is done) and the events after it go on",
                    self.shown, hide_credentials(str(error)), self.outbox.path)

    def _failing(self) -> None:
        """A failure: the first of a run starts the time the console says it has failed since."""
        if self.state.failing_since is None:
            self.state.failing_since = time.monotonic()

    def _failed(self, item: OutboxItem, error: Exception) -> None:
        message = failures.detail(error)  # may quote the URL
        reason = failures.sentence(error, self.host, self.port, self.send_timeout_s)
        self.outbox.fail(self.sink, item.id, message)
        self.state.consecutive_failures += 1
        self._failing()
        self.state.last_error, self.state.last_reason = message, reason
        if reason not in message:  # the log says both: what happened, and the exact error
            message = f"{reason} ({message})"
        if self.max_failures and self.state.consecutive_failures >= self.max_failures:
            self.state.disabled = True
            log.error("delivery to %s disabled after %d consecutive failures (last: %s); its "
                      "events stay queued (new ones too, within the outbox bounds); restart the "
                      "service to retry", self.shown, self.state.consecutive_failures, message)
        elif isinstance(error, NotConnected):  # the connection's own warning says it, with the fix
            log.debug("delivery to %s failed (attempt %d): %s (the connection's outage)", self.shown,
                      self.state.consecutive_failures, message)
        elif not self._warned:
            # once per outage: the events are safe on disk; the retries are not news
            self._warned = True
            log.warning("delivery to %s failed: %s; its events wait in %s and are sent when it is back "
                        "(retried with backoff; each retry is logged at debug level)", self.shown, message,
                        self.outbox.path)
        else:
            log.debug("delivery to %s failed (attempt %d): %s", self.shown, self.state.consecutive_failures,
                      message)
