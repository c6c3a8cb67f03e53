"""The console and its JSON routes against a hostile client on the network and a careless admin.

The real server on a loopback socket (``api_factory``), spoken to as an attacker would, with
parameters a browser never sends (digits that are not ASCII, cursors past SQLite's integers,
bytes that are not UTF-8).  Each answer must be a 4xx naming the problem, never a 5xx.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from conftest import SAMPLES, RunningApi


def _read(api: RunningApi, headers: dict[str, str] | None = None, **data: str) -> requests.Response:
    sample = sorted(SAMPLES.glob("*.jpg"))[0].read_bytes()
    return requests.post(f"{api.url}/v1/plate-reader/", files={"upload": ("car.jpg", sample)},
                         data=data, headers=headers or {}, timeout=30)


def test_search_parameters_are_utf8(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory({"history": {"api_reads": True}})
    assert _read(api, camera_id="Einfahrt Süd").status_code == 201
    found = requests.get(f"{api.url}/v1/events/", params={"camera": "Einfahrt Süd"}, timeout=10)
    assert found.status_code == 200 and found.json()["count"] == 1
    page = requests.get(f"{api.url}/", params={"camera": "Einfahrt Süd"}, timeout=10)
    assert page.status_code == 200 and 'value="Einfahrt Süd"' in page.text and "Ã" not in page.text
    for path in ("/v1/events/?camera=%ff%fe", "/console/parts?camera=%ff%fe"):
        r = requests.get(f"{api.url}{path}", timeout=10)
        assert r.status_code == 400 and "camera" in r.json()["detail"] and "UTF-8" in r.json()["detail"], path
    page = requests.get(f"{api.url}/?camera=%ff%fe", timeout=10)
    assert page.status_code == 400 and "UTF-8" in page.text


@pytest.mark.parametrize("path", [
    "/console/cameras/%C2%B2/view.jpg",  # a superscript two: str.isdigit says yes, int() says no
    "/console/cameras/%D9%A0/view.jpg",  # an Arabic-Indic zero
    "/v1/events/?cursor=1_9999999999999999999",  # past SQLite's 64-bit integers
    "/console/parts?cursor=1_18446744073709551616",
    "/v1/events/?limit=%C2%B2", "/console/parts?plate=%C2%B2%C2%B3",
])
def test_numbers_a_browser_never_sends_are_4xx(api_factory: Callable[..., RunningApi], path: str) -> None:
    api = api_factory({"history": {"api_reads": True}})
    r = requests.get(f"{api.url}{path}", timeout=10)
    assert 400 <= r.status_code < 500 and r.json()["detail"], (r.status_code, r.text[:200])


def test_the_page_answers_a_cursor_past_sqlite_with_400(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory({"history": {"api_reads": True}})
    page = requests.get(f"{api.url}/?cursor=1_9999999999999999999", timeout=10)
    assert page.status_code == 400 and "cursor" in page.text
