"""What the console shows besides the history: cameras, sinks, usage, and each camera's view.

Everything is read from the parts the process already has, at the moment the page asks: the
supervisor's workers (camera loops and delivery workers), the outbox's counters, the
webhooks' state, the usage counters and the history's size.  Nothing here runs unless a
console is open, so a device nobody looks at pays nothing.

The live view, the newest frame a camera recognised with its reads drawn, is ``console_view``.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..delivery.mqtt import MQTT_SINK
from ..delivery.worker import DeliveryWorker
from ..errors import InputError
from ..history.queries import iso
from ..stream.health import camera_health
from ..stream.loop import CameraLoop
from ..stream.source_config import describe_source
from ..stream.view import WHAT
from .timestamps import parse_timestamp

if TYPE_CHECKING:
    from .app import ApiContext

# the camera's health state (``stream/health.py``, as in /info/ and MQTT) in the table's words,
# and its row's class: green while frames arrive, red while the source cannot open or hung
SHOWN_STATE = {"ended": "source ended", "starting": "starting (no frame yet)"}
# a time a video or folder camera's frame or event carries: its file's, not when it was read
FILE_TIME_WHY = "The time the frame carries, as its events do: its file's modification time (a " \
    "video's plus the frame's position in it), not when it was read"
FILE_TIME = f'<span class="detail" title="{FILE_TIME_WHY}">file time</span>'
STATE_CLASS = {"streaming": "ok", "starting": "muted", "waiting": "muted", "ended": "muted"}  # else "bad"


@dataclass(frozen=True)
class CameraView:
    """One camera's row of the console's camera table."""

    index: int
    id: str
    source: str
    state: str  # one of stream.health.STATES
    fps: float  # recognised frames per second (over the last 10 s or more)
    capture_fps: float
    frames_read: int
    frames_processed: int
    frames_dropped: int
    events: int
    lag_s: float
    last_frame_s: float | None  # seconds since the newest captured frame
    crashes: int
    errors: int  # frames not recognised + failures to open or read the source
    last_error: str | None
    has_view: bool
    view_problem: str = ""  # "" while the frames show something, else dark, bright or frozen (stream/view.py)
    view_for_s: float = 0.0  # how long the problem has lasted
    failing_since: str = ""  # ISO 8601 UTC time the source stopped delivering ("" while it delivers)
    failing_for_s: float = 0.0  # and how long ago that was
    waiting: str = ""  # a waiting camera's source: what for, in words (FrameSource.waiting)
    read_before: bool = False  # last_frame_s is of a frame read before this start (FrameSource.read_before)
    frame_time: str = ""  # a camera timed by its files: the time its newest frame carries (ISO 8601 UTC)
    last_error_at: str = ""  # when last_error was said (ISO 8601 UTC): a streaming camera's is past

    @property
    def view_line(self) -> str:
        """The State cell's line for a camera that streams but sees nothing useful."""
        if not self.view_problem:
            return ""
        return f"sees nothing useful for {duration(self.view_for_s)}: " \
               f"{WHAT.get(self.view_problem, self.view_problem)}"

    @property
    def failing_for(self) -> str:
        """How long a reconnecting or failed camera has been without its source, in words."""
        return duration(self.failing_for_s)

    @property
    def shown_state(self) -> str:
        """The state in the table's words; a ``waiting`` folder camera says what for."""
        return self.waiting or SHOWN_STATE.get(self.state, self.state)

    @property
    def last_frame(self) -> str:
        """The Last frame cell: how long ago, and whether that was before this start."""
        if self.last_frame_s is None:
            return "never"
        return f"{duration(self.last_frame_s)} ago" + (" (before the restart)" if self.read_before else "")

    @property
    def frame_time_html(self) -> str:
        """Under the Last frame of a camera timed by its files: the time its newest frame carries."""
        if not self.frame_time:
            return ""
        return f'<span class="detail" title="{FILE_TIME_WHY}">file time {time_html(self.frame_time)}</span>'

    @property
    def row_class(self) -> str:
        return STATE_CLASS.get(self.state, "bad")


def time_html(stamp: str) -> str:
    """One time of the page (an ISO 8601 UTC ``stamp``) as a ``<time>`` element that reads alike
    everywhere: ``2024-05-01 10:00:00 UTC``, the exact stamp on hover.  Why one form: an operator
    holds these times against MQTT, webhook and API timestamps (UTC) and the device's log, so
    none may be in a locale's order (is 05/01 May or January?) or without its zone.  The page's
    script shows the same instant in the browser's zone, its offset named (``console.js``)."""
    try:
        when = parse_timestamp(stamp)
        # the year in four digits, as the JSON and CSV say it (strftime's %Y writes 999)
        day, clock = f"{when.year:04d}-{when:%m-%d}", f"{when:%H:%M:%S} UTC"
        text = f"<span>{day}</span> <span>{clock}</span>"  # a narrow cell breaks between them only
    except InputError:
        text = html.escape(stamp)  # not a time this server wrote: shown as it is
    value = html.escape(stamp, quote=True)
    return f'<time datetime="{value}" title="{value} (UTC)">{text}</time>'


