#!/usr/bin/env python3
"""Soak test of the whole device: does a long-running ``edge-alpr run`` leak anything?

Starts, on free loopback ports, everything a device runs and drives it for ``--minutes``:

* a real mosquitto (its own config and folder) and a small webhook receiver in this process
  (two targets: JSON and ``image: true`` multipart);
* ``python -m edge_alpr run`` with the API, two cameras (a looped 1280x720 video of the fixture
  scenes paced in real time, and a folder fed with a new image every ``--folder-interval`` s
  whose old files are deleted again, as an FTP-uploading camera does), MQTT, both webhooks,
  the history (camera events and API reads), a watch list and the usage counters;
* ``--rate`` API requests per second with varied fixture images and parameters (regions, modes,
  camera ids, thresholds, multipart or base64 JSON bodies, kept-alive or closed connections),
  about 10 % bad ones (broken images, unknown regions, bad config JSON) and GETs of /info/,
  /v1/statistics/, /v1/events/ and /metrics;
* every ``--outage-every`` s, mosquitto and then the webhook receiver are stopped for
  ``--outage-s`` s, so the outbox queues and then drains.

Every ``--sample-s`` s (30) it samples the service process: RSS, open file descriptors,
threads, the size of every file under the state folder (SQLite databases, their -wal and -shm
files, history images), the rows of every SQLite table, and the log's size.  At the end it
prints each series' first and last value, median and least-squares slope per hour over the
samples after the warm-up (the first ``--warmup`` share of the run), and flags the ones that
still grow: a long-running device must show no slope in memory, fds, threads, WAL files or
tables that should be bounded.  ``--csv FILE`` keeps every sample.  It is a script, not a test.

What to expect: the bounded parts fill up first (the WAL files to about 4 MB, the history to
``--history-mb`` after a few minutes, the heap as the mix of image sizes and modes comes by),
so a short run shows that filling as growth; judge leaks on the last-third slope of a run of
30 minutes or more (``--minutes 45``).  On a shared 2-core x86 VM, 42 min at the defaults: RSS
rose from 186 MB at 2 min to 230 MB at 31 min, then stayed flat (last third: +2 MB/h); fds 18-23,
19 threads, each WAL at most 4 MB, the outbox file back to 0.6 MB after 8 MB during outages.

Usage::

    python -m scripts.bench.bench_soak [--minutes 10] [--rate 4] [--csv soak.csv] [--keep]
"""

from __future__ import annotations

import argparse
import base64
import csv
import http.server
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import requests

from edge_alpr.api.server import free_port
from scripts import REPO as ROOT

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
FIXTURES = sorted((ROOT / "tests" / "data" / "detection").glob("*/images/*.jpg")) + sorted(
    (ROOT / "tests" / "data" / "detection").glob("*/images/*.png"))
W, H = 1280, 720
REGIONS = ["ro", "gb", "us-ca", "de", "fr", "es", "br", "us", "it"]


# ---------------------------------------------------------------- the service's neighbours

class Broker:
    """mosquitto on a fixed free loopback port, stoppable and restartable."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.conf = self.dir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence false",
                 f"log_dest file {self.dir}/mosquitto.log", "max_queued_messages 100000"]
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class Receiver:
    """A webhook receiver in this process; counts requests and distinct event ids per path."""

    def __init__(self) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.posts: dict[str, int] = {}
        self.ids: set[str] = set()
        self.server: http.server.ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                with owner.lock:
                    owner.posts[self.path] = owner.posts.get(self.path, 0) + 1
                    owner.ids.add(self.headers.get("X-Edge-Alpr-Event-Id", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def make_video(path: Path, images: list[Path], fps: int = 4, seconds_per_image: int = 2) -> None:
    """Each fixture scene letterboxed on a 1280x720 frame, held for a while, with sensor noise."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (W, H))
    rng = np.random.default_rng(0)
    for image in images:
        img = cv2.imread(str(image))
        assert img is not None, image
        scale = min(W / img.shape[1], H / img.shape[0])
        img = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)))
        frame = np.zeros((H, W, 3), np.uint8)
        y, x = (H - img.shape[0]) // 2, (W - img.shape[1]) // 2
        frame[y:y + img.shape[0], x:x + img.shape[1]] = img
        for _ in range(fps * seconds_per_image):
            noisy = np.clip(frame.astype(np.int16) + rng.integers(-2, 3, frame.shape), 0, 255)
            writer.write(noisy.astype(np.uint8))
    writer.release()


