"""``edge-alpr run``: cameras, delivery and the HTTP API in one process, fit for systemd.

Order of life: check the camera settings and files and the models folder -> bind the API's
address -> open the cameras -> load models -> open the outbox -> API (+ webhooks) -> MQTT ->
camera threads -> ``READY=1``. If any step fails, every part already started is stopped again
(MQTT says ``offline``) and ``run`` exits with status 1, or 78 where the config must change
first (a camera file that cannot be read, a models folder without usable models, a port in use),
or 75 where the disk under the state folder is too full to open its files (``state_room.py``);
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

This module is the start-up: ``build`` puts the parts together (and takes them apart again when
a step fails), ``main`` runs the main thread's loop.  What the parts do once running (each
event's delivery, the status messages, the ordered stop) is ``running.py``; the systemd
notifications are ``systemd.py``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from functools import partial
from typing import Any

from . import __version__
from .config import Config, camera_regions
from .configcheck import check_camera_files
from .delivery.mqtt import MQTT_SINK, MqttPublisher
from .delivery.outbox import Outbox
from .delivery.outbox_keeper import Keeper
from .delivery.webhooks import Webhooks
from .delivery.worker import DeliveryWorker
from .history.opening import open_history
from .history.store import History
from .lifecycle import keep_frame_memory, make_state_dir, stop_on_signals
from .metrics import Metrics, camera_samples
from .models_folder import check_models_directory, load_recognizer
from .recognizer import RecognizeOptions, Recognizer
from .running import CAMERA_STOP_S, SHUTDOWN_BUDGET_S, Service, close_quietly, event_filename
from .state_watch import StateFiles, said_gone
from .statedir import opening_state
from .stream.loop import CameraLoop
from .stream.source_config import describe_source
from .stream.sources import open_source
from .supervision import Supervisor
from .systemd import pet_watchdog, sd_notify, watchdog_interval
from .usage import Usage
from .watchlists import WatchLists

# what callers import from here, whichever module defines it
__all__ = ["CAMERA_STOP_S", "MAIN_TICK_S", "SHUTDOWN_BUDGET_S", "Service", "build", "describe_source",
           "event_filename", "main", "pet_watchdog", "sd_notify", "startup_lines", "watchdog_interval"]

log = logging.getLogger(__name__)

MAIN_TICK_S = 1.0


def build(cfg: Config, stop: threading.Event, recognizer: Recognizer | None = None) -> Service:
    """Create and start every part (cameras last); raises EdgeAlprError on a bad setup.

    On any failure, what was already started is stopped (``stop`` is set) before the error
    propagates, so a failed start leaves no thread, socket or retained ``online`` behind.
    """
    state = make_state_dir(cfg)
    cameras = cfg.stream.in_use
    # Settings first: a typo, or a camera file or models folder that is not there, is reported
    # before a camera opens or a model loads; then the API's address, whose port another program may hold.
    options = [RecognizeOptions(mode=cam.mode, regions=camera_regions(cfg, cam.id, cam.regions))
               for cam in cameras]
    check_camera_files(cfg)
    if recognizer is None:
        check_models_directory(cfg)
    listener = None
    if cfg.api.enabled:
        from .api.listener import api_listener  # the API's modules only when it serves

        listener = api_listener(cfg, "run")
    sources: list[Any] = []
    outbox: Outbox | None = None
    history: History | None = None
    svc: Service | None = None
    supervisor = Supervisor()
    try:
        # Open the cameras next: a wrong path or missing library is reported before the slow
        # model load.
        for cam in cameras:
            sources.append(open_source(cam, stop, state))
        recognizer = recognizer or load_recognizer(cfg)
        with opening_state(state, "state_dir"):
            outbox = Outbox(state / "outbox.sqlite", cfg.outbox.max_rows, cfg.outbox.max_age_s,
                            max_bytes=cfg.outbox.max_bytes)
            watchlists = WatchLists(cfg.watchlists, state)
            history = open_history(cfg.history, state)
        metrics = Metrics()
        api = None
        if cfg.api.enabled:
            from .api.server import build as build_api

            api = build_api(cfg, recognizer, outbox, (history, watchlists, metrics), supervisor, listener)
            usage, webhooks = api.usage, api.webhooks
        else:
            with opening_state(state, "state_dir"):
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
            _start_mqtt(svc, outbox, watchlists, metrics)
        _start_cameras(svc, sources, options, metrics)
        return svc
    except BaseException as e:
        # the error itself is said once, by the command that ends on it
        log.info("start failed (%s): stopping what was started", type(e).__name__)
        stop.set()
        _stop_started(sources, svc, (outbox, history), listener)
        raise


def _start_mqtt(svc: Service, outbox: Outbox, watchlists: WatchLists, metrics: Metrics) -> None:
    """The MQTT publisher and its delivery worker, once the service holds the rest: its first
    ``online`` health carries the outbox's counts."""
    cfg, stop = svc.cfg, svc.stop
    svc.mqtt = MqttPublisher(cfg.mqtt, tuple(c.id for c in cfg.stream.in_use),
                             lists=watchlists.names(), stop=stop)
    watchlists.on_change(svc.mqtt.set_lists)
    svc.refresh_status()  # the first online health carries the queue's counts
    svc.mqtt.start()
    worker = DeliveryWorker(outbox, MQTT_SINK, metrics.counted(MQTT_SINK, svc.mqtt.send), stop,
                            backoff_initial_s=cfg.mqtt.retry_initial_s,
                            backoff_max_s=cfg.mqtt.retry_max_s,
                            send_timeout_s=cfg.mqtt.publish_timeout_s, notice=svc.mqtt.notice,
                            up=svc.mqtt.up)
    svc.workers.append(worker)
    worker.start()