def unknown_html(why: str) -> str:
    """A value not known yet (a camera that never delivered a frame has no lag, not a lag of
    0.00 s): a dash, with why on hover and, for a screen reader, in words."""
    text = html.escape(why, quote=True)
    return f'<span class="unknown" title="{text}"><span aria-hidden="true">\u2014</span>' \
           f'<span class="sr-only">not known yet: {text}</span></span>'


def duration(s: float) -> str:
    """Seconds in the unit a person reads at a glance (``45 s``, ``3 min``, ``5 h``, ``2 d``)."""
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else \
        f"{s / 3600:.0f} h" if s < 172800 else f"{s / 86400:.0f} d"


def size(n: float) -> str:
    """Bytes in the unit a person reads at a glance (``940 B``, ``23 kB``, ``1.4 MB``, ``2.1 GB``):
    a queue of 18 events is a few kB, which ``0.0 MB`` hid.  The unit is picked by the number as
    shown, rounded: 999,999 B reads ``1.0 MB`` (not ``1000 kB``), 9,999,999 B ``10 MB``."""
    value, unit = n, "B"
    for bigger in ("kB", "MB", "GB"):
        digits = 1 if unit != "B" and round(value, 1) < 10 else 0
        if round(value, digits) < 1000:
            return f"{value:.{digits}f} {unit}"
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}" if round(value, 1) < 10 else f"{value:.0f} {unit}"


def cameras(ctx: ApiContext) -> list[CameraLoop]:
    """The camera loops of this process (none for ``edge-alpr serve``)."""
    return [w for w in ctx.supervisor.workers() if isinstance(w, CameraLoop)]


def camera_views(ctx: ApiContext) -> list[CameraView]:
    """What the console shows of each camera: its source in a few words, the health state that
    ``/info/`` and MQTT report (a camera that cannot open is ``reconnecting``, then ``failed``,
    never ``running``) and what its frames show when that is nothing useful, rates and counters."""
    out = []
    now, mono = time.time(), time.monotonic()
    for i, loop in enumerate(cameras(ctx)):
        stats, health = loop.stats, camera_health(loop)
        before = loop.source.read_before() if stats.last_frame_at is None else None
        last = stats.last_frame_at or before
        failing = loop.source.failing_since  # monotonic: shown as the wall-clock time it began
        down_s = 0.0 if failing is None or health["state"] not in ("reconnecting", "failed") \
            else max(0.0, mono - failing)
        out.append(CameraView(
            i, loop.camera.id, describe_source(loop.camera.source), health["state"],
            stats.processed_rate.rate(), stats.read_rate.rate(),
            stats.frames_read, stats.frames_processed, stats.frames_dropped, stats.events,
            stats.lag_s, None if last is None else max(0.0, now - last),
            health["crashes"], health["errors"], health["last_error"], loop.latest is not None,
            "" if health["view"] == "ok" or health["state"] != "streaming" else health["view"],
            max(0.0, mono - loop.view_check.since),
            iso(now - down_s) if down_s else "", down_s,
            loop.source.waiting() if health["state"] == "waiting" else "", before is not None,
            _frame_time(loop), health["last_error_at"] or ""))
    return out


def _frame_time(loop: CameraLoop) -> str:
    """The time a file-timed camera's newest frame carries ("" for a camera, or before a frame)."""
    stamp = loop.stats.last_frame_time
    return iso(stamp.timestamp()) if stamp is not None and loop.source.file_times else ""


def file_timed(ctx: ApiContext) -> frozenset[str]:
    """The cameras whose events carry their files' times (a video, a folder), not when read:
    the events table says so of their times, which may be long before the service started."""
    return frozenset(loop.camera.id for loop in cameras(ctx) if loop.source.file_times)


