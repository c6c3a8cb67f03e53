"""The history and watch-list routes on the real server over a loopback socket, and the camera
loop over the bundled sample images feeding the history with watch-list matches.

Plates are checked against the human labels in edge_alpr/samples/labels.json, never against
model output.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SAMPLES, RunningApi
from waiting import wait_for

from edge_alpr import config
from edge_alpr.fuzzy import distance
from edge_alpr.service import build

LABELS: dict[str, Any] = json.loads((SAMPLES / "labels.json").read_text())


def _read(api: RunningApi, name: str, camera: str = "door") -> dict[str, Any]:
    with open(SAMPLES / name, "rb") as f:
        r = requests.post(f"{api.url}/v1/plate-reader/", files={"upload": f},
                          data={"camera_id": camera}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def _put(api: RunningApi, name: str, body: Any, **kw: Any) -> requests.Response:
    return requests.put(f"{api.url}/v1/watchlists/{name}/", json=body, timeout=10, **kw)


def test_api_reads_kept_searchable_and_matched(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory({"history": {"api_reads": True},
                       "watchlists": {"deny": {"max_distance": 3, "plates": [
                           {"plate": "8144M0S", "label": "label B144MOS"}]}}})
    label = LABELS["01_romanian_t37.jpg"]["plates"][0]["text"]  # B144MOS
    body = _read(api, "01_romanian_t37.jpg")
    (result,) = body["results"]
    # the entry differs from the label by two confusions (B/8, O/0)
    assert result["match"]["list"] == "deny" and result["match"]["label"] == "label B144MOS"
    assert result["match"]["distance"] <= 1.0
    other = _read(api, "02_romanian_t485.jpg", camera="yard")
    assert "match" not in other["results"][0]

    r = requests.get(f"{api.url}/v1/events/", params={"plate": label.replace("O", "0").replace("1", "I"),
                                                      "distance": 3}, timeout=10)
    assert r.status_code == 200
    found = r.json()["results"]
    assert [e["camera_id"] for e in found] == ["door"] and found[0]["match"]["list"] == "deny"
    assert found[0]["source"] == "api" and found[0]["distance"] <= 0.5 * 2
    by_list = requests.get(f"{api.url}/v1/events/?list=deny", timeout=10).json()["results"]
    assert [e["id"] for e in by_list] == [found[0]["id"]]
    yard = requests.get(f"{api.url}/v1/events/?camera=yard", timeout=10).json()["results"]
    assert len(yard) == 1 and "match" not in yard[0]["result"]

    one = requests.get(f"{api.url}/v1/events/{found[0]['id']}/", timeout=10)
    assert one.status_code == 200 and one.json()["id"] == found[0]["id"]
    for kind in ("plate", "scene"):
        image = requests.get(f"{api.url}{found[0]['images'][kind]}", timeout=10)
        assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"
        assert image.content[:3] == b"\xff\xd8\xff"
    page = requests.get(f"{api.url}/v1/events/?limit=1", timeout=10).json()
    assert page["count"] == 1 and page["next"]
    rest = requests.get(f"{api.url}/v1/events/", params={"limit": 1, "cursor": page["next"]},
                        timeout=10).json()
    assert rest["count"] == 1 and rest["next"] is None
    assert {page["results"][0]["camera_id"], rest["results"][0]["camera_id"]} == {"door", "yard"}

    exported = requests.get(f"{api.url}/v1/events/?format=csv", timeout=10)
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["camera_id"] for r in rows) == ["door", "yard"]
    assert [r["match_list"] for r in rows if r["camera_id"] == "door"] == ["deny"]


@pytest.mark.parametrize(("query", "words"), [
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=abc", "limit"),
    ("since=yesterday", "since"), ("until=2024-01-01T00:00:00%2B02:00", "until"),
    ("plate=--", "plate"), ("plate=" + "A" * 65, "plate"), ("distance=9", "distance"),
    ("distance=nan", "distance"), ("cursor=abc", "cursor"), ("cursor=inf_3", "cursor"),
    ("list=a%20b", "list"), ("format=xml", "format"), ("bogus=1", "bogus"),
])
def test_bad_query_parameters_are_a_400_naming_them(api: RunningApi, query: str, words: str) -> None:
    r = requests.get(f"{api.url}/v1/events/?{query}", timeout=10)
    assert r.status_code == 400 and words in r.json()["detail"]


def test_unknown_events_and_images_are_404(api: RunningApi) -> None:
    for path in ("/v1/events/nope/", "/v1/events/nope/plate.jpg", "/v1/events/%00%ff/",
                 "/v1/events/" + "a" * 100 + "/", "/v1/watchlists/nope/"):
        r = requests.get(f"{api.url}{path}", timeout=10)
        assert r.status_code == 404 and r.json()["detail"]


def test_watch_lists_edited_through_the_api_persist(api_factory: Callable[..., RunningApi],
                                                    tmp_path: Path) -> None:
    state = tmp_path / "state"
    api = api_factory({"watchlists": {"staff": {"plates": ["AB123CD"]}}}, state_dir=state)
    r = _put(api, "visitors", {"max_distance": 0.5, "plates": ["xy-99-zz", {"plate": "B0B1",
                                                                          "label": "Bob"}]})
    assert r.status_code == 200 and r.json()["plates"][0]["plate"] == "XY99ZZ"
    listed = requests.get(f"{api.url}/v1/watchlists/", timeout=10).json()["lists"]
    assert [(wl["name"], wl["source"]) for wl in listed] == [("staff", "config"), ("visitors", "api")]
    assert _put(api, "staff", {"plates": []}).status_code == 409  # the config file's: read-only
    assert requests.delete(f"{api.url}/v1/watchlists/staff/", timeout=10).status_code == 409
    for bad in ({"plates": [""]}, {"plates": "AB1"}, {"max_distance": 7}, {"colour": "red"},
                {"plates": [{"plate": "AB1", "label": "x" * 81}]}, [1, 2]):
        r = _put(api, "visitors", bad)
        assert r.status_code == 400, bad
    r = requests.put(f"{api.url}/v1/watchlists/visitors/", data="plates=AB1", timeout=10,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415  # a cross-site form cannot edit the lists
    assert _put(api, "bad name", {"plates": []}).status_code in (400, 404)
    stored = json.loads((state / "watchlists.json").read_text())
    assert list(stored["lists"]) == ["visitors"] and not list(state.glob(".watchlists*.tmp"))
    api.runtime.close()

    again = api_factory({"watchlists": {"staff": {"plates": ["AB123CD"]}}}, state_dir=state)
    got = requests.get(f"{again.url}/v1/watchlists/visitors/", timeout=10).json()
    assert [e["plate"] for e in got["plates"]] == ["XY99ZZ", "B0B1"]
    assert requests.delete(f"{again.url}/v1/watchlists/visitors/", timeout=10).status_code == 204
    assert requests.get(f"{again.url}/v1/watchlists/visitors/", timeout=10).status_code == 404


def test_history_needs_the_token_like_the_api(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory(token="s3cret")
    assert requests.get(f"{api.url}/v1/events/", timeout=10).status_code == 403
    assert _put(api, "x", {"plates": []}).status_code == 403
    ok = requests.get(f"{api.url}/v1/events/", headers={"Authorization": "Token s3cret"}, timeout=10)
    assert ok.status_code == 200 and ok.json() == {"count": 0, "next": None, "results": []}


def test_camera_loop_events_land_in_the_history_with_matches(tmp_path: Path, recognizer: Any) -> None:
    label = LABELS["04_romanian_t891.jpg"]["plates"][0]["text"]  # B305CIL: confusable B, 0 and I
    entry = label.replace("B", "8").replace("I", "1")  # two confusions
    cfg = config.from_dict({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False},
        "api": {"port": 0},
        "stream": {"cameras": [{"id": "gate", "source": {"kind": "folder", "watch": False}}]},
        "watchlists": {"deny": {"max_distance": 3, "plates": [{"plate": entry, "label": "van"}]}},
    }, "<test>")
    stop = threading.Event()
    svc = build(cfg, stop, recognizer=recognizer)
    try:
        assert svc.history is not None
        assert wait_for(lambda: svc.cameras[0].stats.ended and
                        svc.history is not None and svc.history.stats()["events"] >= len(LABELS), 60)
        url = f"http://127.0.0.1:{svc.api.server.port}"
        events = requests.get(f"{url}/v1/events/?camera=gate", timeout=10).json()["results"]
        assert len(events) == len(LABELS)
        matched = [e for e in events if e["match"]]
        assert [e["match"]["list"] for e in matched] == ["deny"]
        assert distance(matched[0]["plate"], entry) == matched[0]["match"]["distance"]
        for e in events:
            assert e["source"] == "camera"
            image = requests.get(f"{url}{e['images']['scene']}", timeout=10)
            assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
    finally:
        svc.close()
