"""Bodies that cost far more to parse than their bytes, refused before parsing, over the real server.

Multipart: the fields of a form are counted in the body's bytes before it is parsed (at most
256), on the boundary the parsers split on: bottle's reading of the Content-Type, the last
``boundary`` parameter.  The count used to take the first text ``boundary=`` anywhere in the
header, so ``boundary=x; boundary=<real>`` or ``xboundary=x; boundary=<real>`` had 10 MB of tiny
parts parsed (2-4 s of a worker, and the second then read as a form without upload).  A
Content-Type naming two boundaries is refused; one hidden behind another parameter is counted
right.

JSON: 10 MB of ``[{},{},...]`` is 3.4 million objects, 2 GB over four requests at once and half
a minute before the answer; a body of more than ``json_input.MAX_VALUES`` values is refused
before it is parsed, on the plate reader and the watch lists alike.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

READ = "/v1/plate-reader/"
PART = b'--real\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
FLOOD = PART * (10_000_000 // len(PART)) + b"--real--\r\n"  # ~180,000 fields, under 10 MiB


@pytest.mark.parametrize("content_type, words", [
    ("multipart/form-data; boundary=decoy; boundary=real", "more than one boundary"),
    ("multipart/form-data; xboundary=decoy; boundary=real", "at most 256"),
])
def test_a_field_flood_behind_a_decoy_boundary_is_refused_before_parsing(api: Any, content_type: str,
                                                                        words: str) -> None:
    started = time.monotonic()
    r = requests.post(api.url + READ, data=FLOOD, headers={"Content-Type": content_type}, timeout=60)
    took = time.monotonic() - started
    assert r.status_code == 400, r.text
    assert words in r.json()["detail"], r.json()
    assert took < 3.0, took  # 10 MB sent and counted; parsed, it took 2-4 s (JSON: 30 s)


def test_a_quoted_boundary_still_splits_the_form(api: Any) -> None:
    """The boundary as bottle reads it, quotes undone: an ordinary form with one is parsed."""
    body = b'--a b\r\nContent-Disposition: form-data; name="upload"\r\n\r\nnot base64!\r\n--a b--\r\n'
    r = requests.post(api.url + READ, data=body, headers={"Content-Type": 'multipart/form-data; boundary="a b"'},
                      timeout=30)
    assert r.status_code == 400 and "base64" in r.json()["detail"], r.text


EMPTY_OBJECTS = b'{"upload": [' + b"{}," * 3_000_000 + b"{}]}"  # ~9 MB


@pytest.mark.parametrize("method, path, body", [
    ("POST", READ, EMPTY_OBJECTS),
    ("PUT", "/v1/watchlists/vans/", b'{"max_distance": 1, "plates": [' + b"[]," * 600_000 + b"[]]}"),
])
def test_json_of_millions_of_values_is_refused_before_parsing(api: Any, method: str, path: str,
                                                              body: bytes) -> None:
    started = time.monotonic()
    r = requests.request(method, api.url + path, data=body, headers={"Content-Type": "application/json"},
                         timeout=60)
    took = time.monotonic() - started
    assert r.status_code == 400, r.text
    assert "too many JSON values" in r.json()["detail"] and "100000" in r.json()["detail"], r.json()
    assert took < 3.0, took  # 10 MB sent and counted; parsed, it took 2-4 s (JSON: 30 s)