def sinks(ctx: ApiContext) -> list[dict[str, Any]]:
    """Per sink (MQTT, each webhook): state, queued (``aside``: of them, set aside as too large
    for the receiver), delivered, dropped, since when it has failed (``since``: ISO 8601 UTC, ""
    while it delivers; ``failing_for``: how long, in words) and the last error, in a
    few words (``last_error``: ``connection refused by 127.0.0.1:9``) and exactly (``detail``,
    the type and message of the exception, for the cell's hover text); ``notice``: what the
    receiver limits while it delivers (an MQTT broker that takes no QoS 2), with the fix."""
    stats = ctx.webhooks.outbox.stats() if ctx.webhooks is not None else \
        {"pending": {}, "delivered": {}, "dropped": {}, "bytes": {}, "aside": {}}
    out = []
    for w in ctx.supervisor.workers():
        if isinstance(w, DeliveryWorker) and w.sink == MQTT_SINK:
            s = w.state
            out.append({"sink": "MQTT", "state": _state(s.disabled, s.consecutive_failures or s.outbox_failing,
                                                          w.describe()["state"]),
                        "pending": stats["pending"].get(w.sink, 0), "aside": stats["aside"].get(w.sink, 0),
                        "delivered": stats["delivered"].get(w.sink, 0),
                        "dropped": stats["dropped"].get(w.sink, 0),
                        "failures": s.consecutive_failures, "last_error": s.last_reason or s.last_error,
                        "detail": s.last_error, "notice": w.notice(), **_since(s.failing_since)})
    webhooks = ctx.webhooks
    hooks = [] if webhooks is None else [(hook, webhooks.workers[target.url].state.failing_since)
                                         for target, hook in zip(webhooks.cfg.targets, webhooks.status())]
    for hook, since in hooks:
        out.append({"sink": f"webhook {hook['target']}", "state": hook["state"],
                    "pending": hook["pending"], "aside": hook["aside"], "delivered": hook["delivered"],
                    "dropped": hook["dropped"], "failures": hook["consecutive_failures"],
                    "last_error": hook["last_reason"] or hook["last_error"],
                    "detail": hook["last_error"], "notice": None, **_since(since)})
    return out


def _since(failing_since: float | None) -> dict[str, str]:
    """A delivery worker's ``failing_since`` (monotonic) as the wall-clock time it began (ISO
    8601 UTC, which the page shows in the browser's zone, as a camera's) and how long ago."""
    if failing_since is None:
        return {"since": "", "failing_for": ""}
    down_s = max(0.0, time.monotonic() - failing_since)
    return {"since": iso(time.time() - down_s), "failing_for": duration(down_s)}


def _state(disabled: bool, failing: Any, worker: str) -> str:
    if disabled:
        return "disabled"
    if worker != "running":
        return worker
    return "failing" if failing else "ok"


def counters(ctx: ApiContext) -> dict[str, Any]:
    """Usage, history and outbox totals for the counters panel."""
    snap = ctx.usage.snapshot()
    out: dict[str, Any] = {"calls": snap.calls, "max_calls": snap.max_calls,
                           "lifetime_calls": snap.lifetime_calls, "resets_on": snap.resets_on}
    if ctx.webhooks is not None:
        stats = ctx.webhooks.outbox.stats()
        out["queued"] = sum(stats["pending"].values())
        out["queued_bytes"] = sum(stats["bytes"].values())
        out["dropped"] = sum(stats["dropped"].values())
    if ctx.history is not None:
        history = ctx.history.stats()
        out["history_events"] = history["events"]
        out["history_bytes"] = history["bytes"]
        out["history_dropped"] = history["skipped"]
        out["history_waiting"] = history["waiting"]  # another process holds the database locked
    # a worker's error is kept with its credentials hidden (supervision.Worker.recover)
    out["workers"] = [w for w in ctx.supervisor.describe() if w["crashes"] or w["state"] == "stalled"]
    return out


def plate_box(event: dict[str, Any]) -> str:
    """Where an event's plate lies on its scene, as fractions of the frame's width and height
    (``left top right bottom``, what ``scene.js`` draws over the thumbnail at any size); "" where
    not known: no scene, a row from before the history kept the frame's size, no box."""
    frame, box = event.get("frame"), (event.get("result") or {}).get("box")
    if not frame or not event["images"]["scene"] or not isinstance(box, dict):
        return ""
    try:
        edges = [box[k] / frame[d] for k, d in (("xmin", "width"), ("ymin", "height"),
                                                 ("xmax", "width"), ("ymax", "height"))]
    except (KeyError, TypeError, ZeroDivisionError):
        return ""
    return " ".join(f"{min(1.0, max(0.0, e)):.4f}" for e in edges)


def photo_form(ctx: ApiContext) -> dict[str, Any]:
    """What the "Try a photo" form needs: the upload limit (the page refuses a larger file
    before sending it: a body cut off at the limit reaches a browser as a dropped connection,
    not as the 413) and what else a read through the API does here, said beside the form so a
    test photo in the history, the quota or a webhook receiver is no surprise."""
    limit = ctx.cfg.max_upload_bytes
    max_calls = ctx.usage.snapshot().max_calls
    also = [what for what, done in (
        ("is kept in the history", ctx.history is not None and ctx.keep_reads),
        ("is sent to the webhooks", ctx.webhooks is not None and bool(ctx.webhooks.cfg.targets))) if done]
    return {"max_bytes": limit, "max_mib": f"{limit / 2**20:.3g}",
            "also": (f" (one of this month's {max_calls})" if max_calls else "")
            + (", " + " and ".join(also) if also else "")}
