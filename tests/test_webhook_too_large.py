"""A webhook receiver that refuses an event for its size: HTTP 413 Payload Too Large, as nginx
answers a body over its ``client_max_body_size`` (1 MB by default), which an ``image: true``
event's picture passes.  The receiver here is a real one over a loopback socket that behaves as
nginx does: it reads the request's headers, answers 413 with its HTML page and ``Connection:
close``, and reads the rest of the body away (its lingering close), so the client gets the answer.

Before, the worker retried the event with backoff forever (until ``max_failures`` disabled the
target): measured, 0 of the 5 events after it arrived in 30 s.  Now it is set aside as an MQTT
broker's refusal is (kept in the outbox, tried again at each start), said once, and the events
after it go on; another 4xx (404 here) is still retried, its events kept in order."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from raw_http import RawServer
from waiting import wait_for

from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.webhooks import Webhooks, sink_name
from edge_alpr.delivery.webhooks_config import WebhooksConfig, WebhookTarget

NGINX_DEFAULT = 2**20  # client_max_body_size 1m
PAGE = b"<html><head><title>413 Request Entity Too Large</title></head><body>nginx</body></html>"


class Nginxish(RawServer):
    """POSTs under ``limit`` bytes answered 200 and kept (their ``X-Edge-Alpr-Event-Id``); larger
    ones answered 413 at their headers, their bodies drained; a path ending ``/gone``: 404."""

    def __init__(self, limit: int = NGINX_DEFAULT) -> None:
        self.limit = limit
        self.kept: list[str] = []
        self.refused: list[tuple[str, int]] = []  # the event id and the Content-Length refused
        self.missing = 0
        super().__init__()

    def answer(self, conn: socket.socket, head: bytes, body: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length, event = int(fields.get("content-length", "0")), fields.get("x-edge-alpr-event-id", "")
        if length > self.limit:
            self.refused.append((event, length))
            conn.sendall(b"HTTP/1.1 413 Request Entity Too Large\r\nServer: nginx\r\nContent-Type: text/html"
                         b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(PAGE), PAGE))
            status = b""
        elif lines[0].split(" ")[1].endswith("/gone"):
            self.missing += 1
            status = b"404 Not Found"
        else:
            self.kept.append(event)
            status = b"200 OK"
        left = length - len(body)
        while left > 0:  # read the body (refused: drained, as nginx's lingering close does)
            chunk = conn.recv(min(left, 65536))
            if not chunk:
                return
            left -= len(chunk)
        if status:
            conn.sendall(b"HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % status)


@pytest.fixture
def nginx() -> Iterator[Nginxish]:
    server = Nginxish()
    yield server
    server.close()


def _run(box: Outbox, cfg: WebhooksConfig) -> tuple[Webhooks, threading.Event]:
    stop = threading.Event()
    hooks = Webhooks(cfg, box, stop)
    hooks.start()
    return hooks, stop


def test_a_413_sets_the_event_aside_and_the_later_ones_go_on(
        tmp_path: Path, nginx: Nginxish, caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{nginx.port}/hook?token=s3cret"
    gone = f"http://127.0.0.1:{nginx.port}/gone"
    cfg = WebhooksConfig(targets=(WebhookTarget(url=url, image=True, id=1), WebhookTarget(url=gone, id=2)),
                         backoff_initial_s=0.05, backoff_max_s=0.2, max_failures=0)
    caplog.set_level(logging.INFO, logger="edge_alpr.delivery")
    box = Outbox(tmp_path / "outbox.sqlite")
    hooks, stop = _run(box, cfg)
    try:
        hooks.publish({"id": "big-1", "results": []}, os.urandom(NGINX_DEFAULT + 200_000))  # a 1.2 MB picture
        later = [f"small-{n}" for n in range(3)]
        for event in later:
            hooks.publish({"id": event, "results": []}, os.urandom(30_000))
        assert wait_for(lambda: nginx.kept == later, 15), (nginx.kept, nginx.refused)
        assert wait_for(lambda: nginx.missing >= 3, 10)
        [(refused_id, refused_size)] = nginx.refused  # refused once, not again and again
        assert refused_id == "big-1"
        status = {hook["id"]: hook for hook in hooks.status()}
        assert status[1]["aside"] == 1 and status[1]["pending"] == 1 and status[1]["state"] == "ok", status[1]
        # another 4xx is no size problem: retried, its events kept in order, none set aside
        assert status[2]["aside"] == 0 and status[2]["pending"] == 4 and status[2]["state"] == "failing", status[2]
        assert "404" in (status[2]["last_reason"] or "")
    finally:
        stop.set()
        hooks.join(3)
        box.close()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "webhook#1" in r.getMessage()]
    assert len(said) == 1, said
    line = said[0]
    assert "big-1" in line and f"{refused_size} bytes" in line, (line, refused_size)
    assert f"127.0.0.1:{nginx.port}/hook" in line and "s3cret" not in line, line
    assert "client_max_body_size" in line and "image: false" in line and "set aside" in line, line

    # kept on disk: the next start queues it again, and once the receiver takes 2 MB it arrives
    nginx.limit = 2 * NGINX_DEFAULT
    box = Outbox(tmp_path / "outbox.sqlite")
    sink = sink_name(cfg.targets[0])
    assert box.stats()["aside"][sink] == 0 and box.stats()["pending"][sink] == 1
    hooks, stop = _run(box, cfg)
    try:
        assert wait_for(lambda: nginx.kept == [*later, "big-1"], 15), nginx.kept
        assert wait_for(lambda: box.stats()["pending"][sink] == 0, 5)
    finally:
        stop.set()
        hooks.join(3)
        box.close()
