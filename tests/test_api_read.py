"""POST /v1/plate-reader/ over a real socket: the reference's own clients and every parameter."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from edge_alpr import imaging
from edge_alpr.recognizer import RecognizeOptions

TOP_KEYS = {"processing_time", "results", "filename", "version", "camera_id", "timestamp", "usage"}
READ_URL = "/v1/plate-reader/"
RESULT_KEYS = {"box", "plate", "region", "vehicle", "score", "candidates", "dscore"}


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file."""
    from PIL import Image

    with Image.open(path) as img:
        return img.size


def check_schema(body: dict[str, Any], width: int, height: int) -> None:
    """Field-for-field layout of the reference's response."""
    assert set(body) == TOP_KEYS
    assert isinstance(body["processing_time"], float) and body["processing_time"] > 0
    assert body["version"] == 1
    assert set(body["usage"]) == {"calls", "max_calls"}
    assert body["timestamp"].endswith("Z")
    for r in body["results"]:
        assert set(r) == RESULT_KEYS
        box = r["box"]
        assert set(box) == {"xmin", "ymin", "xmax", "ymax"}
        assert 0 <= box["xmin"] < box["xmax"] <= width and 0 <= box["ymin"] < box["ymax"] <= height
        assert isinstance(r["plate"], str) and r["plate"] == r["plate"].lower()
        assert set(r["region"]) == {"code", "score"}
        assert {"type", "score", "box"} <= set(r["vehicle"])
        for key in ("score", "dscore"):
            assert 0.0 <= r[key] <= 1.0
        assert r["candidates"] and r["candidates"][0]["plate"] == r["plate"]
        scores = [c["score"] for c in r["candidates"]]  # calibrated, best first, the plate's on top
        assert scores == sorted(scores, reverse=True) and scores[0] == r["score"]
        assert not any("?" in c["plate"] for c in r["candidates"])


