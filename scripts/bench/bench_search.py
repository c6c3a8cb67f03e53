#!/usr/bin/env python3
"""Benchmark of the history's fuzzy plate search over many distinct plates (a script, not a
test); prints the median time the search holds the history's lock.

A history of ``--plates`` distinct plates (default 200,000: Romanian-like ``B123ABC`` and
random 5-8 characters, one event each, rows only) is written straight into the history's file
(``History.publish`` would take minutes), then five plates are searched at distance 1 and 3,
``--repeat`` times each, timing ``select_page`` with the lock held as ``History.query`` holds it.

Usage:  python -m scripts.bench.bench_search [--plates 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import string
import tempfile
import time
from pathlib import Path

from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.queries import select_page
from edge_alpr.history.schema import DATABASE
from edge_alpr.history.store import EventQuery, History

QUERIES = ("B310VLV", "CJ12ABC", "B91BLG", "XY99ZZ", "TM123OOD")


def fill(root: Path, count: int) -> None:
    History(HistoryConfig(), root).close()  # the file in this version's layout
    rng, plates = random.Random(7), set()
    while len(plates) < count:
        if rng.random() < 0.6:
            digits = "".join(rng.choices(string.digits, k=rng.choice([2, 3])))
            letters = "".join(rng.choices(string.ascii_uppercase, k=3))
            plates.add(rng.choice(["B", "CJ", "IF", "TM", "IS"]) + digits + letters)
        else:
            plates.add("".join(rng.choices(string.ascii_uppercase + string.digits, k=rng.randint(5, 8))))
    now = time.time()
    with sqlite3.connect(root / DATABASE) as db:
        db.executemany("INSERT INTO events (id, source, camera, ts, stored, plate, plate_norm, score, size, payload, "
                       "age_from) VALUES (?, 'camera', 'gate', ?, ?, ?, ?, 0.9, 300, ?, ?)",
                       [(f"e{i}", now - i, now - i, p, p, json.dumps({"plate": p.lower()}), now - i)
                        for i, p in enumerate(sorted(plates))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plates", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fill(root, args.plates)
        history = History(HistoryConfig(max_bytes=2**40, max_age_days=3650), root)
        try:
            for distance in (1.0, 3.0):
                held = []
                for plate in QUERIES:
                    for _ in range(args.repeat):
                        with history._lock:  # as History.query holds it
                            start = time.perf_counter()
                            select_page(history._db, EventQuery(plate=plate, max_distance=distance))
                            held.append(time.perf_counter() - start)
                print(f"distance {distance:g}: {args.plates} distinct plates, lock held a median "
                      f"{statistics.median(held) * 1000:.0f} ms (max {max(held) * 1000:.0f} ms) per search")
        finally:
            history.close()


if __name__ == "__main__":
    main()
