"""A URL's credentials stay out of what the service shows beyond its config file, in the places
``test_credentials.py`` does not reach: a camera worker's crash error in ``/info/``, the
retained MQTT camera health and the console; the traceback of that crash in the log; the
command line's config errors (a value quoted back, a YAML error's line); a URL whose password
holds an unencoded '/' (named hidden, refused as a config error or a 400 with words of its own).

The service, the broker and the command line are real.  One thing is made up: a camera whose
OpenCV backend raises an error quoting its URL (some builds' backends do, the one here does not),
so the camera's ``read`` raises that error; the URL itself is one nothing listens on.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import cv2
import pytest
import requests
import yaml
from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr import config
from edge_alpr.api.server import free_port
from edge_alpr.errors import ConfigError
from edge_alpr.service import build
from edge_alpr.stream.sources.opencv import OpenCvSource
from tests.test_cli_server import ROOT, cli

pytest_plugins = ["mosquitto"]

SECRET = "s3cr3t-Value"
PORT = free_port()  # nobody listens there
URL = f"rtsp://admin:{SECRET}@127.0.0.1:{PORT}/stream1?channel=1&pwd={SECRET}"
SHOWN = f"rtsp://127.0.0.1:{PORT}/stream1?channel=1&pwd=***"


def _raise_like_a_backend(self: OpenCvSource, timeout: float) -> None:
    """The error some OpenCV backends raise for a URL they cannot use, quoting it whole."""
    raise cv2.error(f"OpenCV(4.x) cap_images.cpp:253: error: (-5:Bad argument) CAP_IMAGES: can't find "
                    f"starting number (in the name of file): {self.cfg.url} in function 'icvExtractPattern'")


def test_a_camera_crash_is_shown_without_credentials_in_info_mqtt_and_the_console(
        tmp_path: Path, recognizer: Any, broker: Broker, subscriber: Subscriber,
        monkeypatch: pytest.MonkeyPatch, no_token: None) -> None:
    monkeypatch.setattr(OpenCvSource, "read", _raise_like_a_backend)
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "api": {"port": 0, "threads": 4},
        "mqtt": {"port": broker.port, "device_id": "dev1", "usage_interval_s": 0.5},
        "stream": {"cameras": [{"id": "gate", "source": {"kind": "opencv", "url": URL}}]},
    }, "<test>")
    svc = build(cfg, threading.Event(), recognizer=recognizer)
    try:
        capture = svc.cameras[0].capture
        assert wait_for(lambda: capture.crashes >= 1, 20)
        assert svc.api is not None
        base = f"http://127.0.0.1:{svc.api.server.port}"
        info = requests.get(f"{base}/info/", timeout=10)
        [crashed] = [w for w in info.json()["workers"] if w["crashes"]]
        assert crashed["last_error"].startswith("error: OpenCV(4.x)") and f"file): {SHOWN} in" in crashed["last_error"]
        assert info.json()["cameras"][0]["last_error"] == crashed["last_error"]
        svc.refresh_cameras(force=True)  # what the service's loop does every usage_interval_s
        assert wait_for(lambda: any(h["crashes"] for h in subscriber.on("gate/health")), 10)
        health = [h for h in subscriber.on("gate/health") if h["crashes"]][-1]
        assert health["last_error"] == crashed["last_error"]
        page = requests.get(f"{base}/", timeout=10).text
        parts = requests.get(f"{base}/console/parts?parts=all", timeout=10).text
        assert SHOWN.replace("&", "&amp;") in page, "the camera's row names its error, the host and path kept"
        for where, text in (("/info/", info.text), ("console", page + parts), ("mqtt", repr(subscriber.messages))):
            assert SECRET not in text, where
        assert svc.cameras[0].camera.source.url == URL, "the config keeps the URL whole: the camera needs it"
    finally:
        svc.close()


CRASH_LOGGED = f"""
import threading, time
from edge_alpr import cli
from edge_alpr.supervision import FunctionWorker

cli._log_to_stderr("INFO")
stop = threading.Event()

def work(worker):
    if not worker.crashes:
        raise RuntimeError("cannot open {URL}")
    stop.wait()

worker = FunctionWorker("capture-gate", work, stop, backoff_initial_s=0.01)
worker.start()
while not worker.crashes:
    time.sleep(0.01)
