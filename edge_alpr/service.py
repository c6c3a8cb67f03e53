"""``edge-alpr run``: cameras, delivery and the HTTP API in one process, fit for systemd.

Order of life: check the camera settings -> open the cameras -> load models -> open the outbox
-> API (+ webhooks) -> MQTT -> camera threads -> ``READY=1``. If any step fails, every part
already started is stopped again (MQTT says ``offline``) and ``run`` exits with status 1;
nothing is left running. Then the main thread pets the watchdog while every worker thread makes
progress (``supervision.py``: cameras, capture, delivery and the API server restart themselves
after an unexpected exception; a hung one stops the pings and systemd restarts the service) and
refreshes the retained status and usage messages. SIGTERM/SIGINT set one stop event: cameras
flush the plates they are following into the outbox (a camera still recognising at
``CAMERA_STOP_S`` is flushed by the main thread instead), delivery workers stop between sends,
MQTT says ``offline``, and the outbox is closed; all on one deadline inside the 2 s systemd
budget, whatever a camera (stuck in a read), a webhook target or a client does (``lifecycle``
ends the process 1.8 s after the signal whatever still runs). SIGKILL loses nothing committed:
the outbox is SQLite (WAL, synchronous=FULL) and the broker's last will reports ``offline``.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC
from functools import partial
from typing import Any

from . import __version__, imaging
from .config import Config, camera_regions
from .delivery.mqtt import MQTT_SINK, MqttPublisher
from .delivery.outbox import Outbox
from .delivery.webhooks import Webhooks
from .delivery.worker import DeliveryWorker
from .errors import InputError
from .history.store import History, from_event, open_history
from .lifecycle import keep_frame_memory, make_state_dir, stop_on_signals
from .metrics import Metrics, camera_samples
from .recognizer import RecognizeOptions, Recognizer
from .stream.config import FolderSourceConfig, OpenCvSourceConfig, Picamera2SourceConfig, VideoSourceConfig
from .stream.health import camera_health
from .stream.loop import CameraLoop
from .stream.sources import open_source
from .stream.tracker import PlateEvent
from .supervision import Supervisor
from .usage import Usage
from .watchlists import WatchLists

log = logging.getLogger(__name__)

SHUTDOWN_BUDGET_S = 1.5  # of systemd's 2 s: what joining the threads may take in total
CAMERA_STOP_S = 0.6  # of that: how long the cameras may take to finish a recognition and flush
MAIN_TICK_S = 1.0


def sd_notify(message: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``message`` to systemd's $NOTIFY_SOCKET (no-op without one); True if sent."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(address)
            s.sendall(message.encode())
    except OSError as e:
        log.warning("sd_notify to %s failed: %s", env.get("NOTIFY_SOCKET"), e)
        return False
    return True


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Half of systemd's WatchdogSec (from $WATCHDOG_USEC), or None when not asked for."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


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

    def deliver(self, event: PlateEvent) -> None:
        """Commit one event to every sink's queue (durable when this returns), then keep it in
        the history; an event a watch list matches carries ``match``."""
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
            self.outbox.put_many(entries)
        if self.history is not None and self.cfg.history.enabled:
            self.history.publish(from_event(event, payload, match))  # never raises
        log.info("camera %s: plate %s (score %.2f, %d frames), event %s", event.camera_id,
                 payload["plate"], event.result.read.score, event.frames, event.id)

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
                _close_quietly(loop.source)
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
        if self.api is not None:
            self.api.close(left())  # stops the server and webhooks, closes usage and outbox
        else:
            self.webhooks.join(left())
            self.usage.close()
            self.outbox.close()
        if self.history is not None:
            self.history.close()


def build(cfg: Config, stop: threading.Event, recognizer: Recognizer | None = None) -> Service:
    """Create and start every part (cameras last); raises EdgeAlprError on a bad setup.

    On any failure, what was already started is stopped (``stop`` is set) before the error
    propagates, so a failed start leaves no thread, socket or retained ``online`` behind.
    """
    state = make_state_dir(cfg.state_path)
    cameras = cfg.stream.cameras if cfg.stream.enabled else ()
    # Settings first: a typo is reported before a camera opens or a model loads.
    options = [RecognizeOptions(mode=cam.mode, regions=camera_regions(cfg, cam.id, cam.regions))
               for cam in cameras]
    sources: list[Any] = []
    outbox: Outbox | None = None
    history: History | None = None
    svc: Service | None = None
    supervisor = Supervisor()
    try:
        # Open the cameras next: a wrong path or missing library is reported before the slow
        # model load.
        for cam in cameras:
            sources.append(open_source(cam, stop))
        recognizer = recognizer or Recognizer.from_config(cfg.models)
        outbox = Outbox(state / "outbox.sqlite", cfg.outbox.max_rows, cfg.outbox.max_age_s,
                        max_bytes=cfg.outbox.max_bytes)
        watchlists = WatchLists(cfg.watchlists, state)
        history = open_history(cfg.history, state)
        metrics = Metrics()
        api = None
        if cfg.api.enabled:
            from .api.server import build as build_api

            api = build_api(cfg, recognizer, outbox, (history, watchlists, metrics), supervisor)
            usage, webhooks = api.usage, api.webhooks
        else:
            usage = Usage(state / "usage.sqlite", cfg.usage.max_calls)
            webhooks = Webhooks(cfg.webhooks, outbox, stop)
        svc = Service(cfg, recognizer, outbox, usage, webhooks, stop, api=api, history=history,
                      watchlists=watchlists, supervisor=supervisor)
        if api is None:
            supervisor.watch(lambda: webhooks.workers.values())
        supervisor.watch(lambda: [*svc.workers, *(w for loop in svc.cameras for w in (loop, loop.capture))])
        if api is None:
            webhooks.start()
        if cfg.mqtt.enabled:
            svc.mqtt = MqttPublisher(cfg.mqtt, tuple(c.id for c in cameras),
                                     lists=watchlists.names())
            watchlists.on_change(svc.mqtt.set_lists)
            svc.mqtt.start()
            worker = DeliveryWorker(outbox, MQTT_SINK, metrics.counted(MQTT_SINK, svc.mqtt.send), stop,
                                    backoff_initial_s=cfg.mqtt.retry_initial_s,
                                    backoff_max_s=cfg.mqtt.retry_max_s,
                                    send_timeout_s=cfg.mqtt.publish_timeout_s)
            svc.workers.append(worker)
            worker.start()
        salt = svc.mqtt.device if svc.mqtt is not None else socket.gethostname()
        # the frame of each event's best read: the history's thumbnail, image webhooks' upload
        keep_scene = (history is not None and cfg.history.enabled) or any(t.image for t in cfg.webhooks.targets)
        for cam, option in zip(cameras, options, strict=True):
            loop = CameraLoop(cam, cfg.stream.events, sources[0],
                              metrics.timed("camera", partial(recognizer.recognize, options=option)),
                              svc.deliver, stop, id_salt=salt, crops_dir=_crops_dir(cfg),
                              keep_scene=keep_scene)
            svc.cameras.append(loop)
            sources.pop(0)  # the loop owns (and closes) its source from here on
        metrics.collect(partial(camera_samples, svc.cameras))
        for loop in svc.cameras:
            loop.start()
        return svc
    except BaseException as e:
        log.info("start failed (%s): stopping what was started", e)
        stop.set()
        for source in sources:
            _close_quietly(source)
        try:
            if svc is not None:
                svc.close()
            else:
                for part in (outbox, history):
                    if part is not None:
                        part.close()
        except Exception as close_error:  # keep the first error: it names what to fix
            log.warning("stopping after the failed start: %s", close_error)
        raise


def event_filename(event: PlateEvent) -> str:
    """``<camera>_<UTC time of the best read>.jpg``: the ``filename`` of a camera event, as an
    API read carries its upload's (and the name of the image sent to ``image: true`` targets)."""
    ts = event.timestamp.astimezone(UTC)
    return f"{event.camera_id}_{ts:%Y%m%dT%H%M%S}.{ts.microsecond // 1000:03d}Z.jpg"


