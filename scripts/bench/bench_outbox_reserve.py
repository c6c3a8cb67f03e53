#!/usr/bin/env python3
"""Events put on a full disk and a ``kill -9``: how many a restart finds, with the outbox's
reserve (``outbox.reserve``) and without it (``reserve_bytes=0``: events held in memory only, as
before it); and a ``put``'s median time on a disk with room, with and without it (the reserve is
used only when a write finds the disk full, so the two should match).

Each run mounts a fresh tmpfs of ``--mib`` MiB (needs root), starts a process whose outbox makes
its reserve (the service's each second), lets another writer fill the disk, puts ``--events``
events (MQTT ones of ~1 KB, or webhook ones with a ``--image-kb`` scene), kills it with SIGKILL
once they are put, frees the disk and counts the events in the file.

Usage:  sudo python -m scripts.bench.bench_outbox_reserve [--events 200] [--mib 32] [--image-kb 0]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edge_alpr.delivery.outbox import Outbox
from edge_alpr.delivery.outbox_reserve import RESERVE_BYTES
from scripts import REPO as ROOT

CHILD = """
import os, sys, time
from pathlib import Path
from edge_alpr.delivery.outbox import Outbox
root, n, reserve, image_kb = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
box = Outbox(root / "state" / "outbox.sqlite", reserve_bytes=reserve)
box.follow_clock()
fd = os.open(root / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
try:
    while os.write(fd, b"x" * 4096):
        pass
except OSError:
    pass
os.close(fd)
image = b"i" * (image_kb * 1024) if image_kb else None
for i in range(n):
    box.put("webhook:x" if image else "mqtt", {"n": i, "pad": "x" * 1000}, image)
print(sum(box.stats()["held"].values()), flush=True)
time.sleep(600)
"""

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(target: Path, mib: int) -> None:
    if _libc.mount(b"bench", str(target).encode(), b"tmpfs", 0, f"size={mib}m".encode()) != 0:
        err = ctypes.get_errno()
        raise SystemExit(f"cannot mount a tmpfs at {target} ({os.strerror(err)}): run as root")


def killed(events: int, mib: int, reserve: int, image_kb: int) -> tuple[int, int]:
    """(held in memory at the kill, found in the file after it)."""
    with tempfile.TemporaryDirectory(prefix="bench-reserve-") as tmp:
        root = Path(tmp)
        _mount(root, mib)
        try:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(events), str(reserve),
                                      str(image_kb)], env=env, stdout=subprocess.PIPE, text=True)
            assert child.stdout is not None
            held = int(child.stdout.readline())
            child.send_signal(signal.SIGKILL)
            child.wait()
            (root / "filler").unlink()
            db = sqlite3.connect(str(root / "state" / "outbox.sqlite"))
            try:
                found = [json.loads(t)["n"] for (t,) in db.execute("SELECT payload FROM outbox")]
            finally:
                db.close()
            return held, len(set(found))
        finally:
            _libc.umount2(str(root).encode(), 2)


def put_median_ms(reserve: int, repeat: int = 500) -> float:
    """A put's median on a tmpfs with room (no fsync cost: the outbox's own work)."""
    with tempfile.TemporaryDirectory(prefix="bench-reserve-") as tmp:
        root = Path(tmp)
        _mount(root, 64)
        try:
            box = Outbox(root / "outbox.sqlite", reserve_bytes=reserve)
            box.follow_clock()
            times = []
            for i in range(repeat):
                began = time.perf_counter()
                box.put("mqtt", {"n": i, "pad": "x" * 700})
                times.append(time.perf_counter() - began)
            box.close()
            return statistics.median(times) * 1000
        finally:
            _libc.umount2(str(root).encode(), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--mib", type=int, default=32)
    parser.add_argument("--image-kb", type=int, default=0)
    args = parser.parse_args()
    for name, reserve in (("no reserve (before)", 0), (f"reserve {RESERVE_BYTES} bytes", RESERVE_BYTES)):
        held, found = killed(args.events, args.mib, reserve, args.image_kb)
        print(f"{name}: {args.events} put on a full {args.mib} MiB tmpfs, {held} held in memory at the kill -9, "
              f"{found} found after it")
    for name, reserve in (("no reserve", 0), ("reserve", RESERVE_BYTES)):
        print(f"{name}: put on a disk with room, median {put_median_ms(reserve):.3f} ms")


if __name__ == "__main__":
    main()
