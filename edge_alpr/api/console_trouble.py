"""The console's summary of trouble: one line at the top of the page and a count in the tab's title.

Why: the parts that say a camera reconnects or a webhook fails lie several screens down on a
phone, and a tab in the background shows only its title.  So the page opens with what needs
attention now, in a few words each, each a link to the part that says more (``1 camera
reconnecting``, ``1 webhook failing``, ``MQTT down``, ``3 events set aside``, ``1 worker
stalled``), and the title counts the things concerned: ``(3) edge-alpr console``.

A worker that crashed and was restarted (``supervision.Worker.recover``) is named with how
many times, when the last was and its error in a few words (``camera-gate restarted 3 times
(last 2026-12-06 03:12:40 UTC): RuntimeError: tensor arena``), for ``RESTARTS_SHOWN_S`` after
its last crash: it runs again, so nothing is wrong *now*, but a crash is a bug or a fault
someone should read the log for, and an operator who looks once a day must still see the one
of last night.  A day without a new crash takes it off the line (the counters keep the count
until the service restarts); a worker that keeps crashing stays.  No acknowledging: it would
be state written by one browser that hides the crash from the next operator.

Nothing new is measured here: the summary reads what the parts already show (the cameras'
health, the delivery table, the counters and the supervisor's workers), in the same request,
so the line and the parts below it never disagree.  No durations in its words: the line
changes only when the trouble does, and the page's script announces it only then.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..delivery.mqtt import MQTT_SINK
from ..delivery.worker import DeliveryWorker
from ..history.queries import iso
from .console_status import CameraView, cameras

if TYPE_CHECKING:
    from .app import ApiContext

TITLE = "edge-alpr console"
# the page's sections a line links to (their ids in page.tpl)
CAMERAS, DELIVERY, COUNTERS = "cameras-section", "delivery-section", "counters-section"
CAMERA_TROUBLE = ("reconnecting", "failed", "stopped")  # the states shown in red (console_status)
RESTARTS_SHOWN_S = 24 * 3600.0  # a restarted worker stays in the summary this long after its last crash
SHORT_ERROR = 80  # characters of a crash's error in the summary (the whole on hover)


@dataclass(frozen=True)
class Trouble:
    """One thing that needs attention: its words, the section that says more, how many
    cameras, sinks or workers it names (1 for a condition of events: the title's count), and
    its ``key``: what it is, unchanged while its words change (``camera-reconnecting`` for
    ``1 camera reconnecting`` and ``2 cameras reconnecting``).  Why a key: several items link
    to the same section, and the page's script finds the focused item again by it after a
    refresh (``data-key``)."""

    text: str
    part: str
    key: str
    count: int = 1
    at: str = ""  # ISO 8601 UTC: when it last happened (a restart), shown as the page's times
    note: str = ""  # a few words after the time (a restart's error)
    detail: str = ""  # on hover (the whole error)


def plural(n: int, one: str, many: str = "") -> str:
    """``1 camera``, ``2 cameras``."""
    return f"{n} {one if n == 1 else many or one + 's'}"


class DropWatch:
    """Events the outbox dropped since the service started.  Why not the outbox's own total: it
    is kept across restarts, so a loss of last month would stand in the summary for ever."""

    def __init__(self, before: int | None = None) -> None:
        self.before = before  # None: not read yet, the first read counts from there

    @classmethod
    def starting(cls, ctx: ApiContext) -> DropWatch:
        """Counting from now (the service's start: the console is made with the API)."""
        try:
            return cls(dropped_total(ctx))
        except sqlite3.Error:
            return cls()  # the outbox not readable now (another process holds it)

    def since_start(self, total: int) -> int:
        if self.before is None:
            self.before = total
        return max(0, total - self.before)


def dropped_total(ctx: ApiContext) -> int:
    """Every event the outbox dropped or refused, all sinks together, since it was made."""
    webhooks = ctx.webhooks
    return sum(webhooks.outbox.stats()["dropped"].values()) if webhooks is not None else 0


def stalled_workers(ctx: ApiContext) -> list[str]:
    """The names of the workers past their promised beat, but for the cameras' (a stalled
    camera is ``failed`` in its own row, and named there) and MQTT's (its sink says so)."""
    covered = {id(w) for loop in cameras(ctx) for w in (loop, loop.capture)}
    return [d["name"] for w in ctx.supervisor.workers()
            if id(w) not in covered and (d := w.describe())["state"] == "stalled"
            and not (isinstance(w, DeliveryWorker) and w.sink == MQTT_SINK)]


def restarted_workers(ctx: ApiContext, shown_s: float = RESTARTS_SHOWN_S) -> list[Trouble]:
    """The workers that crashed and were restarted within ``shown_s`` (see the module docstring);
    a camera's link to the cameras (its row counts the restarts), any other's to the counters."""
    mono, now = time.monotonic(), time.time()
    camera_workers = {id(w) for loop in cameras(ctx) for w in (loop, loop.capture)}
    out = []
    for w in ctx.supervisor.workers():
        at = w.crashed_at
        if not w.crashes or at is None or mono - at > shown_s:
            continue
        detail = w.last_error or ""  # credentials hidden (supervision.Worker.recover)
        line = detail.splitlines()[0] if detail else ""
        short = line if len(line) <= SHORT_ERROR else line[:SHORT_ERROR - 1].rstrip() + "\u2026"
        times = "once" if w.crashes == 1 else f"{w.crashes} times"
        out.append(Trouble(f"{w.name} restarted {times}", CAMERAS if id(w) in camera_workers else COUNTERS,
                           f"restarted-{w.name}",
                           at=iso(round(now - max(0.0, mono - at))), note=short, detail=detail))
    return out


def summary(views: list[CameraView], sinks: list[dict[str, Any]], counters: dict[str, Any],
            stalled: list[str], dropped: int, restarted: Sequence[Trouble] = ()) -> list[Trouble]:
    """What needs attention, in the order of the page: cameras, delivery, workers, history, quota."""
    out: list[Trouble] = []
    states = Counter(v.state for v in views if v.state in CAMERA_TROUBLE)
    for state in CAMERA_TROUBLE:
        if states[state]:
            out.append(Trouble(f"{plural(states[state], 'camera')} {state}", CAMERAS, f"camera-{state}",
                               states[state]))
    blind = sum(1 for v in views if v.view_problem)
    if blind:
        out.append(Trouble(f"{plural(blind, 'camera')} {'sees' if blind == 1 else 'see'} nothing useful",
                           CAMERAS, "camera-blind", blind))
    hooks: Counter[str] = Counter()
    for s in sinks:
        if s["sink"] == "MQTT" and s["state"] not in ("ok", "stalled"):  # a stalled one is a worker's
            out.append(Trouble("MQTT down" if s["state"] == "failing" else f"MQTT {s['state']}", DELIVERY, "mqtt"))
        elif s["sink"] == "MQTT" and s.get("notice"):  # delivering within a limit of the broker's
            out.append(Trouble("MQTT limited by the broker", DELIVERY, "mqtt-limited"))
        elif s["sink"] != "MQTT" and s["state"] != "ok":
            hooks[s["state"]] += 1
    out += [Trouble(f"{plural(n, 'webhook')} {state}", DELIVERY, f"webhook-{state}", n)
            for state, n in sorted(hooks.items())]
    aside = sum(s.get("aside", 0) for s in sinks)
    if aside:
        out.append(Trouble(f"{plural(aside, 'event')} set aside", DELIVERY, "aside"))
    if dropped:
        out.append(Trouble(f"{plural(dropped, 'event')} dropped since the service started", DELIVERY,
                           "dropped"))
    if stalled:
        out.append(Trouble(f"{stalled[0]} stalled" if len(stalled) == 1 else
                           f"{len(stalled)} workers stalled", COUNTERS, "stalled", len(stalled)))
    out += restarted
    if counters.get("history_waiting"):
        out.append(Trouble(f"history locked: {plural(counters['history_waiting'], 'event')} waiting",
                           COUNTERS, "history-waiting"))
    if counters.get("history_dropped"):
        out.append(Trouble(f"{plural(counters['history_dropped'], 'event')} not kept in the history",
                           COUNTERS, "history-dropped"))
    if counters.get("max_calls") and counters.get("calls", 0) >= counters["max_calls"]:
        out.append(Trouble("this month's API calls used up", COUNTERS, "quota"))
    return out


def title(items: list[Trouble]) -> str:
    """The tab's title: the count of things in trouble first, where a tab shows it."""
    count = sum(t.count for t in items)
    return f"({count}) {TITLE}" if count else TITLE
