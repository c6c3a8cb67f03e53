"""What a client sends that the 201 of POST /v1/plate-reader/ echoes (``camera_id``, the
``filename`` taken from an ``upload_url``), and that events, the history and webhooks carry on,
is bounded: over the limit it is a 400 naming the field, its length and the limit, over a real
socket; at the limit it is read and echoed whole."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
import requests

from edge_alpr.api.events import MAX_PARAM_CHARS
from edge_alpr.api.request import MAX_CAMERA_ID_CHARS, MAX_FILENAME_CHARS
from tests.test_api_errors import detail

READ = "/v1/plate-reader/"


def test_the_camera_id_limit_is_what_the_events_search_takes() -> None:
    """A longer camera_id could be stored but never searched for (GET /v1/events/?camera=)."""
    assert MAX_CAMERA_ID_CHARS == MAX_PARAM_CHARS


@pytest.mark.parametrize("how", ["form", "multipart", "json"])
def test_a_camera_id_over_the_limit_is_a_clear_400(api: Any, sample_images: list[Path], how: str) -> None:
    upload = sample_images[0].read_bytes()
    for size in (MAX_CAMERA_ID_CHARS + 1, 4096):
        camera = "c" * size
        if how == "multipart":
            response = requests.post(api.url + READ, files={"upload": upload}, data={"camera_id": camera}, timeout=30)
        elif how == "json":
            response = requests.post(api.url + READ, json={"upload": base64.b64encode(upload).decode(),
                                                           "camera_id": camera}, timeout=30)
        else:
            response = requests.post(api.url + READ, data={"upload": base64.b64encode(upload).decode(),
                                                           "camera_id": camera}, timeout=30)
        said = detail(response, 400)
        assert said.startswith("camera_id:"), said
        assert f"{size} characters" in said and f"at most {MAX_CAMERA_ID_CHARS}" in said, said
        assert camera not in said, said  # not echoed back whole


def test_a_camera_id_at_the_limit_is_echoed_and_kept_whole(api_factory: Any, sample_images: list[Path]) -> None:
    api = api_factory({"history": {"api_reads": True}})
    camera = "c" * MAX_CAMERA_ID_CHARS
    response = requests.post(api.url + READ, files={"upload": sample_images[0].read_bytes()},
                             data={"camera_id": camera}, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["camera_id"] == camera
    assert response.json()["results"], "the sample has a plate: the read is kept"
    found = requests.get(api.url + "/v1/events/", params={"camera": camera}, timeout=30)
    assert found.status_code == 200, found.text
    assert [e["camera_id"] for e in found.json()["results"]] == [camera] * len(found.json()["results"])
    assert found.json()["results"]


def test_an_upload_url_file_name_over_the_limit_is_a_clear_400(api_factory: Any) -> None:
    """Refused before anything is fetched (the URL's port answers nothing)."""
    api = api_factory({"api": {"upload_url": {"enabled": True, "timeout_s": 2}}})
    name = "n" * (MAX_FILENAME_CHARS + 1) + ".jpg"
    said = detail(requests.post(api.url + READ, data={"upload_url": f"http://127.0.0.1:9/{name}?x=1"},
                                timeout=30), 400)
    assert said.startswith("upload_url:"), said
    assert f"{len(name)} characters" in said and f"at most {MAX_FILENAME_CHARS}" in said, said
    assert name not in said, said


def test_an_upload_url_file_name_at_the_limit_is_not_refused_for_it(api_factory: Any) -> None:
    api = api_factory({"api": {"upload_url": {"enabled": True, "timeout_s": 2}}})
    name = "n" * (MAX_FILENAME_CHARS - 4) + ".jpg"
    said = detail(requests.post(api.url + READ, data={"upload_url": f"http://127.0.0.1:9/{name}"},
                                timeout=30), 400)
    assert "could not be fetched" in said, said  # the fetch was tried: nothing listens on port 9


@pytest.fixture
def image_host(sample_images: list[Path]) -> Iterator[Any]:
    """A real HTTP server on loopback that answers every GET with a sample photo and notes the
    request targets it was sent."""
    photo = sample_images[0].read_bytes()
    targets: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            targets.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(photo)))
            self.end_headers()
            self.wfile.write(photo)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield SimpleNamespace(base=f"http://127.0.0.1:{server.server_address[1]}", targets=targets)
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("tail, sent, name", [
    ("snap.jpg?next=/" + "a" * 300, "/snap.jpg?next=/" + "a" * 300, "snap.jpg"),  # a query holding a /
    ("snap.jpg#/" + "a" * 300, "/snap.jpg", "snap.jpg"),  # a fragment holding a / (not sent)
    ("cgi-bin/snapshot.cgi?user=admin&password=hun/ter2", "/cgi-bin/snapshot.cgi?user=admin&password=hun/ter2",
     "snapshot.cgi"),
], ids=["query", "fragment", "password"])
def test_an_upload_url_file_name_is_its_paths_not_its_query_or_fragment(
        api_factory: Any, image_host: Any, tail: str, sent: str, name: str) -> None:
    """A valid URL whose query or fragment holds a ``/`` is read, its file name the path's last part
    (not a 400 for a long query, not part of a password echoed and kept in events)."""
    api = api_factory({"api": {"upload_url": {"enabled": True, "timeout_s": 5}}})
    response = requests.post(api.url + READ, data={"upload_url": f"{image_host.base}/{tail}"}, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == name
    assert image_host.targets == [sent]  # the URL fetched as given
    assert "ter2" not in response.text


STATION = "京都駅前の駐車場入口カメラ北側"  # 15 characters, 135 bytes of %XX escapes


def test_an_upload_url_file_name_is_echoed_and_measured_decoded(api_factory: Any, image_host: Any) -> None:
    api = api_factory({"api": {"upload_url": {"enabled": True, "timeout_s": 5}}})
    name = STATION * 2 + ".jpg"  # 34 characters, 274 escaped
    response = requests.post(api.url + READ, data={"upload_url": f"{image_host.base}/{quote(name)}"}, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == name
    name = STATION * 17 + ".jpg"  # 259 characters decoded: over the limit
    said = detail(requests.post(api.url + READ, data={"upload_url": f"{image_host.base}/{quote(name)}"},
                                timeout=30), 400)
    assert said.startswith("upload_url:") and f"{len(name)} characters" in said, said
    assert len(image_host.targets) == 1  # refused before it was fetched


def test_an_upload_url_file_name_with_an_encoded_line_break_stays_encoded(api_factory: Any, image_host: Any) -> None:
    """A ``%0A`` in the path's last part is echoed as sent, not decoded into a line break that
    would forge a log line or split a CSV row of the history."""
    api = api_factory({"api": {"upload_url": {"enabled": True, "timeout_s": 5}}})
    response = requests.post(api.url + READ, data={"upload_url": f"{image_host.base}/gate%0AERROR%20forged.jpg"},
                             timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "gate%0AERROR%20forged.jpg"
