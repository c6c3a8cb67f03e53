"""Webhooks to a real local HTTP receiver: payload, image multipart, down-then-up, restarts."""

from __future__ import annotations

import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import requests
from waiting import wait_for

from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.webhooks import Webhooks
from edge_alpr.delivery.webhooks_config import WebhooksConfig, WebhookTarget

READ = "/v1/plate-reader/"


def test_image_done_payload_matches_the_reference(api_factory: Any, receiver: Any,
                                                 sample_images: list[Path]) -> None:
    server = api_factory({"webhooks": {"targets": [{"url": receiver.url, "id": 2}]}})
    response = requests.post(server.url + READ, files={"upload": sample_images[0].read_bytes()},
                             data={"camera_id": "gate"})
    assert response.status_code == 201
    assert wait_for(lambda: len(receiver.requests) == 1)
    request = receiver.requests[0]
    assert request["headers"]["Content-Type"] == "application/json"
    payload = json.loads(request["body"])
    assert payload["hook"] == {"target": receiver.url, "id": 2, "event": "image.done"}
    api_body = response.json()
    api_body.pop("usage")
    assert payload["data"] == api_body
    assert len(request["headers"]["X-Edge-Alpr-Event-Id"]) == 32


def test_image_is_sent_as_multipart_when_asked(api_factory: Any, receiver: Any,
                                              sample_images: list[Path]) -> None:
    server = api_factory({"webhooks": {"targets": [{"url": receiver.url, "image": True}]}})
    data = sample_images[1].read_bytes()
    assert requests.post(server.url + READ, files={"upload": ("car.jpg", data)}).status_code == 201
    assert wait_for(lambda: len(receiver.requests) == 1)
    request = receiver.requests[0]
    raw = (f"Content-Type: {request['headers']['Content-Type']}\r\n\r\n").encode() + request["body"]
    message = BytesParser(policy=HTTP).parsebytes(raw)
    parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
    assert json.loads(parts["json"].get_content())["hook"]["event"] == "image.done"
    assert parts["upload"].get_filename() == "car.jpg"
    assert parts["upload"].get_payload(decode=True) == data


def test_down_target_gets_everything_when_back_in_order(api_factory: Any, receiver: Any,
                                                       sample_images: list[Path]) -> None:
    receiver.status = 503  # down
    server = api_factory({"webhooks": {"targets": [receiver.url], "backoff_initial_s": 0.05,
                                       "backoff_max_s": 0.2}})
    for i in range(5):
        r = requests.post(server.url + READ, files={"upload": sample_images[i].read_bytes()},
                          data={"camera_id": f"cam{i}"})
        assert r.status_code == 201
    assert wait_for(lambda: requests.get(server.url + "/info/").json()["webhooks"][0]
                    ["consecutive_failures"] >= 2)
    hook = requests.get(server.url + "/info/").json()["webhooks"][0]
    assert hook["state"] == "failing" and hook["pending"] == 5 and "503" in hook["last_error"]
    receiver.status = 200  # back up
    assert wait_for(lambda: len(receiver.requests) == 5)
    cameras = [json.loads(r["body"])["data"]["camera_id"] for r in receiver.requests]
    assert cameras == [f"cam{i}" for i in range(5)]
    # the receiver has the last request a moment before the worker records it as delivered
    assert wait_for(lambda: requests.get(server.url + "/info/").json()["webhooks"][0]["delivered"] == 5)
    hook = requests.get(server.url + "/info/").json()["webhooks"][0]
    assert hook["state"] == "ok" and hook["pending"] == 0 and hook["delivered"] == 5


