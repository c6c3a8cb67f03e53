#!/usr/bin/env python3
"""Benchmark the HTTP API: throughput, latency, server overhead and memory.

Starts the production server (``edge-alpr serve``) as a child process on a free loopback port
and posts a 1280x720 JPEG (a bundled sample scaled onto a 1280x720 frame):

1. requests/s and p50/p99 latency at concurrency 1, 2 and 4, in default and fast modes;
2. server overhead: median HTTP latency at concurrency 1 over the median of the bare pipeline
   (decode + recognize in this process on the same bytes, alternating with the HTTP requests so
   both see the same load) -- target <= 10 %;
3. server RSS after ``--rss-requests`` (default 1000) requests and its growth over the second
   half -- targets <= 150 MB and no growth.

It prints medians and ratios; it is a script, not a test.  Usage::

    python -m scripts.bench.bench_api [--requests 40] [--overhead-requests 120] [--rss-requests 1000]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from PIL import Image

from edge_alpr import imaging
from edge_alpr.api.server import free_port
from edge_alpr.lifecycle import keep_frame_memory
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from scripts import REPO as ROOT

SAMPLE = ROOT / "edge_alpr" / "samples" / "01_romanian_t37.jpg"


def frame_1280x720() -> bytes:
    """The sample scaled 3x (960x720) centred on a 1280x720 frame, as a camera would send it."""
    sample = Image.open(SAMPLE).convert("RGB")
    canvas = sample.resize((1280, 720)).resize((64, 36)).resize((1280, 720))  # blurred surround
    canvas.paste(sample.resize((960, 720), Image.Resampling.BICUBIC), (160, 0))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=90)
    return out.getvalue()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def encode(data: bytes, mode: str) -> tuple[bytes, str]:
    """The multipart body, built once, so the client's own encoding is not timed as server time."""
    prepared = requests.Request("POST", "http://x/", files={"upload": ("frame.jpg", data)},
                                data={"config": f'{{"mode":"{mode}"}}'}).prepare()
    assert isinstance(prepared.body, bytes)
    return prepared.body, prepared.headers["Content-Type"]


def post(session: requests.Session, url: str, body: tuple[bytes, str]) -> float:
    started = time.perf_counter()
    r = session.post(url, data=body[0], headers={"Content-Type": body[1]})
    elapsed = time.perf_counter() - started
    if r.status_code != 201:
        raise RuntimeError(f"HTTP {r.status_code}: {r.text}")
    return elapsed


def post_lean(conn: http.client.HTTPConnection, body: tuple[bytes, str]) -> tuple[float, float]:
    """One request on a kept-alive connection: (round trip, the server's processing_time) in s."""
    started = time.perf_counter()
    conn.request("POST", "/v1/plate-reader/", body=body[0], headers={"Content-Type": body[1]})
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 201:
        raise RuntimeError(f"HTTP {response.status}: {payload[:200]!r}")
    return elapsed, json.loads(payload)["processing_time"] / 1000


def run_level(url: str, body: tuple[bytes, str], concurrency: int, n: int) -> tuple[float, list[float]]:
    sessions = [requests.Session() for _ in range(concurrency)]
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: post(sessions[i % concurrency], url, body), range(concurrency)))
        started = time.perf_counter()
        latencies = list(pool.map(lambda i: post(sessions[i % concurrency], url, body), range(n)))
        wall = time.perf_counter() - started
    return n / wall, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=40, help="requests per concurrency level")
    ap.add_argument("--overhead-requests", type=int, default=120,
                    help="alternating bare/HTTP pairs per mode for the overhead medians")
    ap.add_argument("--rss-requests", type=int, default=1000, help="requests for the memory check")
    ap.add_argument("--threads", type=int, default=4, help="server worker threads")
    args = ap.parse_args()
    keep_frame_memory()  # the same memory settings as the server, for a like-for-like bare figure
    data = frame_1280x720()

    recognizer = Recognizer.from_config(ModelsConfig())

    with tempfile.TemporaryDirectory() as state:
        cfg = Path(state) / "bench.yaml"
        cfg.write_text(f"state_dir: {state}\nlog_level: WARNING\napi: {{threads: {args.threads}}}\n")
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "serve", "--port", str(port), "--config",
                                 str(cfg)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert proc.stdout is not None
            print(proc.stdout.readline().strip(), "| 1280x720 JPEG,", len(data), "bytes")
            url = f"http://127.0.0.1:{port}/v1/plate-reader/"
            print(f"{'mode':8} {'conc':>4} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}")
            p50_c1: dict[str, float] = {}
            for mode in ("default", "fast"):
                for conc in (1, 2, 4):
                    rate, lat = run_level(url, encode(data, mode), conc, args.requests)
                    if conc == 1:
                        p50_c1[mode] = statistics.median(lat)
                    print(f"{mode:8} {conc:>4} {rate:7.2f} {pct(lat, 0.5) * 1000:8.1f} {pct(lat, 0.99) * 1000:8.1f}")
            print(f"fast vs default (p50, concurrency 1): {p50_c1['fast'] / p50_c1['default']:.2f}x the time")
            # Overhead: bare pipeline and HTTP request alternate, so both see the same machine load.
            # The HTTP side is timed with a lean keep-alive http.client connection, so the figure
            # is the server's (socket, HTTP parsing, multipart, JSON, counters) and not the
            # client library's; the requests.Session figure is printed beside it for reference.
            host, _, port_text = url.split("/")[2].partition(":")
            conn = http.client.HTTPConnection(host, int(port_text), timeout=30)
            session = requests.Session()
            for mode in ("default", "fast"):
                options = RecognizeOptions(mode=mode)
                body = encode(data, mode)
                bare, http_lean, http_requests, inner = [], [], [], []
                for _ in range(args.overhead_requests):
                    started = time.perf_counter()
                    recognizer.recognize(imaging.decode(data, 40_000_000), options)
                    bare.append(time.perf_counter() - started)
                    elapsed, processing = post_lean(conn, body)
                    http_lean.append(elapsed)
                    inner.append(processing)
                    http_requests.append(post(session, url, body))
                b, h = statistics.median(bare), statistics.median(http_lean)
                i, r = statistics.median(inner), statistics.median(http_requests)
                print(f"server overhead {mode}: bare pipeline {b * 1000:.1f} ms, HTTP {h * 1000:.1f} ms -> "
                      f"{(h / b - 1) * 100:+.1f} % (target <= 10 %); HTTP minus server-side "
                      f"processing_time {(h - i) * 1000:.2f} ms; with a requests.Session client "
                      f"{r * 1000:.1f} ms ({(r / b - 1) * 100:+.1f} %)")
            conn.close()

            half = args.rss_requests // 2
            fast = encode(data, "fast")
            for _ in range(half):
                post(session, url, fast)
            at_half = rss_mb(proc.pid)
            for _ in range(args.rss_requests - half):
                post(session, url, fast)
            at_end = rss_mb(proc.pid)
            print(f"server RSS after {args.rss_requests} requests: {at_end:.1f} MB (target <= 150 MB); "
                  f"growth over the second {args.rss_requests - half}: {at_end - at_half:+.1f} MB")
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