stop.set()
worker.join(5)
"""


@pytest.mark.parametrize("journal", [False, True])
def test_a_crash_and_its_traceback_are_logged_without_credentials(tmp_path: Path, journal: bool) -> None:
    """The log line of the command line's own handler, as the service writes it to the journal
    (``JOURNAL_STREAM``: the priority prefix) or to a terminal; the exception's text is in the
    message and again in the traceback."""
    env = {"PYTHONPATH": str(ROOT)}
    if journal:  # stderr is the journal's stream when JOURNAL_STREAM names it: a file here
        err = tmp_path / "stderr"
        with err.open("w") as f:
            stat = Path(f"/proc/self/fd/{f.fileno()}").stat()
            done = subprocess.run([sys.executable, "-c", CRASH_LOGGED], stderr=f, timeout=60, cwd=ROOT,
                                  env={**_env(), **env, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"})
        text = err.read_text()
        assert "<3>" in text, text
    else:
        done = subprocess.run([sys.executable, "-c", CRASH_LOGGED], capture_output=True, text=True, timeout=60,
                              cwd=ROOT, env={**_env(), **env})
        text = done.stderr
    assert done.returncode == 0, text
    assert "Traceback" in text and text.count(f"RuntimeError: cannot open {SHOWN}") == 2, text
    assert SECRET not in text


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}


@pytest.mark.parametrize(("camera", "shown"), [
    # a URL where a mapping belongs: quoted back in the error
    (f"source: rtsp://admin:{SECRET}@cam/stream1", "got 'rtsp://cam/stream1'"),
    (f"source: {{kind: opencv, url: [rtsp://admin:{SECRET}@cam/stream1]}}", "got ['rtsp://cam/stream1']"),
    # a YAML error on the URL's line: the line is shown, without its password
    (f"source: {{kind: opencv, url: rtsp://admin:{SECRET}@cam/stream1: x}}", "url: rtsp://cam/stream1: x"),
    # a '/' in the password unencoded: neither FFmpeg nor urllib can read the URL; refused, named hidden
    (f"source: {{kind: opencv, url: 'rtsp://admin:pa/{SECRET}@cam/stream1'}}",
     "url: 'rtsp://cam/stream1' cannot be read: what follows the ':' is no port number (a password holding "
     "'/', '?' or '#' must be written percent-encoded: %2F, %3F, %23)"),
])
def test_check_config_and_run_quote_a_url_without_its_credentials(tmp_path: Path, camera: str, shown: str) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nstream:\n  cameras:\n    - id: gate\n      {camera}\n")
    for command in ("check-config", "run"):
        out = cli(command, "--config", str(cfg), env={"EDGE_ALPR_API_TOKEN": "", "CREDENTIALS_DIRECTORY": ""})
        assert out.returncode == 78, (command, out.stdout, out.stderr)
        assert shown in out.stderr and SECRET not in out.stderr + out.stdout, (command, out.stderr)


def test_a_webhook_url_with_an_unencoded_slash_in_its_password_is_refused_hidden() -> None:
    target = f"https://hook:Xy7q/{SECRET}@hooks.example/plates?token={SECRET}"
    with pytest.raises(ConfigError) as raised:
        config.from_dict(yaml.safe_load(f"webhooks: {{targets: ['{target}']}}"), "<test>")
    assert "'https://hooks.example/plates?token=***' cannot be read" in str(raised.value)
    assert SECRET not in str(raised.value) and "Xy7q" not in str(raised.value)


def test_an_upload_url_with_an_unencoded_slash_in_its_password_is_a_400_without_any_of_it(
        api_factory: Any) -> None:
    server = api_factory({"api": {"upload_url": {"enabled": True}}})
    url = f"http://admin:Xy7q/{SECRET}@127.0.0.1:{PORT}/snapshot.jpg"  # urlsplit's words quote 'Xy7q'

    answer = requests.post(f"{server.url}/v1/plate-reader/", data={"upload_url": url}, timeout=10)
    assert answer.status_code == 400, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith(f"upload_url 'http://127.0.0.1:{PORT}/snapshot.jpg' is not a valid URL: "), detail
    assert SECRET not in detail and "Xy7q" not in detail, detail


def test_an_unhandled_error_prints_no_raw_traceback_with_a_password(
        api: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """A 500 (none is known; made here by a failing part of /info/): bottle's own copy of the
    traceback went to stderr unhidden; only the log's copy (hidden by the service's log
    formatter, tested above) is kept."""
    def broken() -> None:
        raise RuntimeError("cannot reach rtsp://admin:s3cret-Value@cam/live")

    monkeypatch.setattr(api.runtime.usage, "snapshot", broken)
    response = requests.get(api.url + "/info/", timeout=10)
    assert response.status_code == 500 and "s3cret" not in response.text
    out, err = capfd.readouterr()
    assert "s3cret" not in out + err, err
