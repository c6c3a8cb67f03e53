"""A camera event reaches a webhook as an API read of the same frame does: the same fields, a
real processing time, a file name, and the frame itself for ``image: true`` targets.

Real parts: the service built in-process with the real recognizer, a video file camera, the
real API server over a socket and a real HTTP receiver (tests/conftest.py) for two targets
(JSON, and multipart with the image).
"""

from __future__ import annotations

import io
import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests
from PIL import Image
from waiting import wait_for

from edge_alpr import config as config_mod
from edge_alpr import service
from edge_alpr.stream.sources import sample_dir

W, H = 640, 360


def _video(path: Path, frames: int = 8) -> tuple[Path, np.ndarray]:
    bgr = cv2.resize(cv2.imread(str(sorted(sample_dir().glob("*.jpg"))[0])), (W, H))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    for _ in range(frames):
        writer.write(bgr)
    writer.release()
    return path, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _posts(receiver: Any) -> list[tuple[dict[str, Any], bytes | None]]:
    """Each request's ``image.done`` payload and its image (multipart), in arrival order."""
    out = []
    with receiver.lock:
        requests_ = list(receiver.requests)
    for r in requests_:
        kind = r["headers"]["Content-Type"]
        if kind == "application/json":
            out.append((json.loads(r["body"]), None))
            continue
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {kind}\r\n\r\n".encode() + r["body"])
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        payload = json.loads(parts["json"].get_content())
        upload = parts["upload"]
        assert upload.get_filename() == payload["data"]["filename"]
        out.append((payload, upload.get_payload(decode=True)))
    return out


def test_camera_event_webhook_carries_what_an_api_read_does(
        tmp_path: Path, recognizer: Any, receiver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_ALPR_API_TOKEN", raising=False)
    video, frame = _video(tmp_path / "v.avi")
    image_url = receiver.url + "?image"
    cfg = config_mod.from_dict({
        "state_dir": str(tmp_path / "state"), "api": {"port": 0}, "mqtt": {"enabled": False},
        "history": {"enabled": False},  # the frame is kept for the image target alone
        "webhooks": {"targets": [receiver.url, {"url": image_url, "image": True}]},
        "stream": {"cameras": [{"id": "gate", "motion": {"threshold": 0},
                                "source": {"kind": "video", "path": str(video)}}]}}, "<test>")
    stop = threading.Event()
    svc = service.build(cfg, stop, recognizer=recognizer)
    try:
        assert wait_for(lambda: len(_posts(receiver)) == 2, 60), receiver.requests
        camera = {p["hook"]["target"]: (p["data"], img) for p, img in _posts(receiver)}
        jpeg = io.BytesIO()
        Image.fromarray(frame).save(jpeg, format="JPEG", quality=95)
        url = f"http://127.0.0.1:{svc.api.server.port}/v1/plate-reader/"
        r = requests.post(url, files={"upload": ("frame.jpg", jpeg.getvalue())}, data={"camera_id": "gate"},
                          timeout=30)
        assert r.status_code == 201, r.text
        assert wait_for(lambda: len(_posts(receiver)) == 4, 30)
        api = {p["hook"]["target"]: (p["data"], img) for p, img in _posts(receiver)[2:]}
    finally:
        stop.set()
        svc.close()

    event, none = camera[receiver.url]
    read, _ = api[receiver.url]
    assert none is None
    assert set(event) - set(read) == {"id"} and set(read) <= set(event)  # the event's id, for de-duplication
    assert [set(x) for x in event["results"]] == [set(x) for x in read["results"]]
    assert event["results"][0]["plate"] == read["results"][0]["plate"]
    assert event["camera_id"] == read["camera_id"] == "gate"
    assert event["version"] == read["version"]
    assert event["processing_time"] > 1.0 and read["processing_time"] > 1.0  # ms of real recognition
    stamp = event["timestamp"].replace("-", "").replace(":", "")
    assert event["filename"] == f"gate_{stamp}.jpg", (event["filename"], event["timestamp"])

    with_image, sent = camera[image_url]
    assert with_image == event and sent is not None
    pixels = np.asarray(Image.open(io.BytesIO(sent)).convert("RGB"))
    assert pixels.shape == (H, W, 3)
    assert np.abs(pixels.astype(int) - frame.astype(int)).mean() < 4  # the frame, JPEG-encoded
    assert api[image_url][1] == jpeg.getvalue()  # an API read sends its upload as it came