def _close_quietly(source: Any) -> None:
    try:
        source.close()
    except Exception as e:  # already failing or stopping: report, do not mask the first error
        log.warning("closing a camera source failed: %s", e)


def startup_lines(svc: Service, port: int | None) -> list[str]:
    """What a first run says once: where the API is, what it reads, where the events go."""
    cfg = svc.cfg
    api = f"http://{cfg.api.host}:{port}/v1/plate-reader/" if port else "off (api.enabled: false)"
    cams = ", ".join(f"{loop.camera.id} ({describe_source(loop.camera.source)})" for loop in svc.cameras)
    sinks = []
    if svc.mqtt is not None:
        sinks.append(f"MQTT {cfg.mqtt.host}:{cfg.mqtt.port} ({svc.mqtt.base}/<camera>/plate)")
    if cfg.webhooks.targets:
        sinks.append(f"{len(cfg.webhooks.targets)} webhook target(s)")
    events = (f"{' and '.join(sinks)}, queued in {svc.outbox.path} until delivered" if sinks
              else "logged only (no MQTT, no webhooks configured)")
    return [f"edge-alpr {__version__} running; API: {api}",
            f"cameras: {cams or 'none (stream.enabled is false or no camera is listed)'}",
            f"events: {events}"]


def describe_source(source: Any) -> str:
    """A camera source in a few words, with no password (an RTSP URL may carry one)."""
    if isinstance(source, FolderSourceConfig):
        return f"images in {source.path}" if source.path else "the bundled sample images"
    if isinstance(source, VideoSourceConfig):
        return f"video {source.path}"
    if isinstance(source, OpenCvSourceConfig):
        if source.url:
            return re.sub(r"//[^/@]*@", "//", source.url)
        return "GStreamer pipeline" if source.pipeline else f"/dev/video{source.device}"
    if isinstance(source, Picamera2SourceConfig):
        return f"picamera2 camera {source.camera_num}"
    return type(source).__name__