def write_config(state: Path, api_port: int, broker: Broker, receiver: Receiver, video: Path,
                 folder: Path, history_mb: int) -> Path:
    cfg = {
        "state_dir": str(state), "log_level": "INFO",
        "api": {"port": api_port, "threads": 4},
        "usage": {"max_calls": 0},
        "webhooks": {"targets": [f"http://127.0.0.1:{receiver.port}/json",
                                 {"url": f"http://127.0.0.1:{receiver.port}/image", "image": True}],
                     "timeout_s": 3, "backoff_initial_s": 0.5, "backoff_max_s": 5, "max_failures": 0},
        "stream": {"cameras": [
            {"id": "video", "source": {"kind": "video", "path": str(video), "loop": True, "realtime": True},
             "max_fps": 2},
            {"id": "folder", "source": {"kind": "folder", "path": str(folder), "poll_interval": 0.5}}],
            "events": {"memory_decay": 20, "save_crops": True, "crops_max_files": 20}},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "device_id": "soak", "ha_discovery": True,
                 "retry_max_s": 2, "usage_interval_s": 5},
        "history": {"enabled": True, "api_reads": True, "max_bytes": history_mb * 1024 * 1024},
        "watchlists": {"deny": {"max_distance": 1, "plates": ["B123ABC", {"plate": "CJ14WTB", "label": "x"}]}},
    }
    path = state.parent / "soak.yaml"
    path.write_text(json.dumps(cfg, indent=1))  # JSON is YAML
    return path


# ---------------------------------------------------------------- load

