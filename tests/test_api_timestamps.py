"""ISO 8601 timestamps read alike on every supported Python (3.10 to 3.13), over a real socket.

Python 3.10's ``datetime.fromisoformat`` reads only the extended calendar form with a
``+HH:MM`` offset; 3.11+ reads the basic form, ``+0000`` and week dates too, and misreads a
decimal minute.  These forms must get the same answer from an installation on either.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from conftest import RunningApi

READ_URL = "/v1/plate-reader/"
# Monday of ISO week 34 of 2019 is 19 August; the other forms all name 13:11:25 of that day
AUGUST_19 = datetime(2019, 8, 19, 13, 11, 25, tzinfo=timezone.utc)


@pytest.fixture
def api(api_factory: Callable[..., RunningApi]) -> RunningApi:
    return api_factory({"history": {"api_reads": True}})


def _read(api: RunningApi, image: Path, stamp: str) -> requests.Response:
    return requests.post(api.url + READ_URL, files={"upload": image.read_bytes()},
                         data={"timestamp": stamp}, timeout=60)


@pytest.mark.parametrize(("stamp", "meant"), [
    ("2019-08-19T13:11:25+0000", AUGUST_19),  # strftime("%Y-%m-%dT%H:%M:%S%z")
    ("2019-08-19T13:11:25+00", AUGUST_19),
    ("20190819T131125Z", AUGUST_19),  # the basic form
    ("2019-08-19T131125Z", AUGUST_19),
    ("2019-08-19T13:11:25.1234567891Z", AUGUST_19.replace(microsecond=123456)),
    ("2019-W34-1", AUGUST_19.replace(hour=0, minute=0, second=0)),
])
def test_a_read_takes_each_iso_form(api: RunningApi, sample_images: list[Path], stamp: str, meant: datetime) -> None:
    response = _read(api, sample_images[0], stamp)
    assert response.status_code == 201, response.text
    assert response.json()["timestamp"] == meant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(("stamp", "answered"), [
    ("0999-01-01T00:00:00Z", "0999-01-01T00:00:00.000000Z"),
    ("0001-02-03T04:05:06.7Z", "0001-02-03T04:05:06.700000Z"),
])
def test_a_year_before_1000_is_answered_with_its_four_digits(api: RunningApi, sample_images: list[Path],
                                                             stamp: str, answered: str) -> None:
    """The C library's ``%Y`` wrote ``999-01-01T...``, which no ISO 8601 reader takes back."""
    response = _read(api, sample_images[0], stamp)
    assert response.status_code == 201, response.text
    assert response.json()["timestamp"] == answered


@pytest.mark.parametrize("stamp", [
    "2019-08-19T13:11.5",  # a decimal minute (ISO: 13:11:30), which Python 3.11+ reads as 13:11:00.5
    "2019-08-19T13.5",
    "2019-08-19T13:11:25 Z",
    "2019-W53-1",  # 2019 has 52 ISO weeks
    "\u0662\u0660\u0661\u0669-08-19",  # Arabic-Indic digits
])
def test_a_read_refuses_the_other_forms_on_every_python(api: RunningApi, sample_images: list[Path],
                                                        stamp: str) -> None:
    response = _read(api, sample_images[0], stamp)
    assert response.status_code == 400, response.text
    assert "is not ISO 8601" in response.json()["detail"]


def test_the_events_search_takes_an_offset_without_colon(api: RunningApi, sample_images: list[Path]) -> None:
    assert _read(api, sample_images[0], "2019-08-19T13:11:25Z").status_code == 201
    found = {}
    for since in ("2019-08-19T13:11:25+00:00", "2019-08-19T13:11:25+0000", "20190819T131126Z"):
        response = requests.get(api.url + "/v1/events/", params={"since": since}, timeout=10)
        assert response.status_code == 200, response.text
        found[since] = response.json()["count"]
    assert found == {"2019-08-19T13:11:25+00:00": 1, "2019-08-19T13:11:25+0000": 1, "20190819T131126Z": 0}


def test_a_console_box_keeps_a_short_fraction(api: RunningApi) -> None:
    """A time box keeps ``10:00:00.5`` as typed beside another box's error."""
    page = requests.get(f"{api.url}/", params={"since": "2024-05-01T10:00:00.5", "until": "later"}, timeout=10)
    assert page.status_code == 400
    assert 'name="since" value="2024-05-01T10:00:00.5" ' in page.text, page.text
    assert 'name="until" value="later" ' in page.text