def test_queued_events_survive_a_restart(tmp_path: Path, receiver: Any) -> None:
    cfg = WebhooksConfig(targets=(WebhookTarget(receiver.url, id=1),), backoff_initial_s=0.05)
    receiver.status = 500
    stop = threading.Event()
    first = Webhooks(cfg, Outbox(tmp_path / "o.sqlite"), stop)
    first.start()
    ids = [first.publish({"n": n}) for n in range(3)]
    assert wait_for(lambda: first.status()[0]["consecutive_failures"] >= 1)
    stop.set()
    first.join(2)
    receiver.status = 200
    stop2 = threading.Event()
    second = Webhooks(cfg, Outbox(tmp_path / "o.sqlite"), stop2)
    second.start()
    try:
        assert wait_for(lambda: len(receiver.requests) == 3)
    finally:
        stop2.set()
        second.join(2)
    assert [json.loads(r["body"])["data"]["n"] for r in receiver.requests] == [0, 1, 2]
    assert [r["headers"]["X-Edge-Alpr-Event-Id"] for r in receiver.requests] == [i[0] for i in ids]


def test_failing_target_is_disabled_and_reported(api_factory: Any, receiver: Any,
                                                 sample_images: list[Path]) -> None:
    receiver.status = 500
    server = api_factory({"webhooks": {"targets": [receiver.url], "backoff_initial_s": 0.01,
                                       "backoff_max_s": 0.02, "max_failures": 3}})
    assert requests.post(server.url + READ, files={"upload": sample_images[0].read_bytes()}).status_code == 201
    assert wait_for(lambda: requests.get(server.url + "/info/").json()["webhooks"][0]["state"]
                    == "disabled")
    hook = requests.get(server.url + "/info/").json()["webhooks"][0]
    assert hook["consecutive_failures"] == 3 and hook["pending"] == 1
    # new reads are still queued for a disabled target (within the outbox bounds): a restart sends them
    assert requests.post(server.url + READ, files={"upload": sample_images[1].read_bytes()}).status_code == 201
    assert requests.get(server.url + "/info/").json()["webhooks"][0]["pending"] == 2


def test_one_dead_target_does_not_block_another(api_factory: Any, receiver: Any,
                                                sample_images: list[Path]) -> None:
    dead = "http://127.0.0.1:9/never"  # discard port: connection refused
    server = api_factory({"webhooks": {"targets": [dead, receiver.url], "backoff_initial_s": 0.05}})
    for i in range(3):
        requests.post(server.url + READ, files={"upload": sample_images[i].read_bytes()})
    assert wait_for(lambda: len(receiver.requests) == 3)

    def hooks() -> dict[str, Any]:
        return {h["target"]: h for h in requests.get(server.url + "/info/").json()["webhooks"]}

    # the receiver has the 3rd request a moment before the worker records it as delivered
    assert wait_for(lambda: hooks()[receiver.url]["delivered"] == 3), hooks()
    assert hooks()[dead]["pending"] == 3


def test_a_user_and_password_in_the_url_are_sent_as_basic_auth(tmp_path: Path, receiver: Any) -> None:
    """``http://user:pass@host/hook`` (a receiver behind Basic authentication): urllib took
    ``hook-user:p@ss@127.0.0.1`` for the host ("name not resolved"), so nothing was ever delivered.
    The url's escapes are undone (``%40`` is ``@``); the receiver sees the plain path."""
    url = receiver.url.replace("http://", "http://hook-user:p%40ss@")
    cfg = WebhooksConfig(targets=(WebhookTarget(url, id=1),), backoff_initial_s=0.05)
    stop = threading.Event()
    hooks = Webhooks(cfg, Outbox(tmp_path / "o.sqlite"), stop)
    hooks.start()
    try:
        hooks.publish({"n": 1})
        assert wait_for(lambda: len(receiver.requests) == 1), hooks.status()
    finally:
        stop.set()
        hooks.join(2)
    sent = receiver.requests[0]
    assert sent["headers"]["Authorization"] == "Basic aG9vay11c2VyOnBAc3M="  # base64 of "hook-user:p@ss"
    assert sent["path"] == "/hook"
    assert json.loads(sent["body"])["data"] == {"n": 1}
