"""A multipart flood whose Content-Type hides the boundary the parsers use, over the real server.

The fields of a form are counted in the body's bytes before it is parsed (at most 256), on the
boundary the parsers split on: bottle's reading of the Content-Type, the last ``boundary``
parameter.  The count used to take the first text ``boundary=`` anywhere in the header, so
``boundary=x; boundary=<real>`` or ``xboundary=x; boundary=<real>`` had 10 MB of tiny parts
parsed (2-4 s of a worker, and the second then read as a form without upload).  A Content-Type
naming two boundaries is refused; one hidden behind another parameter is counted right.
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
    assert took < 1.5, took


def test_a_quoted_boundary_still_splits_the_form(api: Any) -> None:
    """The boundary as bottle reads it, quotes undone: an ordinary form with one is parsed."""
    body = b'--a b\r\nContent-Disposition: form-data; name="upload"\r\n\r\nnot base64!\r\n--a b--\r\n'
    r = requests.post(api.url + READ, data=body, headers={"Content-Type": 'multipart/form-data; boundary="a b"'},
                      timeout=30)
    assert r.status_code == 400 and "base64" in r.json()["detail"], r.text
