"""Secrets stay out of what the service says: a camera URL's password and secret query values are
not in its log lines (a camera that cannot connect, then reconnects to a real RTSP server), a
webhook URL's token is not in the delivery log, ``/info/``, ``/metrics``, the console or a config
error, and an ``upload_url`` refused is named without its credentials."""

from __future__ import annotations

import json
import logging
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
from edge_alpr.errors import ConfigError, InputError
from edge_alpr.stream.config import OpenCvSourceConfig
from edge_alpr.stream.sources import sample_dir
from edge_alpr.stream.sources.opencv import OpenCvSource
from tests.conftest import jpeg_bytes
from tests.test_rtsp import RtspCamera, _server_available

SECRET = "s3cr3t-Value"


@pytest.mark.parametrize(("text", "shown"), [
    ("rtsp://admin:p#ss?w@rd@cam/live", "rtsp://cam/live"),  # '#', '?' and '@' typed unencoded
    ("https://h/hook?token=abc&x=1", "https://h/hook?token=***&x=1"),
    ("webhook:https://u:pw@h/hook?api_key=abc", "webhook:https://h/hook?api_key=***"),
    ("a http://h/?sig=abc and rtsp://a:b@c/ in one message", "a http://h/?sig=*** and rtsp://c/ in one message"),
    ("rtsp://cam/live?channel=1&subtype=0", "rtsp://cam/live?channel=1&subtype=0"),
])
def test_hide_credentials(text: str, shown: str) -> None:
    assert hide_credentials(text) == shown


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
        if _server_available():  # the camera comes back: the reconnect line names it the same way
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
    assert f"delivery-webhook:{shown}" in [w["name"] for w in info.json()["workers"]]
    metrics = requests.get(server.url + "/metrics").text
    assert f'sink="webhook:{shown}"' in metrics
    console = requests.get(server.url + "/console/parts").text + requests.get(server.url + "/").text
    receiver.status = 200  # back: the receiver gets its own URL in the payload, as in the reference
    assert wait_for(lambda: len(receiver.requests) == 1)
    assert json.loads(receiver.requests[0]["body"])["hook"]["target"] == url
    assert wait_for(lambda: "recovered" in caplog.text)
    failed = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"delivery to webhook:{shown} failed" in m for m in failed), failed
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

