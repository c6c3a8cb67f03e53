"""Secrets stay out of what the service says: a camera URL's password and secret query values are
not in its log lines (a camera that cannot connect, then reconnects to a real RTSP server), a
webhook URL's token is not in the delivery log, ``/info/``, ``/metrics``, the console or a config
error, the outbox's log lines and a webhook worker's name.  (A weak API token's warnings:
``test_api_token.py``.)"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import cv2
import pytest
import requests
from waiting import wait_for

from edge_alpr import config
from edge_alpr.api.fetch import fetch_image
from edge_alpr.api.server import free_port
from edge_alpr.config import UploadUrlConfig
from edge_alpr.credentials import hide_credentials
from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.webhooks import Webhooks
from edge_alpr.errors import ConfigError, InputError
from edge_alpr.stream.source_config import OpenCvSourceConfig
from edge_alpr.stream.sources import sample_dir
from edge_alpr.stream.sources.opencv import OpenCvSource
from edge_alpr.supervision import Supervisor
from tests.conftest import jpeg_bytes
from tests.rtsp_camera import RtspCamera, server_available

SECRET = "s3cr3t-Value"


@pytest.mark.parametrize(("text", "shown"), [
    ("rtsp://admin:p#ss?w@rd@cam/live", "rtsp://cam/live"),  # '#', '?' and '@' typed unencoded
    ("https://h/hook?token=abc&x=1", "https://h/hook?token=***&x=1"),
    ("webhook:https://u:pw@h/hook?api_key=abc", "webhook:https://h/hook?api_key=***"),
    ("a http://h/?sig=abc and rtsp://a:b@c/ in one message", "a http://h/?sig=*** and rtsp://c/ in one message"),
    ("rtsp://cam/live?channel=1&subtype=0", "rtsp://cam/live?channel=1&subtype=0"),
    # a space in the password: its tail is hidden too
    ("rtsp://admin:p@ss w0rd@cam/", "rtsp://cam/"),
    ("failed: rtsp://admin:p@ss w0rd@cam:554/live (timeout)", "failed: rtsp://cam:554/live (timeout)"),
    # more names of credentials in a query (P2P cameras' loginpas, pw, psw, API keys, access tokens)
    ("http://cam/snapshot.cgi?loginuse=admin&loginpas=abc", "http://cam/snapshot.cgi?loginuse=admin&loginpas=***"),
    ("http://cam/a?user=admin&pw=abc&psw=abc&pas=abc", "http://cam/a?user=admin&pw=***&psw=***&pas=***"),
    ("http://h/a?passwd=abc&apikey=abc&api_key=abc&access_token=abc",
     "http://h/a?passwd=***&apikey=***&api_key=***&access_token=***"),
    # secrets in the path of well-known webhooks
    ("http://ha:8123/api/webhook/plate_at_the_gate", "http://ha:8123/api/webhook/***"),
    ("https://discord.com/api/webhooks/1234567890/AbC-dEf_123?wait=true",
     "https://discord.com/api/webhooks/1234567890/***?wait=true"),
    ("https://hooks.slack.com/services/T0001/B0002/XXXXsecretXXXX", "https://hooks.slack.com/services/T0001/B0002/***"),
    ("https://maker.ifttt.com/trigger/plate/with/key/abcDEF123", "https://maker.ifttt.com/trigger/plate/with/key/***"),
    ("https://n8n.lan/webhook/6f1c2a7e-93b4-4d2e-8a51-0c9e3f7b1d20/x", "https://n8n.lan/webhook/***/x"),
    # ordinary paths stay whole
    ("http://127.0.0.1:8080/v1/plate-reader/", "http://127.0.0.1:8080/v1/plate-reader/"),
    ("rtsp://cam:554/stream1", "rtsp://cam:554/stream1"),
    ("rtsp://cam/h264Preview_01_main", "rtsp://cam/h264Preview_01_main"),
    ("rtsp://cam/Streaming/Channels/101", "rtsp://cam/Streaming/Channels/101"),
    ("http://h/api/webhooks", "http://h/api/webhooks"),
    ("http://h/events/2024-01-02/1234567890123456", "http://h/events/2024-01-02/1234567890123456"),
    # an '@' in a query or fragment is no user's: the host stays
    ("http://cam?email=a@b", "http://cam?email=a@b"),
    ("rtsp://cam/stream?user=x@y", "rtsp://cam/stream?user=x@y"),
    ("http://host/#a@b", "http://host/#a@b"),
    ("http://[::1]:80?e=a@b", "http://[::1]:80?e=a@b"),
    ("see http://cam?email=a@b and rtsp://a:b@c/ too", "see http://cam?email=a@b and rtsp://c/ too"),
    # a host with a port, or a user, before the '?': a password may look like that, so all goes
    # up to the last '@' (the query's secrets still hidden)
    ("http://cam:80?e=a@b.com&token=abc", "http://b.com&token=***"),
    ("rtsp://admin:p@ss@cam/stream?user=x@y", "rtsp://cam/stream?user=x@y"),
    # a third '/' (a URL typed with an empty host) does not shield the password
    ("rtsp:///admin:secret@cam/live", "rtsp:///cam/live"),
    ("http:///user:pw@host", "http:///host"),
    # a '/' typed unencoded in the password: what stands before it is no host and port
    ("rtsp://admin:pa/ss@cam/stream1", "rtsp://cam/stream1"),
    ("(URL rtsp://admin:p/a@ss@cam:554/live?user=x@y) failed", "(URL rtsp://cam:554/live?user=x@y) failed"),
    ("https://u:ab/cd@hooks.example/abc?token=XYZ", "https://hooks.example/abc?token=***"),
    ("https://host:443/@user/1", "https://host:443/@user/1"),  # an '@' in the path after a port stays
    # a secret in a fragment, Azure Functions' code=, more names of credentials
    ("http://h/hook#token=abc", "http://h/hook#token=***"),
    ("https://f.azurewebsites.net/api/plate?code=abc&x=1", "https://f.azurewebsites.net/api/plate?code=***&x=1"),
    # a user name or a password holding a space: hidden up to the last '@'
    ("rtsp://John Smith:secret@cam/live", "rtsp://cam/live"),
    ("rtsp://my user:pass@cam:554/live", "rtsp://cam:554/live"),
    ("rtsp://admin:1234 5678@cam/live", "rtsp://cam/live"),
    ("rtsp://admin: secret@cam/live", "rtsp://cam/live"),
    # a host, a space, then words and an e-mail address: the URL ended at the space
    ("webhook https://hooks.example.com failed (timed out); contact ops@example.com",
     "webhook https://hooks.example.com failed (timed out); contact ops@example.com"),
    ("http://h/a?client_credential=1&session_id=2&jwt=3&hmac=4&sid=5&postcode=6",
     "http://h/a?client_credential=***&session_id=***&jwt=***&hmac=***&sid=***&postcode=6"),
    # a parameter's name holding '?' (CGI snapshot URLs), judged whole and by its part after the last '?'
    ("http://cam/snap.cgi?cgi?token?v=secret&x=1", "http://cam/snap.cgi?cgi?token?v=***&x=1"),
    ("http://cam/snap.cgi?cmd?x?code=secret", "http://cam/snap.cgi?cmd?x?code=***"),
    ("GET /snap.cgi?cgi?PWD?v=secret HTTP/1.1", "GET /snap.cgi?cgi?PWD?v=*** HTTP/1.1"),
    ("http://cam/a?b&cgi?token?v=secret", "http://cam/a?b&cgi?token?v=***"),
    # a '?' in a value starts another parameter
    ("http://cam/a?x=1?token=secret", "http://cam/a?x=1?token=***"),
    ("http://cam/a?x=1?y=2?sid=secret;z=3", "http://cam/a?x=1?y=2?sid=***;z=3"),
    ("http://cam/a?cgi?v=1?code?x=2", "http://cam/a?cgi?v=1?code?x=2"),
])
def test_hide_credentials(text: str, shown: str) -> None:
    assert hide_credentials(text) == shown


@pytest.mark.parametrize("url", [
    "rtsp://admin:p@ss?x=y@cam/live",  # '?' then '@' and a host before the path: the password's
    "rtsp://admin:p?ss@cam?user=x@y",  # 'admin:p' before the '?' is no host and port
    "rtsp://admin:1234?5@cam",  # no parameter after the '?'
    "rtsp://admin:12#34@cam?user=x@y",
    "rtsp://admin:1234?x=5@cam",  # 'admin:1234' may be a host and port: it is not taken for one
    "http://admin:12#a=b@cam",
    "rtsp://admin:9#x=1@cam:554",
    "http://admin:p@ss?w=rd@cam",  # 'admin:p@ss' may be a user and host: it is not taken for one
    "rtsp://admin:p@ss:80?w=rd@cam",
])
def test_a_password_with_a_question_mark_or_hash_stays_hidden_beside_a_query(url: str) -> None:
    """Where a '?' or '#' may be a password's as well as a query's, the password is hidden,
    even if part of the query goes with it."""
    password = url.split("admin:", 1)[1].rsplit("@cam", 1)[0]
    shown = hide_credentials(url)
    assert password not in shown and "admin" not in shown, shown


def test_a_camera_that_cannot_connect_logs_no_credential(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    url = f"rtsp://admin:p@ss{SECRET}@127.0.0.1:{port}/cam?usr=admin&pwd={SECRET}"
    source = OpenCvSource(OpenCvSourceConfig(url=url, read_timeout=2, reconnect_min=0.05, reconnect_max=0.1),
                          "gate")
    caplog.set_level(logging.INFO, logger="edge_alpr")
    shown = f"rtsp://127.0.0.1:{port}/cam?usr=admin&pwd=***"
    try:
        assert source.read(1.0) is None  # nothing listens: a failed open, logged as a warning
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and f"(URL {shown})" in warnings[0], warnings
        if server_available():  # the camera comes back: the reconnect line names it the same way
            image = tmp_path / "camera.jpg"  # RTP's JPEG payload wants sides in multiples of 8
            cv2.imwrite(str(image), cv2.resize(cv2.imread(str(sorted(sample_dir().glob("*.jpg"))[0])), (320, 240)))
            camera = RtspCamera(image, fps=5)
            camera.port = port
            camera.start()
            try:
                assert wait_for(lambda: source.read(1.0) is not None, 30)
                camera.kill()  # it goes away and comes back: the reconnect is logged
                assert wait_for(lambda: source.read(1.0) is None, 30)
                camera.start()
                assert wait_for(lambda: source.read(1.0) is not None, 30)
            finally:
                camera.kill()
            assert any(f"reconnected to URL {shown}" in r.getMessage() for r in caplog.records), caplog.text
    finally:
        source.close()
    assert SECRET not in caplog.text and SECRET not in "".join(capfd.readouterr())


def test_a_webhook_token_stays_out_of_logs_info_metrics_and_the_console(
        api_factory: Any, receiver: Any, caplog: pytest.LogCaptureFixture) -> None:
    url = f"{receiver.url}?token={SECRET}"
    shown = f"{receiver.url}?token=***"
    receiver.status = 503  # down: the failure is logged
    caplog.set_level(logging.INFO, logger="edge_alpr")
    server = api_factory({"webhooks": {"targets": [url], "backoff_initial_s": 0.05, "backoff_max_s": 0.2}})
    assert requests.post(server.url + "/v1/plate-reader/", files={"upload": jpeg_bytes(64, 48)}).status_code == 201
    assert wait_for(lambda: requests.get(server.url + "/info/").json()["webhooks"][0]["consecutive_failures"] >= 2)
    info = requests.get(server.url + "/info/")
    assert info.json()["webhooks"][0]["target"] == shown
    assert f"delivery-webhook#1:{shown}" in [w["name"] for w in info.json()["workers"]]
    metrics = requests.get(server.url + "/metrics").text
    assert f'sink="webhook:{shown}"' in metrics
    console = requests.get(server.url + "/console/parts").text + requests.get(server.url + "/").text
    receiver.status = 200  # back: the receiver gets its own URL in the payload, as in the reference
    assert wait_for(lambda: len(receiver.requests) == 1)
    assert json.loads(receiver.requests[0]["body"])["hook"]["target"] == url
    assert receiver.requests[0]["path"] == f"/hook?token={SECRET}"  # posted to the URL as configured
    assert wait_for(lambda: "recovered" in caplog.text)
    failed = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"delivery to webhook#1:{shown} failed" in m for m in failed), failed
    for where, text in (("log", caplog.text), ("/info/", info.text), ("/metrics", metrics), ("console", console)):
        assert SECRET not in text, where


def test_a_config_error_about_a_webhook_url_hides_its_token() -> None:
    with pytest.raises(ConfigError) as raised:
        config.from_dict({"webhooks": {"targets": [f"ftp://h/hook?token={SECRET}"]}}, "<test>")
    assert "token=***" in str(raised.value) and SECRET not in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        config.from_dict({"webhooks": {"targets": f"https://u:{SECRET}@h/hook"}}, "<test>")
    assert "https://h/hook" in str(raised.value) and SECRET not in str(raised.value)



def test_an_upload_url_refused_is_named_without_its_credentials() -> None:
    with pytest.raises(InputError) as raised:
        fetch_image(f"ftp://admin:{SECRET}@cam/snapshot.cgi?user=admin&pwd={SECRET}", UploadUrlConfig(enabled=True))
    assert "'ftp://cam/snapshot.cgi?user=admin&pwd=***'" in str(raised.value) and SECRET not in str(raised.value)


def test_the_outbox_names_a_webhook_sink_without_its_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Refused (over max_bytes), pushed out (over max_rows) and expired (over max_age_s): each
    drop is logged with the sink's URL as the delivery worker shows it."""
    sink, shown = f"webhook:http://h/hook?token={SECRET}", "webhook:http://h/hook?token=***"
    now = [1000.0]
    box = Outbox(tmp_path / "outbox.db", max_rows=1, max_age_s=60, clock=lambda: now[0], max_bytes=4096)
    caplog.set_level(logging.INFO, logger="edge_alpr")
    try:
        box.put(sink, {"x": 1}, b"\0" * 8192)  # refused: larger than max_bytes
        box.put(sink, {"x": 2})
        box.put(sink, {"x": 3})  # the one before is pushed out: max_rows
        now[0] += 120
        assert box.peek(sink) == []  # expired
    finally:
        box.close()
    dropped = [r.getMessage() for r in caplog.records if r.name == "edge_alpr.delivery.outbox"]
    assert len(dropped) == 3 and all(shown in m for m in dropped), dropped
    assert SECRET not in caplog.text


