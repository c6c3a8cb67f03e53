"""``GET /metrics`` parsed with prometheus_client's own parser: the real server over loopback, a
real webhook receiver, and the camera loop over the bundled sample images."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from conftest import SAMPLES, Receiver, RunningApi
from prometheus_client.parser import text_string_to_metric_families
from waiting import wait_for

from edge_alpr import config
from edge_alpr.metrics import Metrics
from edge_alpr.service import build

LABELS: dict[str, Any] = json.loads((SAMPLES / "labels.json").read_text())


def scrape(url: str, **kw: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by (name, sorted labels); the parser raises on any malformed line."""
    r = requests.get(f"{url}/metrics", timeout=10, **kw)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(r.text):
        assert family.documentation and family.type in ("counter", "gauge", "histogram")
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_requests_processing_time_and_deliveries(api_factory: Callable[..., RunningApi],
                                                 receiver: Receiver) -> None:
    api = api_factory({"webhooks": {"targets": [receiver.url]},
                       "watchlists": {"vip": {"max_distance": 3, "plates": ["8144M0S"]}}})
    for _ in range(2):
        with open(SAMPLES / "01_romanian_t37.jpg", "rb") as f:
            assert requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f},
                                 timeout=30).status_code == 201
    assert requests.get(f"{api.url}/nowhere", timeout=10).status_code == 404
    assert requests.get(f"{api.url}/v1/events/?limit=0", timeout=10).status_code == 400
    sink = f"webhook:{receiver.url}"
    assert wait_for(lambda: scrape(api.url).get(("edge_alpr_deliveries_total", (("sink", sink),))) == 2)
    got = scrape(api.url)
    assert got[("edge_alpr_http_requests_total", (("code", "201"),))] == 2
    assert got[("edge_alpr_http_requests_total", (("code", "404"),))] == 1
    assert got[("edge_alpr_http_requests_total", (("code", "400"),))] == 1
    assert got[("edge_alpr_plate_reader_seconds_count", ())] == 2
    assert got[("edge_alpr_plate_reader_seconds_bucket", (("le", "+Inf"),))] == 2
    assert 0 < got[("edge_alpr_inference_seconds_sum", (("source", "api"),))] <= \
        got[("edge_alpr_plate_reader_seconds_sum", ())]
    assert got[("edge_alpr_outbox_pending", (("sink", sink),))] == 0
    assert got[("edge_alpr_watchlist_matches_total", (("list", "vip"),))] == 2  # label B144MOS
    assert ("edge_alpr_delivery_failures_total", (("sink", sink),)) not in got


def test_failures_counted_and_token_required(api_factory: Callable[..., RunningApi],
                                             receiver: Receiver) -> None:
    receiver.status = 503
    api = api_factory({"webhooks": {"targets": [receiver.url], "backoff_initial_s": 0.05,
                                    "backoff_max_s": 0.1}}, token="k")
    assert requests.get(f"{api.url}/metrics", timeout=10).status_code == 403
    auth = {"headers": {"Authorization": "Token k"}}
    with open(SAMPLES / "02_romanian_t485.jpg", "rb") as f:
        requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f}, timeout=30, **auth)
    key = ("edge_alpr_delivery_failures_total", (("sink", f"webhook:{receiver.url}"),))
    assert wait_for(lambda: scrape(api.url, **auth).get(key, 0) >= 2)
    assert scrape(api.url, **auth)[("edge_alpr_outbox_pending", (("sink", f"webhook:{receiver.url}"),))] == 1


def test_webhooks_alike_once_hidden_have_series_of_their_own(api_factory: Callable[..., RunningApi],
                                                               receiver: Receiver) -> None:
    """Two Home Assistant webhook ids on one host are the same URL once the ids are hidden: each
    is labelled after its position in the list (as its worker is named), the ids nowhere."""
    secrets = ["gate-in-9f2c", "gate-out-41ab"]
    hooks = [f"http://127.0.0.1:{receiver.port}/api/webhook/{secret}" for secret in secrets]
    api = api_factory({"webhooks": {"targets": [hooks[0], receiver.url, hooks[1]]}})
    with open(SAMPLES / "01_romanian_t37.jpg", "rb") as f:
        assert requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f}, timeout=30).status_code == 201
    hidden = f"http://127.0.0.1:{receiver.port}/api/webhook/***"
    sinks = [f"webhook#1:{hidden}", f"webhook:{receiver.url}", f"webhook#3:{hidden}"]
    delivered = [("edge_alpr_deliveries_total", (("sink", sink),)) for sink in sinks]
    assert wait_for(lambda: all(scrape(api.url).get(key) == 1 for key in delivered)), scrape(api.url)
    got = scrape(api.url)
    assert all(got[("edge_alpr_outbox_pending", (("sink", sink),))] == 0 for sink in sinks), got
    text = requests.get(f"{api.url}/metrics", timeout=10).text
    assert not any(secret in text for secret in secrets), text
    assert sorted(r["path"] for r in receiver.requests) == sorted(["/hook", *(f"/api/webhook/{s}" for s in secrets)])


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    hostile = 'a"b\\c\nd'
    metrics.inc("edge_alpr_deliveries_total", {"sink": hostile})
    metrics.observe("edge_alpr_inference_seconds", {"source": hostile}, 0.02)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render())}
    assert families["edge_alpr_deliveries"].samples[0].labels == {"sink": hostile}
    buckets = [s for s in families["edge_alpr_inference_seconds"].samples if s.name.endswith("_bucket")]
    assert [s.value for s in buckets if s.labels["le"] in ("0.01", "0.025", "+Inf")] == [0, 1, 1]


def test_camera_frames_events_and_inference(tmp_path: Path, recognizer: Any) -> None:
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}, "api": {"port": 0},
        "stream": {"cameras": [{"id": "gate", "source": {"kind": "folder", "watch": False},
                                "motion": {"threshold": 0}}]},
    }, "<test>")
    svc = build(cfg, threading.Event(), recognizer=recognizer)
    try:
        assert wait_for(lambda: svc.cameras[0].stats.ended and svc.cameras[0].stats.events >= len(LABELS), 60)
        got = scrape(f"http://127.0.0.1:{svc.api.server.port}")
        cam = (("camera", "gate"),)
        assert got[("edge_alpr_camera_frames_total", (*cam, ("state", "processed")))] == len(LABELS)
        assert got[("edge_alpr_camera_events_total", cam)] == len(LABELS)
        assert got[("edge_alpr_inference_seconds_count", (("source", "camera"),))] == len(LABELS)
        assert ("edge_alpr_camera_fps", cam) in got
        assert got[("edge_alpr_history_events", ())] == len(LABELS)
    finally:
        svc.close()
