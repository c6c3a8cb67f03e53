"""Counters, histograms and gauges for ``GET /metrics`` in the Prometheus text format (0.0.4).

Why our own few lines instead of ``prometheus_client``: the device needs a dozen series and a
renderer; one more run-time dependency in the .deb's venv (and on every Pi) is not worth it.
The tests parse the output with ``prometheus_client``'s own parser, so the format is held to
the real one.

Counters and histograms are updated where things happen (``inc``, ``observe``; thread-safe);
gauges and the counters other parts already keep (the outbox's, the cameras') are read at
scrape time from the functions given to ``collect``.  Every family is declared in
``FAMILIES`` with its type and help; an undeclared name is a programming error (KeyError).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .credentials import hide_credentials

log = logging.getLogger(__name__)

Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, dict[str, str], float]  # family, labels, value
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

FAMILIES: dict[str, tuple[str, str]] = {
    "edge_alpr_http_requests_total": ("counter", "HTTP requests answered, by status code."),
    "edge_alpr_http_responses_cut_total": ("counter", "HTTP responses cut off (the connection "
                                           "reset) because the client did not take them within "
                                           "api.send_timeout_s."),
    "edge_alpr_plate_reader_seconds": ("histogram", "POST /v1/plate-reader/ processing time: "
                                       "decoding and recognition (the answer's processing_time)."),
    "edge_alpr_inference_seconds": ("histogram", "Recognition of one image or frame (every "
                                    "model it runs), by source: api or camera."),
    "edge_alpr_camera_frames_total": ("counter", "Camera frames by what became of them: read, "
                                      "processed (recognised), still (skipped), dropped."),
    "edge_alpr_camera_fps": ("gauge", "Frames recognised per second, over the last 10 s or more."),
    "edge_alpr_camera_events_total": ("counter", "Events (one per vehicle passage) by camera."),
    "edge_alpr_watchlist_matches_total": ("counter", "Events and API results a watch list "
                                          "matched, by list."),
    "edge_alpr_outbox_pending": ("gauge", "Events queued for delivery, by sink."),
    "edge_alpr_outbox_aside": ("gauge", "Of the queued events, those set aside as too large for the "
                               "receiver (tried again at the next start), by sink."),
    "edge_alpr_outbox_dropped_total": ("counter", "Events the queue's bounds dropped, by sink "
                                       "(kept across restarts)."),
    "edge_alpr_deliveries_total": ("counter", "Deliveries confirmed by the sink, by sink."),
    "edge_alpr_delivery_failures_total": ("counter", "Delivery attempts that failed (retried), "
                                          "by sink."),
    "edge_alpr_history_events": ("gauge", "Events kept in the history."),
    "edge_alpr_history_bytes": ("gauge", "Bytes the history's events take (images and rows)."),
    "edge_alpr_history_dropped_total": ("counter", "Events the history could not keep (no room, "
                                        "a write failure, or dropped while waiting for a lock)."),
    "edge_alpr_history_waiting": ("gauge", "Events waiting in memory while another process holds "
                                  "the history database locked."),
    "edge_alpr_history_waiting_dropped_total": ("counter", "Events dropped while waiting for the "
                                                "history database's lock (the oldest, past the "
                                                "bound; also in edge_alpr_history_dropped_total)."),
}


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _line(name: str, labels: Labels, value: float) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    text = "+Inf" if value == math.inf else repr(float(value)) if not float(value).is_integer() \
        else str(int(value))
    return f"{name}{{{inner}}} {text}" if inner else f"{name} {text}"


class Metrics:
    """The registry of one process; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, list[float]]] = {}  # bucket counts, sum, count
        self._collectors: list[Callable[[], Iterable[Sample]]] = []
        self._sink_labels: dict[str, str] = {}

    def inc(self, name: str, labels: dict[str, str], value: float = 1.0) -> None:
        assert FAMILIES[name][0] == "counter", name
        key = _labels(labels)
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value

    def observe(self, name: str, labels: dict[str, str], seconds: float) -> None:
        assert FAMILIES[name][0] == "histogram", name
        key = _labels(labels)
        with self._lock:
            h = self._histograms.setdefault(name, {}).setdefault(key, [0.0] * (len(BUCKETS_S) + 2))
            for i, bound in enumerate(BUCKETS_S):
                if seconds <= bound:
                    h[i] += 1
            h[-2] += seconds
            h[-1] += 1

    def name_sinks(self, labels: Mapping[str, str]) -> None:
        """Label these sinks so (before ``counted`` wraps their senders): the webhooks' own
        labels, which tell apart targets that look alike with their credentials hidden."""
        self._sink_labels.update(labels)

    def sink_label(self, sink: str) -> str:
        """The ``sink`` label of a delivery queue: as named by ``name_sinks``, else the sink
        with its credentials hidden (a scrape is no place for a token)."""
        return self._sink_labels.get(sink) or hide_credentials(sink)

    def collect(self, collector: Callable[[], Iterable[Sample]]) -> None:
        """Read ``collector()`` at every scrape (gauges, counters kept elsewhere)."""
        self._collectors.append(collector)

    def render(self) -> str:
        """The exposition text; a collector that fails is logged and left out."""
        samples: dict[str, dict[Labels, float]] = {}
        for collector in self._collectors:
            try:
                for name, labels, value in collector():
                    samples.setdefault(name, {})[_labels(labels)] = value
            except Exception as e:  # one broken part must not hide the others' metrics
                log.warning("metrics: a collector failed: %s", e)
        with self._lock:
            for name, series in self._counters.items():
                samples.setdefault(name, {}).update(series)
            histograms = {n: {k: list(v) for k, v in s.items()} for n, s in self._histograms.items()}
        out: list[str] = []
        for name, (kind, help_text) in FAMILIES.items():
            if name not in samples and name not in histograms:
                continue
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            for key, value in sorted(samples.get(name, {}).items()):
                out.append(_line(name, key, value))
            for key, h in sorted(histograms.get(name, {}).items()):
                for bound, count in zip((*BUCKETS_S, math.inf), (*h[:len(BUCKETS_S)], h[-1]), strict=True):
                    le = "+Inf" if bound == math.inf else repr(bound)
                    out.append(_line(f"{name}_bucket", (*key, ("le", le)), count))
                out.append(_line(f"{name}_sum", key, h[-2]))
                out.append(_line(f"{name}_count", key, h[-1]))
        return "\n".join(out) + "\n"

    # -- wrappers -------------------------------------------------------------------------------

    def counted(self, sink: str, send: Callable[[Any], None]) -> Callable[[Any], None]:
        """``send`` of a delivery worker, counting its deliveries and failures (labelled by
        ``sink_label``)."""
        label = {"sink": self.sink_label(sink)}

        def counting(item: Any) -> None:
            try:
                send(item)
            except BaseException:
                self.inc("edge_alpr_delivery_failures_total", label)
                raise
            self.inc("edge_alpr_deliveries_total", label)
        return counting

    def timed(self, source: str, recognize: Callable[..., Any]) -> Callable[..., Any]:
        """``recognize`` observed in ``edge_alpr_inference_seconds{source}``."""
        def timing(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return recognize(*args, **kwargs)
            finally:
                self.observe("edge_alpr_inference_seconds", {"source": source},
                             time.perf_counter() - started)
        return timing

    def wsgi(self, app: Callable[..., Any]) -> Callable[..., Any]:
        """``app`` counting every answer in ``edge_alpr_http_requests_total{code}``."""
        def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            def start(status: str, headers: Any, exc_info: Any = None) -> Any:
                self.inc("edge_alpr_http_requests_total", {"code": status.split(" ", 1)[0]})
                return start_response(status, headers, exc_info) if exc_info else \
                    start_response(status, headers)
            return app(environ, start)
        return counting


# -- collectors of the parts (duck-typed: this module imports none of them) -------------------

def outbox_samples(outbox: Any, label: Callable[[str], str] = hide_credentials) -> list[Sample]:
    """Queued and dropped events by sink, labelled by ``label`` (``Metrics.sink_label``); sinks
    that one label names (the queue of a target no longer configured, beside the one that
    replaced it) are one series (summed), as a scrape must not hold a label set twice."""
    stats = outbox.stats()
    out: list[Sample] = []
    for family, key in (("edge_alpr_outbox_pending", "pending"), ("edge_alpr_outbox_aside", "aside"),
                        ("edge_alpr_outbox_dropped_total", "dropped")):
        by_label: dict[str, float] = {}
        for sink, n in stats[key].items():
            shown = label(sink)
            by_label[shown] = by_label.get(shown, 0.0) + float(n)
        out += [(family, {"sink": shown}, n) for shown, n in by_label.items()]
    return out


def history_samples(history: Any) -> list[Sample]:
    stats = history.stats()
    return [("edge_alpr_history_events", {}, float(stats["events"])),
            ("edge_alpr_history_bytes", {}, float(stats["bytes"])),
            ("edge_alpr_history_dropped_total", {}, float(stats["skipped"])),
            ("edge_alpr_history_waiting", {}, float(stats["waiting"])),
            ("edge_alpr_history_waiting_dropped_total", {}, float(stats["waiting_dropped"]))]


def http_samples(server: Any) -> list[Sample]:
    """The API server's own counters (``api.server.ApiServer``)."""
    return [("edge_alpr_http_responses_cut_total", {}, float(server.cuts.count))]


def watchlist_samples(watchlists: Any) -> list[Sample]:
    return [("edge_alpr_watchlist_matches_total", {"list": name}, float(n))
            for name, n in watchlists.matches.items()]


def camera_samples(loops: Iterable[Any]) -> list[Sample]:
    """Per camera loop (``camera.id``, ``stats`` of ``stream.capture.LoopStats``; fps over its rate window)."""
    out: list[Sample] = []
    for loop in loops:
        cam, stats = loop.camera.id, loop.stats
        for state, count in (("read", stats.frames_read), ("processed", stats.frames_processed),
                             ("still", stats.frames_still), ("dropped", stats.frames_dropped)):
            out.append(("edge_alpr_camera_frames_total", {"camera": cam, "state": state}, float(count)))
        out.append(("edge_alpr_camera_events_total", {"camera": cam}, float(stats.events)))
        out.append(("edge_alpr_camera_fps", {"camera": cam}, stats.processed_rate.rate()))
    return out