def _crops_dir(cfg: Config) -> Any:
    from pathlib import Path

    return Path(cfg.stream.events.crops_dir) if cfg.stream.events.crops_dir else cfg.state_path / "crops"


def pet_watchdog(supervisor: Supervisor, environ: dict[str, str] | None = None) -> bool:
    """Ping systemd's watchdog only while every worker made progress within its deadline, so
    that a hung worker gets the process restarted; True if pinged."""
    return not supervisor.stalled() and sd_notify("WATCHDOG=1", environ)


def main(cfg: Config) -> int:
    """Run until SIGTERM/SIGINT; the exit status for the CLI."""
    stop = stop_on_signals()
    keep_frame_memory()
    svc = build(cfg, stop)  # a failure stops what it started, then the CLI exits with 1
    try:
        port = svc.api.server.port if svc.api is not None else None
        for line in startup_lines(svc, port):
            log.info("%s", line)
        sd_notify("READY=1\nSTATUS=running")
        watchdog = watchdog_interval()
        tick = min(MAIN_TICK_S, watchdog) if watchdog else MAIN_TICK_S
        last_refresh = float("-inf")
        while not stop.wait(tick):
            if watchdog:
                pet_watchdog(svc.supervisor)
            due = time.monotonic() - last_refresh >= cfg.mqtt.usage_interval_s
            svc.refresh_cameras(force=due)  # a state change at once, the counters when due
            if due:
                svc.refresh_status()
                last_refresh = time.monotonic()
    finally:
        sd_notify("STOPPING=1")
        svc.close()
    return 0
