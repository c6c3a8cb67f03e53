"""The soak's measurements (``bench_soak.py``): samples of the service process and its state
folder, and the report of which series still grow.

Why slopes and not thresholds: a leak is a series that keeps rising once the bounded parts
(WAL files, history, caches, the heap's mix) have filled, whatever its level; a least-squares
slope per hour over the last third of the run says so without a number tuned per machine.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import statistics
from pathlib import Path


def proc_status(pid: int) -> dict[str, float]:
    """RSS, threads, open file descriptors and CPU seconds of a process, from /proc."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "VmRSS":
            out["rss_mb"] = int(value.split()[0]) / 1024
        elif key == "Threads":
            out["threads"] = int(value)
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    out["cpu_s"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def sample(pid: int, state: Path, log_path: Path) -> dict[str, float]:
    """One sample: the process, the log's size, each state file's size (images as a count and a
    total), and the rows of every SQLite table."""
    row = proc_status(pid)
    row["log_kb"] = log_path.stat().st_size / 1024
    sizes: dict[Path, int] = {}
    for p in state.rglob("*"):
        try:  # the service deletes crops and history images while we look
            if p.is_file():
                sizes[p] = p.stat().st_size
        except OSError:
            continue
    files = list(sizes)
    images = [p for p in files if p.suffix in (".jpg", ".jpeg", ".png", ".webp")]
    for p in files:
        if p not in images:
            row[f"file_kb:{p.relative_to(state)}"] = sizes[p] / 1024
    row["image_files"] = len(images)
    row["image_kb"] = sum(sizes[p] for p in images) / 1024
    for p in files:
        if p.name.endswith(("-wal", "-shm", "-journal")):
            continue
        try:
            with open(p, "rb") as f:
                if f.read(16) != b"SQLite format 3\x00":
                    continue
            db = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=5)
            try:
                tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                for t in tables:
                    row[f"rows:{p.name}:{t}"] = db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            finally:
                db.close()
        except (sqlite3.Error, OSError):
            continue
    return row


def slope_per_hour(ts: list[float], ys: list[float]) -> float:
    """The least-squares slope of ``ys`` over ``ts`` (seconds), per hour; 0 below three points."""
    if len(ts) < 3:
        return 0.0
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    den = sum((t - mt) ** 2 for t in ts)
    return 0.0 if den == 0 else sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den * 3600


def report(samples: list[dict[str, float]], warmup: float) -> None:
    """Each series' first, last and median value and its slope per hour after the warm-up and
    over the last third; GROWS where it still rises in the last third (a plateau reached
    during the run is not growth)."""
    keys: list[str] = []
    for s in samples:
        keys += [k for k in s if k not in keys and k not in ("t", "cpu_s")]
    span = samples[-1]["t"] - samples[0]["t"]
    start, third = samples[0]["t"] + warmup * span, samples[0]["t"] + span * 2 / 3
    late = [s for s in samples if s["t"] >= start]
    print(f"\n{len(samples)} samples over {span / 60:.1f} min; slopes per hour after the first "
          f"{warmup:.0%} (warm-up: model load, caches, heap) and over the last third")
    print(f"{'series':50} {'first':>9} {'last':>9} {'median':>9} {'slope/h':>9} {'last 1/3':>9}  note")
    for k in keys:
        pts = [(s["t"], s[k]) for s in late if k in s]
        if len(pts) < 3:
            continue
        first = next(s[k] for s in samples if k in s)
        tail = [(t, y) for t, y in pts if t >= third]
        slope = slope_per_hour([t for t, _ in pts], [y for _, y in pts])
        tail_slope = slope_per_hour([t for t, _ in tail], [y for _, y in tail])
        med = statistics.median(y for _, y in pts)
        grows = tail_slope > 0.05 * max(med, 1.0) and tail[-1][1] > tail[0][1]
        note = "GROWS" if grows and not k.startswith(("rows:usage", "log_kb")) else ""
        print(f"{k[:50]:50} {first:9.1f} {pts[-1][1]:9.1f} {med:9.1f} {slope:9.1f} {tail_slope:9.1f}  {note}")
    cpu = [(s["t"], s["cpu_s"]) for s in late]
    if len(cpu) > 1 and cpu[-1][0] > cpu[0][0]:
        print(f"service CPU after the warm-up: {(cpu[-1][1] - cpu[0][1]) / (cpu[-1][0] - cpu[0][0]):.0%} of a core")
    print("log_kb grows with the events by design (stderr: journald rotates it); rows:usage is one row "
          "a month")


def write_csv(path: Path, samples: list[dict[str, float]]) -> None:
    """Every sample, one row each, the union of the series as columns (empty where absent)."""
    keys = sorted({k for s in samples for k in s})
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(samples)
