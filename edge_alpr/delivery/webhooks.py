"""Webhooks: POST the reference's ``image.done`` payload to each configured target.

Payload (as in the reference)::

    {"hook": {"target": "<url>", "id": <target id>, "event": "image.done"},
     "data": {<the plate-reader response: processing_time, results, filename, ...>}}

sent as ``application/json``, or, for a target with ``image: true``, as multipart/form-data
with the fields ``json`` (that payload) and ``upload`` (the image file).  Every request carries
``X-Edge-Alpr-Event-Id`` so a receiver can drop the duplicates that at-least-once delivery
may produce: the event's own ``data.id`` (camera events; the same on every retry, after a
restart, and for every target), else the id of its queue entry (an API read, queued once).

Each target has its own queue (sink ``webhook:<url>``) in the shared outbox and its own
``DeliveryWorker``: a dead target never delays the others, retries back off exponentially,
and nothing is lost across restarts.  A target failing ``max_failures`` times in a row is
disabled (the reference removes such hooks); that shows in ``/info/`` and in the log.
A request is bounded in time and memory and never follows a redirect (``http_post.py``); a
429 or 503's ``Retry-After`` lengthens the wait before the retry (``worker.py``).  New
events are still queued for a disabled target, within the outbox bounds (``max_rows``,
``max_age_s``: the oldest are dropped first and counted), and a restart delivers them.

A 413 (Payload Too Large: an ``image: true`` event over nginx's default ``client_max_body_size``
of 1 MB) can never be delivered as it is and would hold every later event of that target
behind it: it raises ``EventTooLarge``, so the worker sets the event aside (kept in the outbox,
tried again at each start) with one warning naming the event, its size, the URL and the fix,
and the next event goes.  Any other status (400, 404, 410, 422: a receiver misconfigured, or
not deployed yet) is retried with backoff like a 5xx, since fixing the receiver delivers
everything queued, and ``max_failures`` in a row disable the target until a restart.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from ..credentials import hide_credentials
from ..errors import EventTooLarge
from . import http_post
from .outbox import Outbox, OutboxItem
from .webhooks_config import WebhooksConfig, WebhookTarget
from .worker import DeliveryWorker

Send = Callable[[OutboxItem], None]


def sink_name(target: WebhookTarget) -> str:
    """Queue name of a target: keyed by URL, so reordering the config keeps its queue."""
    return f"webhook:{target.url}"


def shown_name(target: WebhookTarget, position: int) -> str:
    """How a target is named in logs, worker names and reports: its URL with the credentials
    hidden, after its position in the list, because two URLs that differ only in a hidden token
    look the same once hidden (and the supervisor tells its workers apart by name)."""
    return f"webhook#{position}:{hide_credentials(target.url)}"


def metric_labels(targets: Sequence[WebhookTarget]) -> dict[str, str]:
    """The ``sink`` label on ``/metrics`` of each target's queue, by its sink name: the URL with
    its credentials hidden; where targets look alike once hidden (two Home Assistant webhook ids
    on one host), each is labelled after its position as its worker is named (``shown_name``),
    so that their series stay apart.  Not a hash of what is hidden: a short hash of a weak
    secret gives the secret away to anyone who tries candidates offline."""
    hidden = [hide_credentials(sink_name(target)) for target in targets]
    alike = Counter(hidden)
    return {sink_name(target): shown if alike[shown] == 1 else shown_name(target, position)
            for position, (target, shown) in enumerate(zip(targets, hidden, strict=True), 1)}


def _peer(url: str) -> dict[str, Any]:
    """The ``host`` and ``port`` a target's URL connects to (its failures name them)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # refused by the config's check; named without a port if it ever came
        port = None
    default = 443 if parts.scheme.lower() == "https" else 80
    return {"host": parts.hostname or "", "port": port if port is not None else default}


def event_id(item: OutboxItem) -> str:
    """The ``X-Edge-Alpr-Event-Id`` of a queued request (see the module docstring).

    Why not always the entry's id: a camera event that is queued again (re-detected after a
    restart, or a copy per target) gets a new entry but must keep its id for de-duplication.
    """
    data = item.payload.get("data")
    own = data.get("id") if isinstance(data, dict) else None
    return own if isinstance(own, str) and own and own.isascii() and own.isprintable() else item.id


def too_large(target: WebhookTarget, position: int, item: OutboxItem, size: int) -> EventTooLarge:
    """The error of a target that answered 413 to ``item``'s POST of ``size`` bytes: what the
    warning says (the event, its size, the URL without credentials) and the fix."""
    image = f", {len(item.blob)} of them its image" if item.blob is not None else ""
    without = (f", or send without the image (webhooks.targets[{position - 1}].image: false)"
               if item.blob is not None else "")
    return EventTooLarge(
        f"event {event_id(item)} ({size} bytes as a POST{image}) is refused by webhook "
        f"{hide_credentials(target.url)} with HTTP 413 Payload Too Large: raise the receiver's body limit "
        f"(nginx: client_max_body_size, 1 MB by default){without}", size)


