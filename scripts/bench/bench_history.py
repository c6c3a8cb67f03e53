#!/usr/bin/env python3
"""Benchmark of the event history (a script, not a test); prints medians.

A history of ``--events`` events (default 10,000: 2,000 distinct plates seen again and again,
4 cameras, 2 % on a watch list, spread over 30 days) is written through ``History.publish``,
then each query, and the console's page (``GET /``, its search and its refresh), is asked
``--repeat`` times through the real API server over a loopback socket, and its median wall
time (request to last byte) is printed.  Rows only: images do not
change what a query reads (the first ``--with-images`` events also get a real crop and
thumbnail, to report the bytes per event).

Usage:  python -m scripts.bench.bench_history [--events 10000] [--repeat 21]
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from edge_alpr import config
from edge_alpr.api.server import build
from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.store import History, Sighting
from edge_alpr.types import Box
from edge_alpr.watchlists import Match
from scripts import REPO as ROOT


def fill(root: Path, events: int, with_images: int) -> float:
    """Write the history; the mean bytes of an event with images."""
    rng = random.Random(0)
    alphabet = string.ascii_uppercase + string.digits
    plates = ["".join(rng.choice(alphabet) for _ in range(7)) for _ in range(2000)]
    scene = np.asarray(Image.open(sorted((ROOT / "edge_alpr" / "samples").glob("*.jpg"))[0]).convert("RGB"))
    history = History(HistoryConfig(), root)
    start = 1_700_000_000.0
    sized = 0
    for n in range(events):
        plate = rng.choice(plates)
        match = Match("deny", plate, "", 0.0) if rng.random() < 0.02 else None
        payload = {"plate": plate.lower(), "score": 0.9, "region": {"code": "es", "score": 0.8},
                   "vehicle": {"type": "Sedan", "score": 0.9}, "camera_id": f"cam{n % 4}"}
        if match is not None:
            payload["match"] = match.to_dict()
        before = history.bytes
        history.publish(Sighting(f"bench-{n:08d}", "camera", f"cam{n % 4}",
                                 datetime.fromtimestamp(start + n * 259.2, timezone.utc), plate, 0.9,
                                 Box(111, 134, 245, 165), payload, match,
                                 scene if n < with_images else None))
        if n < with_images:
            sized += history.bytes - before
    history.close()
    return sized / max(1, with_images)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--with-images", type=int, default=200)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_history_"))
    t0 = time.perf_counter()
    per_event = fill(tmp / "history", args.events, args.with_images)
    print(f"wrote {args.events} events in {time.perf_counter() - t0:.1f} s; "
          f"{per_event / 1024:.1f} kB per event with images")
    cfg = config.from_dict({"state_dir": str(tmp), "api": {"port": 0}, "mqtt": {"enabled": False},
                            "stream": {"enabled": False}}, "bench")
    runtime = build(cfg)
    url = f"http://127.0.0.1:{runtime.server.port}/v1/events/"
    session = requests.Session()
    some_plate = session.get(url, params={"limit": 1}).json()["results"][0]["plate"]
    fuzzy = some_plate.upper().replace("0", "O").replace("1", "I")
    queries = {
        "newest 50": {},
        "plate, fuzzy (distance 1)": {"plate": fuzzy},
        "plate, fuzzy (distance 2)": {"plate": fuzzy, "distance": 2},
        "camera + 1 day window": {"camera": "cam2", "since": "2023-11-20T00:00:00Z",
                                  "until": "2023-11-21T00:00:00Z"},
        "watch list": {"list": "deny"},
        "page 10 (cursor)": None,
        "CSV, 1000 rows": {"format": "csv", "limit": 1000},
    }
    try:
        for label, params in queries.items():
            if params is None:  # walk 9 pages, time the 10th
                cursor = None
                for _ in range(9):
                    cursor = session.get(url, params={"cursor": cursor} if cursor else {}).json()["next"]
                params = {"cursor": cursor}
            times, count = [], 0
            for _ in range(args.repeat):
                started = time.perf_counter()
                r = session.get(url, params=params)
                times.append(time.perf_counter() - started)
                assert r.status_code == 200, r.text
                count = r.text.count("\n") - 1 if params.get("format") == "csv" else r.json()["count"]
            print(f"{label:28s} median {statistics.median(times) * 1000:6.1f} ms, "
                  f"max {max(times) * 1000:6.1f} ms ({count} events)")
        base = url.removesuffix("/v1/events/")
        pages = {"console page (GET /)": ("/", {}), "console page, fuzzy search": ("/", {"plate": fuzzy}),
                 "console refresh (parts)": ("/console/parts", {})}
        for label, (path, params) in pages.items():
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                r = session.get(base + path, params=params)
                times.append(time.perf_counter() - started)
                assert r.status_code == 200, r.text[:300]
            print(f"{label:28s} median {statistics.median(times) * 1000:6.1f} ms, "
                  f"max {max(times) * 1000:6.1f} ms ({len(r.content)} bytes)")
    finally:
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
