"""The request shapes of the reference's linked example clients, byte for byte, over a real socket.

The reference points to clients in other languages whose bodies differ from what ``requests``
and ``curl`` send (``test_api_read.py``): the C# one (PlateReader.cs) builds its multipart body by
hand (the file part named by its full Windows path, or by the clock's ticks when it has no file,
typed ``application/octet-stream``, one ``regions`` part per code of a comma-separated list, the
closing boundary written as ``"\\r\\n--" + boundary + "--\\r\\n"``); Ruby's multipart-post
(``UploadIO``) names the file part by ``File.basename`` of the path it was given and gives it a
``Content-Length``, ``Content-Type: image/jpeg`` and ``Content-Transfer-Encoding: binary``, its
closing boundary followed by a blank line in 1.x; the Node one appends a base64 string as a plain
field.  Each must read the image the bare pipeline reads, echo a file name without the client's
folders, and honour its regions.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.test_api_read import READ_URL, expected_results


def _csharp_body(file_name: str, data: bytes, regions: str) -> tuple[bytes, str]:
    """The C# example's body and Content-Type: its boundary, part headers and CRLFs as it writes them."""
    boundary = "----------" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"{file_name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data
    for region in regions.split(","):
        body += f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"regions\"\r\n\r\n{region}".encode()
    return body + f"\r\n--{boundary}--\r\n".encode(), "multipart/form-data; boundary=" + boundary


@pytest.mark.parametrize(("file_name", "echoed"), [
    ("C:\\Users\\me\\Downloads\\car.jpg", "car.jpg"),
    ("638700000000000000", "638700000000000000"),  # DateTime.Now.Ticks: image bytes without a file
    ("/path/to/car.jpg", "car.jpg"),  # a path with forward slashes
])
def test_the_csharp_clients_body_is_read(api_factory: Any, sample_images: list[Path], recognizer: Any,
                                         file_name: str, echoed: str) -> None:
    server = api_factory(token="API_TOKEN-of-the-example")
    data = sample_images[0].read_bytes()
    body, content_type = _csharp_body(file_name, data, "gb,it")
    headers = {"Content-Type": content_type, "Authorization": "Token API_TOKEN-of-the-example"}
    response = requests.post(server.url + READ_URL, data=body, headers=headers, timeout=60)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == echoed
    assert response.json()["results"] == expected_results(recognizer, data, regions=("gb", "it"))
    body, content_type = _csharp_body(file_name, data, "gb,zz")  # its regions parts are read
    response = requests.post(server.url + READ_URL, data=body, headers={**headers, "Content-Type": content_type},
                             timeout=60)
    assert response.status_code == 400 and "'zz'" in response.json()["detail"], response.text


def _ruby_body(boundary: str, epilogue: str, data: bytes, regions: str) -> tuple[bytes, str]:
    """multipart-post's body and Content-Type for ``{"upload" => UploadIO.new("/path/to/car.jpg",
    "image/jpeg"), "regions" => regions}``: its file part's head (``FilePart#build_head``), a
    plain part per other field (``ParamPart``), then ``epilogue`` (``EpiloguePart``)."""
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"car.jpg\"\r\n"
            f"Content-Length: {len(data)}\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: binary"
            "\r\n\r\n").encode() + data + b"\r\n"
    body += f"--{boundary}\r\nContent-Disposition: form-data; name=\"regions\"\r\n\r\n{regions}\r\n".encode()
    return body + epilogue.format(boundary).encode(), "multipart/form-data; boundary=" + boundary


@pytest.mark.parametrize(("boundary", "epilogue"), [
    ("-----------RubyMultipartPost", "--{}--\r\n\r\n"),  # multipart-post 1.x: a blank line after the end
    ("--" + str(uuid.uuid4()), "--{}--\r\n"),  # 2.3: a boundary of its own per request
], ids=["multipart-post 1.x", "multipart-post 2.3"])
def test_the_ruby_clients_body_is_read(api_factory: Any, sample_images: list[Path], recognizer: Any,
                                       boundary: str, epilogue: str) -> None:
    server = api_factory(token="API_TOKEN-of-the-example")
    data = sample_images[0].read_bytes()
    body, content_type = _ruby_body(boundary, epilogue, data, "gb")
    headers = {"Content-Type": content_type, "Authorization": "Token API_TOKEN-of-the-example"}
    response = requests.post(server.url + READ_URL, data=body, headers=headers, timeout=60)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "car.jpg"
    assert response.json()["results"] == expected_results(recognizer, data, regions=("gb",))
    body, content_type = _ruby_body(boundary, epilogue, data, "zz")  # its regions part is read
    response = requests.post(server.url + READ_URL, data=body, headers={**headers, "Content-Type": content_type},
                             timeout=60)
    assert response.status_code == 400 and "'zz'" in response.json()["detail"], response.text


def test_the_node_clients_base64_field_is_read(api: Any, sample_images: list[Path], recognizer: Any) -> None:
    """``body.append('upload', base64Image)``: a multipart field without a file name."""
    data = sample_images[1].read_bytes()
    response = requests.post(api.url + READ_URL, files={"upload": (None, base64.b64encode(data).decode()),
                                                        "regions": (None, "gb")}, timeout=60)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "upload"
    assert response.json()["results"] == expected_results(recognizer, data, regions=("gb",))