def _start_cameras(svc: Service, sources: list[Any], options: list[RecognizeOptions], metrics: Metrics) -> None:
    """One loop per camera, last of all: each takes its source out of ``sources`` (it owns and
    closes it from then on), so a failure part-way leaves there only the sources no loop holds."""
    cfg, recognizer, history = svc.cfg, svc.recognizer, svc.history
    salt = svc.mqtt.device if svc.mqtt is not None else socket.gethostname()
    # the frame of each event's best read: the history's thumbnail, image webhooks' upload
    keep_scene = (history is not None and cfg.history.enabled) or any(t.image for t in cfg.webhooks.targets)
    for cam, option in zip(cfg.stream.in_use, options, strict=True):
        loop = CameraLoop(cam, cfg.stream.events, sources[0],
                          metrics.timed("camera", partial(recognizer.recognize, options=option)),
                          svc.deliver, svc.stop, id_salt=salt, crops_dir=_crops_dir(cfg),
                          keep_scene=keep_scene)
        svc.cameras.append(loop)
        sources.pop(0)  # the loop owns (and closes) its source from here on
    metrics.collect(partial(camera_samples, svc.cameras))
    for loop in svc.cameras:
        loop.start()


def _stop_started(sources: list[Any], svc: Service | None, stores: tuple[Outbox | None, History | None],
                  listener: socket.socket | None) -> None:
    """After a failed start (``stop`` already set): close what ``build`` had opened, the service
    whole once it exists (it owns the stores then), else the stores themselves; a second error
    while closing is logged, so that the first, which names what to fix, is the one raised."""
    for source in sources:
        close_quietly(source)
    try:
        if svc is not None:
            svc.close()
        else:
            for part in stores:
                if part is not None:
                    part.close()
    except Exception as close_error:  # keep the first error: it names what to fix
        log.warning("stopping after the failed start: %s", close_error)
    if listener is not None:  # not yet the server's (which closed it, if it was)
        listener.close()


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
            f"cameras: {cams or f'none ({cfg.stream.why_none()})'}",
            f"events: {events}"]


def _crops_dir(cfg: Config) -> Any:
    from pathlib import Path

    return Path(cfg.stream.events.crops_dir) if cfg.stream.events.crops_dir else cfg.state_path / "crops"


def _held_files(svc: Service) -> list[Any]:
    """The state files the running service holds open (watched by ``main``)."""
    from .history.schema import DATABASE

    files = [svc.outbox.path, svc.usage.path]
    if svc.history is not None:
        files.append(svc.history.root / DATABASE)
    return files


def main(cfg: Config) -> int:
    """Run until SIGTERM/SIGINT; the exit status for the CLI."""
    stop = stop_on_signals()
    keep_frame_memory()
    svc = build(cfg, stop)  # a failure stops what it started, then the CLI exits with 1
    keeper: Keeper | None = None
    try:
        port = svc.api.server.port if svc.api is not None else None
        for line in startup_lines(svc, port):
            log.info("%s", line)
        sd_notify("READY=1\nSTATUS=running")
        watchdog = watchdog_interval()
        tick = min(MAIN_TICK_S, watchdog) if watchdog else MAIN_TICK_S
        last_refresh = float("-inf")
        held = StateFiles(_held_files(svc))
        keeper = Keeper(svc.outbox).start()  # the outbox's each second (outbox_keeper.py)
        while not stop.wait(tick):
            gone = held.gone()
            if gone:  # see state_watch.py: close() copies the queue and counters back
                log.error("%s", said_gone(gone))
                svc.save_state = True
                return 1
            if watchdog:
                pet_watchdog(svc.supervisor)
            svc.follow_clock()
            due = time.monotonic() - last_refresh >= cfg.mqtt.usage_interval_s
            svc.refresh_cameras(force=due)  # a state change at once, the counters when due
            if due:
                svc.refresh_status()
                last_refresh = time.monotonic()
    finally:
        sd_notify("STOPPING=1")
        if keeper is not None:
            keeper.end()
        svc.close()
        log.info("%s", svc.stopped_line())
    return 0