def test_a_long_upload_url_is_hidden_before_it_is_shortened() -> None:
    password = SECRET * 30  # ~360 characters: cut first, the '@' that ends it would be gone
    with pytest.raises(InputError) as raised:
        fetch_image(f"ftp://admin:{password}@cam/snapshot.cgi", UploadUrlConfig(enabled=True))
    assert "'ftp://cam/snapshot.cgi'" in str(raised.value) and SECRET not in str(raised.value)


def test_two_webhooks_that_differ_only_in_a_hidden_secret_are_told_apart(
        receiver: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Their workers have different names, so one's stall is not hidden by the other's health;
    and each is posted to at its own URL, secret and all."""
    urls = [f"http://127.0.0.1:{receiver.port}/api/webhook/{SECRET}-{n}" for n in (1, 2)]
    cfg = config.from_dict({"webhooks": {"targets": urls}}, "<test>").webhooks
    outbox, stop = Outbox(tmp_path / "outbox.db"), threading.Event()
    entered, release = threading.Event(), threading.Event()

    def held(sink: str, send: Any) -> Any:
        """The first target's send waits for ``release``: its worker is busy, then made overdue."""
        def sending(item: Any) -> None:
            if sink.endswith("-1"):
                entered.set()
                release.wait(10)
            send(item)
        return sending

    hooks = Webhooks(cfg, outbox, stop, wrap=held)
    try:
        names = [hooks.workers[url].name for url in urls]
        assert names == [f"delivery-webhook#{n}:http://127.0.0.1:{receiver.port}/api/webhook/***" for n in (1, 2)]
        supervisor = Supervisor()
        supervisor.watch(lambda: hooks.workers.values())
        caplog.set_level(logging.INFO, logger="edge_alpr")
        hooks.start()
        hooks.publish({"plate": "AB123CD"})
        assert entered.wait(10)
        hooks.workers[urls[0]].beat(-1.0)  # the first is a second past its promised beat
        assert supervisor.stalled() == [names[0]]
        assert any(names[0] in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
        release.set()
        assert wait_for(lambda: len(receiver.requests) == 2, 10)
        assert sorted(r["path"] for r in receiver.requests) == [f"/api/webhook/{SECRET}-{n}" for n in (1, 2)]
    finally:
        release.set()
        stop.set()
        hooks.join(5)
        outbox.close()
    assert SECRET not in caplog.text
