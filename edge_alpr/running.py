"""The running service: where each camera event goes, what MQTT is told, and the ordered stop.

Why apart from ``service.py``: that module puts the parts together (and takes them apart again
when a start fails); this is what the assembled parts do while running.  ``Service.deliver``
commits a camera event to every sink's queue in one outbox transaction (every sink gets it, or
after a crash none does), then keeps it in the history.  ``Service.close`` stops everything on
one deadline inside systemd's 2 s budget: cameras first (their followed plates go into the
outbox; one still recognising at ``CAMERA_STOP_S`` is flushed from the shutdown instead), then
the delivery workers, MQTT (``offline``), the API, and the outbox last; what then waits in the
outbox, per sink, is the last line of the log (``Service.stopped_line``), so that whoever stops
the service knows that nothing was lost and what the next start still has to send.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

from . import imaging
from .config import Config
from .credentials import hide_credentials
from .delivery.mqtt import MQTT_SINK, MqttPublisher
from .delivery.outbox import Outbox
from .delivery.webhooks import Webhooks, metric_labels
from .delivery.worker import DeliveryWorker
from .errors import InputError, StateError
from .history.store import History, from_event
from .recognizer import Recognizer
from .stream.health import camera_health
from .stream.loop import CameraLoop
from .stream.tracker import PlateEvent
from .supervision import Supervisor
from .usage import Usage
from .watchlists import WatchLists

# ``service.py`` assembles and runs these parts: their lines keep its logger name.
log = logging.getLogger("edge_alpr.service")

SHUTDOWN_BUDGET_S = 1.5  # of systemd's 2 s: what joining the threads may take in total
CAMERA_STOP_S = 0.6  # of that: how long the cameras may take to finish a recognition and flush


@dataclass
class Service:
    """The running parts, so tests and the benchmark can build and stop one in-process."""

    cfg: Config
    recognizer: Recognizer
    outbox: Outbox
    usage: Usage
    webhooks: Webhooks
    stop: threading.Event
    mqtt: MqttPublisher | None = None
    cameras: list[CameraLoop] = field(default_factory=list)
    workers: list[DeliveryWorker] = field(default_factory=list)
    api: Any = None
    history: History | None = None
    watchlists: WatchLists | None = None
    supervisor: Supervisor = field(default_factory=Supervisor)
    _quota_warned: bool = False
    save_state: bool = False  # state files gone while running: copy them back on close
    started: float = field(default_factory=time.monotonic)
    waiting: dict[str, int] | str | None = None  # per sink, what waits in the outbox as it closes; or why unknown

    def deliver(self, event: PlateEvent) -> None:
        """Commit one event to every sink's queue (durable when this returns), then keep it in
        the history; an event a watch list matches carries ``match``.  On a full disk the outbox
        holds the event in memory until there is room (``outbox_held.py``) and the camera goes on."""
        payload = event.to_payload()
        match = self.watchlists.match(event.result.read.plate) if self.watchlists else None
        result = event.result.to_dict()
        if match is not None:
            payload["match"] = result["match"] = match.to_dict()
        try:
            self.usage.take()
        except InputError as e:
            if not self._quota_warned:
                log.warning("camera events beyond the monthly quota are still delivered: %s", e)
                self._quota_warned = True
        except StateError as e:  # the count is lost, not the event: the outbox may still have room
            log.error("camera %s: event %s not counted: %s", event.camera_id, event.id, e)
        entries: list[tuple[str, dict[str, Any], bytes | None]] = []
        if self.mqtt is not None:
            entries.append((MQTT_SINK, payload, None))
        if self.cfg.webhooks.targets:  # an API read's body, the camera's frame as its upload
            data = {"processing_time": round(event.processing_ms, 3), "results": [result],
                    "filename": event_filename(event), "version": 1, "camera_id": event.camera_id,
                    "timestamp": payload["timestamp"], "id": event.id}
            image = None
            if event.scene is not None and any(t.image for t in self.cfg.webhooks.targets):
                image = imaging.encode_jpeg(event.scene)
            entries.extend(self.webhooks.entries(data, image))
        if entries:  # one transaction: every sink gets the event, or (on a crash) none does
            try:
                self.outbox.put_many(entries, clock=event.clock)  # a camera's times move with the clock's steps
            except StateError as e:  # locked by another process and no room beside it: not the camera's end
                log.error("camera %s: plate %s, event %s: %s", event.camera_id, payload["plate"], event.id, e)
        if self.history is not None and self.cfg.history.enabled:
            self.history.publish(from_event(event, payload, match))  # never raises
        log.info("camera %s: plate %s (score %.2f, %d frame%s), event %s", event.camera_id,
                 payload["plate"], event.result.read.score, event.frames, "" if event.frames == 1 else "s",
                 event.id)

    def follow_clock(self) -> None:
        """A step of the wall clock (time sync): the times of the events kept before it move with
        it (``event_times.py``); each second, from the main thread (the outbox's on its keeper
        thread: ``outbox_keeper.py``).  Never raises."""
        if self.history is not None:
            self.history.follow_clock()

    def usage_counters(self) -> dict[str, Any]:
        snap = self.usage.snapshot()
        stats = self.outbox.stats()
        return {"calls": snap.calls, "max_calls": snap.limit, "lifetime_calls": snap.lifetime_calls,
                "resets_on": snap.resets_on, "dropped": sum(stats["dropped"].values())}

    def refresh_status(self) -> None:
        if self.mqtt is None:
            return
        counters = self.usage_counters()
        stats = self.outbox.stats()
        self.mqtt.set_status(dropped=counters["dropped"], pending=sum(stats["pending"].values()),
                             aside=sum(stats["aside"].values()),
                             crashes=self.supervisor.crashes(), stalled=self.supervisor.stalled())
        self.mqtt.publish_usage(counters)

    def refresh_cameras(self, force: bool = False) -> None:
        """Each camera's retained MQTT health: sent when its state changed, or when ``force``."""
        if self.mqtt is None:
            return
        for loop in self.cameras:
            self.mqtt.publish_camera_health(loop.camera.id, camera_health(loop), force)

    def close(self) -> None:
        """Stop everything within SHUTDOWN_BUDGET_S; the outbox is closed last.

        The cameras go first, as their followed plates go into the outbox: each gets
        CAMERA_STOP_S to finish its recognition and flush; one still busy then (a slow or hung
        model) is flushed from here, so its plates are queued before the outbox closes.  A
        capture thread stuck in a read holds nothing that needs waiting for.  Also right after
        a failed start: parts that never started are skipped, and the sources of cameras whose
        thread never ran are closed here (a running loop closes its own).
        """
        self.stop.set()
        self.outbox.wake()
        started = time.monotonic()
        deadline = started + SHUTDOWN_BUDGET_S

        def left(floor: float = 0.05) -> float:
            return max(floor, deadline - time.monotonic())

        for loop in self.cameras:
            if loop.is_alive():
                loop.join(max(0.0, started + CAMERA_STOP_S - time.monotonic()))
        for loop in self.cameras:
            if loop.ident is None:  # never started
                close_quietly(loop.source)
            elif loop.is_alive():
                log.warning("camera %s still recognising %.1f s after stop: flushing its followed "
                            "plates from the shutdown", loop.camera.id, time.monotonic() - started)
                if not loop.flush(timeout=left()):
                    log.error("camera %s: followed plates not queued (its tracker stayed busy past "
                              "the shutdown budget)", loop.camera.id)
        for worker in self.workers:
            if worker.is_alive():
                worker.join(left())
        if self.mqtt is not None:
            self.mqtt.stop(timeout=max(0.1, min(0.5, deadline - time.monotonic())))
        if self.save_state:  # the cameras' last events are in: copy before the files close
            for part in (self.outbox, self.usage):
                try:
                    if part.save_to(part.path):
                        log.warning("copied %s back from the open file", part.path)
                except (OSError, sqlite3.Error) as e:  # the folder cannot be made again: said, and the stop goes on
                    log.error("could not copy %s back from the open file (%s); its contents are lost when "
                              "this process ends", part.path, e)
        if self.api is not None:  # stops the server and webhooks, closes usage and outbox
            self.api.close(left(), last_look=self._count_waiting)
        else:
            self.webhooks.join(left())
            self._count_waiting()
            self.usage.close()
            self.outbox.close()
        if self.history is not None:
            self.history.close()

    def _count_waiting(self) -> None:
        """What waits in the outbox once nothing puts or delivers any more (``stopped_line``)."""
        try:
            self.outbox.write_held()  # where the disk has room again; those still held are lost (said)
            stats = self.outbox.stats()
            self.waiting = {sink: n - stats["held"][sink] for sink, n in stats["pending"].items()
                            if n - stats["held"][sink]}
        except sqlite3.Error as e:
            self.waiting = f"the outbox could not be read: {e}"

    def stopped_line(self) -> str:
        """The log's last line after a stop: how long it ran, and what waits in the outbox for
        which sink (named as on ``/metrics``), sent at the next start."""
        ran = f"edge-alpr stopped after {time.monotonic() - self.started:.0f} s"
        if not isinstance(self.waiting, dict):
            return f"{ran}; {self.waiting or 'the outbox was not read'}"
        if not self.waiting:
            return f"{ran}; nothing waits in the outbox"
        names = {MQTT_SINK: MQTT_SINK} if self.mqtt is not None else {}
        names.update(metric_labels(self.cfg.webhooks.targets))
        order = [*(sink for sink in names if sink in self.waiting), *sorted(set(self.waiting) - set(names))]
        shown = [f"{names.get(sink) or hide_credentials(sink) + ', no longer configured'} ({self.waiting[sink]})"
                 for sink in order]
        unsent = "" if set(self.waiting) <= set(names) else \
            " (a sink no longer configured: once it is configured again)"
        return f"{ran}; {sum(self.waiting.values())} event(s) wait in the outbox for: {', '.join(shown)}; " \
               f"they are sent at the next start{unsent}"


def event_filename(event: PlateEvent) -> str:
    """``<camera>_<UTC time of the best read>.jpg``: the ``filename`` of a camera event, as an
    API read carries its upload's (and the name of the image sent to ``image: true`` targets)."""
    ts = event.timestamp.astimezone(timezone.utc)
    return f"{event.camera_id}_{ts:%Y%m%dT%H%M%S}.{ts.microsecond // 1000:03d}Z.jpg"


def close_quietly(source: Any) -> None:
    """Close a camera source that no running loop owns (a failed start, a loop never run)."""
    try:
        source.close()
    except Exception as e:  # already failing or stopping: report, do not mask the first error
        log.warning("closing a camera source failed: %s", e)
