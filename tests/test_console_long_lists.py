"""Long watch lists on the console, over the real server: the page shows the first
``SHOWN_PLATES`` plates of a list and says how many it holds and where all of them are.

Why: the lists may hold 32 x 10,000 plates; the page rendered every one, 89 MB of HTML (and as
much again as JSON after each edit), and four such pages at once took the service from 365 to
995 MB, a 1 GB board's OOM.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import requests
from conftest import RunningApi

from edge_alpr.api.console import SHOWN_PLATES


def _removes(html: str, name: str) -> list[str]:
    """The plates of list ``name`` the page offers to remove, in order."""
    return re.findall(rf'data-action="remove" data-list="{name}" data-plate="([A-Z0-9]+)"', html)


def test_a_long_list_shows_its_first_plates_and_says_where_the_rest_are(
        api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory()
    plates = [f"AB{i:05d}" for i in range(SHOWN_PLATES + 40)]
    for name, body in (("long", plates), ("short", plates[:3])):
        r = requests.put(f"{api.url}/v1/watchlists/{name}/", json={"plates": body}, timeout=30)
        assert r.status_code == 200, r.text
    page = requests.get(f"{api.url}/", timeout=30)
    part = json.loads(requests.get(f"{api.url}/console/parts?parts=lists", timeout=30).text)["lists"]
    for html in (page.text, part):
        assert _removes(html, "long") == plates[:SHOWN_PLATES]
        assert _removes(html, "short") == plates[:3]
        assert f"all {len(plates)} are in <code>GET /v1/watchlists/long/</code>" in html
        assert "/v1/watchlists/short/</code>" not in html
    # the API still has them all, and a plate not shown is still changed in place by the form's PUT
    r = requests.put(f"{api.url}/v1/watchlists/long/plates/{plates[-1]}/", json={"label": "last"}, timeout=10)
    assert r.status_code == 200 and len(r.json()["plates"]) == len(plates)
    assert r.json()["plates"][-1] == {"plate": plates[-1], "label": "last", "max_distance": None}
