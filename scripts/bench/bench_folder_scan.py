#!/usr/bin/env python3
"""Benchmark a folder camera's scans over a folder of many files read before.

Makes ``--files`` one-byte ``.jpg`` files in a temporary folder, records them all as read in a
ledger (as a first run would leave them), then times ``--scans`` scans of a ``FolderSource``
started on it: the CPU seconds each scan takes (every ``poll_interval``, 1 s by default, while
the camera waits for new files), the first scans after the start, the memory the source holds,
and what its ``waiting`` (asked at each look at the camera's health) takes.  It prints the
numbers; it is a script, not a test.  Usage::

    python -m scripts.bench.bench_folder_scan [--files 100000] [--scans 5] [--subfolders 100]

With ``--subfolders N`` the files are spread over N subfolders (a camera uploading into a folder
per hour or day) and the camera's pattern is ``**/*.jpg``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

from edge_alpr.stream.source_config import FolderSourceConfig
from edge_alpr.stream.sources.files import FolderSource
from edge_alpr.stream.sources.ledger import ReadLedger


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--scans", type=int, default=5)
    ap.add_argument("--subfolders", type=int, default=0, help="spread the files over this many subfolders "
                    "(pattern **/*.jpg); 0: all in the folder itself (*.jpg)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, state = Path(tmp) / "drop", Path(tmp) / "state"
        folder.mkdir()
        state.mkdir()
        subs = [f"{d:04d}/" for d in range(args.subfolders)] or [""]
        names = [f"{subs[i % len(subs)]}img{i:07d}.jpg" for i in range(args.files)]
        for sub in subs:
            (folder / sub).mkdir(exist_ok=True)
        for name in names:
            (folder / name).write_bytes(b"x")
        patterns = ("**/*.jpg",) if args.subfolders else ("*.jpg",)
        cfg = FolderSourceConfig(path=str(folder), remember_max_files=args.files, patterns=patterns)
        ReadLedger(state, "bench", folder.resolve(), 86400.0, args.files).add(
            (name, (1, (folder / name).stat().st_mtime_ns)) for name in names)
        tracemalloc.start()
        t = time.process_time()
        source = FolderSource(cfg, "bench", threading.Event(), state)
        opened = time.process_time() - t
        t = time.process_time()
        source._scan()  # the first scan: every file new to this run, found in the ledger
        first = time.process_time() - t
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        times = []
        for _ in range(args.scans):
            t = time.process_time()
            source._scan()
            times.append(time.process_time() - t)
        t = time.process_time()
        for _ in range(100):  # the camera's health asks it at each look (main loop, /info/)
            said = source.waiting()
        look = (time.process_time() - t) / 100
        where = f" in {args.subfolders} subfolders ({patterns[0]})" if args.subfolders else ""
        print(f"{args.files} files{where} read before: open {opened:.2f} s CPU, first scan {first:.2f} s, "
              f"then a scan {statistics.median(times):.3f} s CPU (median of {args.scans}); "
              f"{held / 1e6:.0f} MB held after the first scan; {said} ({look * 1e3:.3f} ms CPU a look)")
        source.close()


if __name__ == "__main__":
    main()