def _multipart(payload_json: bytes, image: bytes, filename: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    safe_name = filename.replace('"', "").replace("\r", "").replace("\n", "") or "upload.jpg"
    body = b"".join([
        f"--{boundary}\r\n".encode(),
        b'Content-Disposition: form-data; name="json"\r\n',
        b"Content-Type: application/json\r\n\r\n", payload_json, b"\r\n",
        f"--{boundary}\r\n".encode(),
        f'Content-Disposition: form-data; name="upload"; filename="{safe_name}"\r\n'.encode(),
        b"Content-Type: application/octet-stream\r\n\r\n", image, b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ])
    return body, f"multipart/form-data; boundary={boundary}"


class Webhooks:
    """Queues ``image.done`` events and runs one delivery worker per target."""

    def __init__(self, cfg: WebhooksConfig, outbox: Outbox, stop: threading.Event,
                 wrap: Callable[[str, Send], Send] | None = None) -> None:
        """``wrap(sink, send)``: each target's sender as its worker calls it (``metrics.counted``)."""
        self.cfg = cfg
        self.outbox = outbox
        self.stop = stop
        self.workers: dict[str, DeliveryWorker] = {}
        for position, target in enumerate(cfg.targets, 1):
            send = self._sender(target, position)
            self.workers[target.url] = DeliveryWorker(
                outbox, sink_name(target), wrap(sink_name(target), send) if wrap else send, stop,
                backoff_initial_s=cfg.backoff_initial_s, backoff_max_s=cfg.backoff_max_s,
                max_failures=cfg.max_failures, send_timeout_s=cfg.timeout_s,
                shown=shown_name(target, position), **_peer(target.url))

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()

    def join(self, timeout: float) -> list[str]:
        """Wait for the workers on one deadline of ``timeout`` s in all (not per worker: a target
        that hangs keeps its worker busy until its own request times out); the names of those
        still running."""
        self.outbox.wake()
        end = time.monotonic() + timeout
        for worker in self.workers.values():
            left = end - time.monotonic()
            if left <= 0:
                break
            if worker.is_alive():
                worker.join(left)
        return [w.name for w in self.workers.values() if w.is_alive()]

    def entries(self, data: dict[str, Any], image: bytes | None = None
                ) -> list[tuple[str, dict[str, Any], bytes | None]]:
        """The outbox entries of one ``image.done`` event: one per target, disabled ones too
        (kept within the outbox bounds until a restart delivers them)."""
        out: list[tuple[str, dict[str, Any], bytes | None]] = []
        for target in self.cfg.targets:
            payload = {"hook": {"target": target.url, "id": target.id, "event": "image.done"},
                       "data": data}
            out.append((sink_name(target), payload, image if target.image else None))
        return out

    def publish(self, data: dict[str, Any], image: bytes | None = None, clock: float | None = None) -> list[str]:
        """Queue one event per target (durable on return); returns the queue entries' ids.
        ``clock``: the wall clock's offset its times were read at (``Outbox.put_many``)."""
        entries = self.entries(data, image)
        return self.outbox.put_many(entries, clock=clock) if entries else []

    def status(self) -> list[dict[str, Any]]:
        """Per-target state for ``GET /info/``."""
        stats = self.outbox.stats()
        out = []
        for target in self.cfg.targets:
            sink, state = sink_name(target), self.workers[target.url].state
            out.append({
                "target": hide_credentials(target.url), "id": target.id, "event": "image.done",
                "image": target.image,
                "state": "disabled" if state.disabled else
                         ("failing" if state.consecutive_failures else "ok"),
                "pending": stats["pending"].get(sink, 0),
                "aside": stats["aside"].get(sink, 0),
                "delivered": stats["delivered"].get(sink, 0),
                "dropped": stats["dropped"].get(sink, 0),
                "consecutive_failures": state.consecutive_failures,
                "last_error": state.last_error,
                "last_reason": state.last_reason,
            })
        return out

    def _sender(self, target: WebhookTarget, position: int) -> Any:
        timeout = self.cfg.timeout_s

        def send(item: OutboxItem) -> None:
            payload_json = json.dumps(item.payload).encode()
            if item.blob is not None:
                filename = str(item.payload.get("data", {}).get("filename") or "upload.jpg")
                body, content_type = _multipart(payload_json, item.blob, filename)
            else:
                body, content_type = payload_json, "application/json"
            # Any status but 2xx (a 3xx too: never followed) raises, which the worker retries;
            # a 413 is set aside instead (the module docstring).
            try:
                http_post.post(target.url, body, {
                    "Content-Type": content_type, "User-Agent": "edge-alpr",
                    "X-Edge-Alpr-Event-Id": event_id(item)}, timeout)
            except urllib.error.HTTPError as e:
                if e.code == 413:
                    raise too_large(target, position, item, len(body)) from e
                raise

        return send