class Load:
    """Paced API requests: varied good ones, some bad ones, a few GETs."""

    def __init__(self, base: str, rate: float, seed: int = 0) -> None:
        self.base = base
        self.rate = rate
        self.rng = random.Random(seed)
        self.images = [p.read_bytes() for p in FIXTURES]
        self.status: dict[str, int] = {}
        self.late = 0
        self.lock = threading.Lock()
        self.local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        session: requests.Session = self.local.session
        return session

    def one(self, kind: float) -> None:
        rng = random.Random(self.rng.random())
        url = self.base + "/v1/plate-reader/"
        session = self._session()
        headers = {"Connection": "close"} if rng.random() < 0.2 else {}
        try:
            if kind < 0.04:
                data = rng.choice(self.images)
                r = session.post(url, files={"upload": ("broken.jpg", data[: len(data) // 3])},
                                 headers=headers, timeout=30)
            elif kind < 0.06:
                r = session.post(url, files={"upload": ("noise.jpg", os.urandom(2000))}, headers=headers, timeout=30)
            elif kind < 0.08:
                r = session.post(url, files={"upload": ("a.jpg", rng.choice(self.images))},
                                 data={"regions": "zz-qq"}, headers=headers, timeout=30)
            elif kind < 0.09:
                r = session.post(url, files={"upload": ("a.jpg", rng.choice(self.images))},
                                 data={"config": "{not json"}, headers=headers, timeout=30)
            elif kind < 0.10:
                r = session.post(url, json={"upload": "!!not base64!!"}, headers=headers, timeout=30)
            elif kind < 0.14:
                path = rng.choice(["/info/", "/v1/statistics/", "/v1/events/?limit=20", "/metrics"])
                r = session.get(self.base + path, headers=headers, timeout=30)
            else:
                data = rng.choice(self.images)
                config: dict[str, Any] = {"mode": rng.choice(["default", "default", "fast", "redaction"])}
                if rng.random() < 0.3:
                    config["threshold_d"] = round(rng.uniform(0.1, 0.6), 2)
                if rng.random() < 0.2:
                    config["region"] = "strict"
                fields = {"regions": rng.sample(REGIONS, rng.randint(0, 2)),
                          "camera_id": f"client-{rng.randint(1, 5)}", "config": json.dumps(config),
                          "mmc": "true" if rng.random() < 0.5 else "false"}
                if rng.random() < 0.25:
                    body = {"upload": base64.b64encode(data).decode(), **fields}
                    r = session.post(url, json=body, headers=headers, timeout=30)
                else:
                    r = session.post(url, files={"upload": ("car.jpg", data)}, data=fields, headers=headers,
                                     timeout=30)
            key = str(r.status_code)
        except requests.RequestException as e:
            key = type(e).__name__
            self.local.session = requests.Session()
        with self.lock:
            self.status[key] = self.status.get(key, 0) + 1

    def run(self, stop: threading.Event) -> None:
        with ThreadPoolExecutor(3) as pool:
            pending: list[Any] = []
            due = time.monotonic()
            while not stop.is_set():
                pending = [f for f in pending if not f.done()]
                if len(pending) < 6:
                    pending.append(pool.submit(self.one, self.rng.random()))
                else:
                    self.late += 1
                due += self.rng.expovariate(self.rate)
                stop.wait(max(0.0, due - time.monotonic()))


def feed_folder(folder: Path, interval: float, keep: int, stop: threading.Event) -> None:
    """A camera uploading one new image every ``interval`` s; only the newest ``keep`` stay."""
    n = 0
    while not stop.wait(interval):
        source = FIXTURES[n % len(FIXTURES)]
        tmp = folder / f".{n:07d}.tmp"
        shutil.copyfile(source, tmp)
        tmp.rename(folder / f"cam_{n:07d}{source.suffix}")
        n += 1
        old = folder / f"cam_{n - keep:07d}{FIXTURES[(n - keep) % len(FIXTURES)].suffix}"
        if n > keep and old.exists():
            old.unlink()


def outages(broker: Broker, receiver: Receiver, every: float, length: float, stop: threading.Event,
            counts: dict[str, int]) -> None:
    while not stop.wait(every):
        broker.stop()
        counts["mqtt"] += 1
        if stop.wait(length):
            broker.start()
            return
        broker.start()
        receiver.stop()
        counts["webhook"] += 1
        if stop.wait(length):
            receiver.start()
            return
        receiver.start()


# ---------------------------------------------------------------- sampling

def proc_status(pid: int) -> dict[str, float]:
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10, help="how long to drive the service (default 10)")
    ap.add_argument("--rate", type=float, default=4, help="API requests per second, Poisson (default 4)")
    ap.add_argument("--sample-s", type=float, default=30, help="seconds between samples (default 30)")
    ap.add_argument("--outage-every", type=float, default=180,
                    help="seconds between outages: mosquitto, then the webhook receiver (default 180)")
    ap.add_argument("--outage-s", type=float, default=30, help="length of each outage in seconds (default 30)")
    ap.add_argument("--folder-interval", type=float, default=3,
                    help="seconds between new images in the folder camera (default 3)")
    ap.add_argument("--warmup", type=float, default=0.25,
                    help="share of the run left out of the slopes (model load, caches; default 0.25)")
    ap.add_argument("--history-mb", type=int, default=16,
                    help="history.max_bytes in MiB, small so that its pruning runs during the soak (default 16)")
    ap.add_argument("--csv", type=Path, help="write every sample to this CSV file")
    ap.add_argument("--keep", action="store_true", help="keep the state folder and log (path printed)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="edge-alpr-soak-"))
    state, folder = work / "state", work / "folder"
    folder.mkdir()
    video = work / "scenes.avi"
    make_video(video, FIXTURES[:24])
    broker, receiver = Broker(work / "mosquitto"), Receiver()
    broker.start()
    receiver.start()
    api_port = free_port()
    cfg = write_config(state, api_port, broker, receiver, video, folder, args.history_mb)
    log_path = work / "service.log"
    log_file = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "run", "--config", str(cfg)],
                            stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    samples: list[dict[str, float]] = []
    base = f"http://127.0.0.1:{api_port}"
    outage_counts = {"mqtt": 0, "webhook": 0}
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"edge-alpr run exited {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if requests.get(base + "/info/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not answer within 120 s")
            time.sleep(0.5)
        print(f"edge-alpr run pid {proc.pid}: API {base}, mosquitto :{broker.port}, webhooks :{receiver.port}, "
              f"{len(FIXTURES)} fixture images, {args.rate}/s for {args.minutes} min; work dir {work}")
        load = Load(base, args.rate)
        for target, targs in ((load.run, (stop,)), (feed_folder, (folder, args.folder_interval, 20, stop)),
                              (outages, (broker, receiver, args.outage_every, args.outage_s, stop,
                                         outage_counts))):
            threads.append(threading.Thread(target=target, args=targs, daemon=True))
            threads[-1].start()
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        while True:
            now = time.monotonic()
            try:
                row = sample(proc.pid, state, log_path)
            except OSError:  # a folder the service removed while walked: look again
                row = sample(proc.pid, state, log_path)
            row["t"] = now - t0
            samples.append(row)
            with load.lock:
                done = sum(load.status.values())
            wal = sum(v for k, v in row.items() if k.endswith("-wal"))
            print(f"\r{row['t'] / 60:5.1f}/{args.minutes:g} min  requests {done}  RSS {row['rss_mb']:.0f} MB  "
                  f"fds {row['fds']:.0f}  threads {row['threads']:.0f}  WAL {wal:.0f} KB  "
                  f"log {row['log_kb']:.0f} KB  outages {outage_counts['mqtt']}+{outage_counts['webhook']}",
                  end="", flush=True)
            if now >= end or proc.poll() is not None:
                break
            time.sleep(max(0.0, min(args.sample_s, end - now)))
        print()
        if proc.poll() is not None:
            print(f"edge-alpr run exited {proc.returncode} during the run")
        stop.set()
        for t in threads:
            t.join(60)
        with load.lock:
            print("API answers:", dict(sorted(load.status.items())), f"(late, not sent: {load.late})")
        with receiver.lock:
            print("webhook posts:", receiver.posts, f"distinct event ids {len(receiver.ids)}")
        if args.csv:
            keys = sorted({k for s in samples for k in s})
            with open(args.csv, "w", newline="") as f:
                w = csv.DictWriter(f, keys)
                w.writeheader()
                w.writerows(samples)
        report(samples, args.warmup)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log_file.close()
        broker.stop()
        receiver.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