def expected_results(recognizer: Any, data: bytes, config: dict[str, Any] | None = None,
                     regions: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """What the bare pipeline says for the same bytes: the server must add nothing."""
    options = RecognizeOptions.from_request_config(config or {}, regions)
    return [r.to_dict() for r in recognizer.recognize(imaging.decode(data, 40_000_000), options)]


def test_reference_python_example_unchanged(api_factory: Any, sample_images: list[Path],
                                            recognizer: Any) -> None:
    server = api_factory(token="API_TOKEN")
    # --- the reference's example, with only the URL and path replaced ---
    regions = ['gb', 'it']  # Change to your country
    with open(sample_images[0], 'rb') as fp:
        response = requests.post(
            server.url + '/v1/plate-reader/',
            data=dict(regions=regions),  # Optional
            files=dict(upload=fp),
            headers={'Authorization': 'Token API_TOKEN'})
    # ---
    assert response.status_code == 201, response.text
    body = response.json()
    check_schema(body, *image_size(sample_images[0]))
    assert body["filename"] == sample_images[0].name
    assert body["results"] == expected_results(recognizer, sample_images[0].read_bytes(),
                                               regions=("gb", "it"))
    assert body["usage"] == {"calls": 1, "max_calls": 2**31 - 1}  # no quota configured: "unlimited"


def test_reference_curl_example_unchanged(api_factory: Any, sample_images: list[Path],
                                          recognizer: Any) -> None:
    server = api_factory(token="API_TOKEN")  # curl comes from `make install` (apt-get install curl)
    out = subprocess.run(
        ["curl", "-sS", "-F", f"upload=@{sample_images[1]}", "-F", "regions=fr", "-F", "regions=gb",
         "-H", "Authorization: Token API_TOKEN", server.url + "/v1/plate-reader/"],
        capture_output=True, text=True, timeout=60, check=True)
    body = json.loads(out.stdout)
    check_schema(body, *image_size(sample_images[1]))
    assert body["results"] == expected_results(recognizer, sample_images[1].read_bytes(),
                                               regions=("fr", "gb"))


def test_sdk_example_with_mmc_and_config(api: Any, sample_images: list[Path], recognizer: Any) -> None:
    data = sample_images[2].read_bytes()
    response = requests.post(api.url + "/v1/plate-reader/", files={"upload": ("car.jpg", data)},
                             data={"regions": ["fr", "it"], "mmc": "true",
                                   "config": '{"mode":"fast"}'})
    assert response.status_code == 201, response.text
    body = response.json()
    check_schema(body, *image_size(sample_images[2]))
    assert body["filename"] == "car.jpg"
    assert body["results"] == expected_results(recognizer, data, {"mode": "fast"}, ("fr", "it"))


@pytest.mark.parametrize("config", [{"mode": "redaction"}, {"threshold_d": 0.9},
                                    {"threshold_o": 0.5, "region": "strict"},
                                    {"detection_rule": "strict"}])
def test_config_keys_reach_the_pipeline(api: Any, sample_images: list[Path], recognizer: Any,
                                        config: dict[str, Any]) -> None:
    data = sample_images[3].read_bytes()
    response = requests.post(api.url + "/v1/plate-reader/", files={"upload": data},
                             data={"config": json.dumps(config)})
    assert response.status_code == 201, response.text
    assert response.json()["results"] == expected_results(recognizer, data, config)


def test_small_base64_field(api: Any, sample_images: list[Path], recognizer: Any) -> None:
    data = sample_images[0].read_bytes()
    text = base64.b64encode(data).decode()
    response = requests.post(api.url + "/v1/plate-reader/", data={"upload": text})
    assert response.status_code == 201, response.text
    assert response.json()["results"] == expected_results(recognizer, data)


def test_large_base64_multipart_field(api: Any, sample_images: list[Path],
                                                      recognizer: Any) -> None:
    # A ~400 KB PNG: its base64 form field is far over bottle's default 100 KB MEMFILE_MAX.
    import io

    from PIL import Image

    img = Image.open(sample_images[0]).resize((960, 720))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    data = buf.getvalue()
    assert len(data) > 150_000
    text = base64.b64encode(data).decode()
    # (None, text) sends a plain form field, not a file, inside multipart/form-data.
    response = requests.post(api.url + "/v1/plate-reader/",
                             files={"upload": (None, text), "camera_id": (None, "gate-1")})
    assert response.status_code == 201, response.text
    body = response.json()
    check_schema(body, 960, 720)
    assert body["camera_id"] == "gate-1"
    assert body["results"] == expected_results(recognizer, data)
    # and the same as a urlencoded form and as a JSON body
    response = requests.post(api.url + "/v1/plate-reader/", data={"upload": text})
    assert response.status_code == 201, response.text
    response = requests.post(api.url + "/v1/plate-reader/",
                             json={"upload": "data:image/png;base64," + text, "regions": ["gb"]})
    assert response.status_code == 201, response.text
    assert response.json()["results"] == expected_results(recognizer, data, regions=("gb",))


def test_camera_id_timestamp_and_state_codes(api: Any, sample_images: list[Path]) -> None:
    response = requests.post(
        api.url + "/v1/plate-reader/", files={"upload": sample_images[4].read_bytes()},
        data={"camera_id": "cam-7", "timestamp": "2019-08-19T13:11:25", "regions": ["us-ca", "GB"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["camera_id"] == "cam-7"
    assert body["timestamp"] == "2019-08-19T13:11:25.000000Z"
    response = requests.post(api.url + "/v1/plate-reader/",
                             files={"upload": sample_images[4].read_bytes()},
                             data={"timestamp": "2020-01-16T17:00:00.5+00:00"})
    assert response.json()["timestamp"] == "2020-01-16T17:00:00.500000Z"
    assert response.json()["camera_id"] is None


def test_usage_and_statistics_and_info(api: Any, sample_images: list[Path]) -> None:
    for _ in range(3):
        r = requests.post(api.url + "/v1/plate-reader/", files={"upload": sample_images[0].read_bytes()})
        assert r.status_code == 201
    assert r.json()["usage"]["calls"] == 3
    stats = requests.get(api.url + "/v1/statistics/").json()
    # the reference's meaning: the period's limit (no quota here), so total_calls - calls = calls left
    assert stats["usage"]["calls"] == 3 and stats["total_calls"] == 2**31 - 1
    assert set(stats["usage"]) == {"month", "year", "calls", "resets_on"}
    info = requests.get(api.url + "/info/").json()
    assert {"version", "license_key", "total_calls", "usage", "webhooks"} <= set(info)
    assert info["total_calls"] == 2**31 - 1 and info["lifetime_calls"] == 3 and info["webhooks"] == []


def test_upload_url_fetches_when_enabled(api_factory: Any, receiver: Any, sample_images: list[Path],
                                         recognizer: Any) -> None:
    data = sample_images[5].read_bytes()
    receiver.files["/snap.jpg"] = data
    url = f"http://127.0.0.1:{receiver.port}/snap.jpg"
    server = api_factory({"api": {"upload_url": {"enabled": True, "max_bytes": 100_000}}})
    response = requests.post(server.url + "/v1/plate-reader/", data={"upload_url": url})
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "snap.jpg"
    assert response.json()["results"] == expected_results(recognizer, data)
    missing = requests.post(server.url + "/v1/plate-reader/",
                            data={"upload_url": f"http://127.0.0.1:{receiver.port}/nope.jpg"})
    assert missing.status_code == 400 and "404" in missing.json()["detail"]
    receiver.files["/big.jpg"] = b"\xff\xd8" + b"0" * 200_000
    big = requests.post(server.url + "/v1/plate-reader/",
                        data={"upload_url": f"http://127.0.0.1:{receiver.port}/big.jpg"})
    assert big.status_code == 413 and "max_bytes" in big.json()["detail"]


def test_upload_url_is_off_by_default(api: Any, receiver: Any, sample_images: list[Path]) -> None:
    receiver.files["/snap.jpg"] = sample_images[0].read_bytes()
    response = requests.post(api.url + "/v1/plate-reader/",
                             data={"upload_url": f"http://127.0.0.1:{receiver.port}/snap.jpg"})
    assert response.status_code == 400
    assert "upload_url is disabled" in response.json()["detail"]


def _iou(a: dict[str, int], b: list[int]) -> float:
    ix = max(0, min(a["xmax"], b[2]) - max(a["xmin"], b[0]))
    iy = max(0, min(a["ymax"], b[3]) - max(a["ymin"], b[1]))
    inter = ix * iy
    union = (a["xmax"] - a["xmin"]) * (a["ymax"] - a["ymin"]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _found(body: dict[str, Any], label_box: list[int]) -> bool:
    return any(_iou(r["box"], label_box) >= 0.3 for r in body["results"])


def test_boxes_are_in_image_pixels_and_exif_is_applied(api: Any, sample_images: list[Path],
                                                       sample_labels: dict[str, Any]) -> None:
    """Plates come back where the dataset labels put them, also for an EXIF-rotated upload."""
    import io

    from PIL import Image

    hits = []
    for path in sample_images:
        body = requests.post(api.url + READ_URL, files={"upload": path.read_bytes()}).json()
        if _found(body, sample_labels[path.name]["plates"][0]["box"]):
            hits.append(path)
    assert hits, "the API found no labelled plate at its labelled place in any bundled sample"
    path = hits[0]
    img = Image.open(path).transpose(Image.Transpose.ROTATE_90)  # stored sideways (height x width)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": undoes the transpose above
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    response = requests.post(api.url + READ_URL, files={"upload": buf.getvalue()})
    assert response.status_code == 201, response.text
    body = response.json()
    check_schema(body, *image_size(path))  # the upright frame
    assert _found(body, sample_labels[path.name]["plates"][0]["box"])


def test_concurrent_requests_are_consistent(api: Any, sample_images: list[Path], recognizer: Any) -> None:
    """Threaded server + one shared recognizer: parallel reads give the bare pipeline's answers."""
    from concurrent.futures import ThreadPoolExecutor

    expected = {p.name: expected_results(recognizer, p.read_bytes()) for p in sample_images}

    def one(i: int) -> tuple[str, list[dict[str, Any]]]:
        path = sample_images[i % len(sample_images)]
        r = requests.post(api.url + READ_URL, files={"upload": (path.name, path.read_bytes())})
        assert r.status_code == 201, r.text
        return r.json()["filename"], r.json()["results"]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(one, range(24)))
    for name, results in answers:
        assert results == expected[name]
    assert requests.get(api.url + "/v1/statistics/").json()["usage"]["calls"] == 24


def test_the_readme_python_example_reads_its_plate(api: Any) -> None:
    """The README's Python client (requests, as the reference's examples) run as written, against
    a real server: it prints the plate its comment says."""
    import re
    import sys

    root = Path(__file__).resolve().parents[1]
    block = (root / "README.md").read_text().split("## The HTTP API", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    found = re.search(r"^\.venv/bin/python -c '(.*?)'\s+# (\w+)$", block, re.S | re.M)
    assert found, block
    code = found.group(1).replace("http://127.0.0.1:8080", api.url)
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == found.group(2), (out.stdout, out.stderr)
