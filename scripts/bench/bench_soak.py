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
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from edge_alpr.api.server import free_port
from scripts.bench.soak_fixtures import FIXTURES, Receiver, Service, feed_folder, make_video, outages, write_config
from scripts.bench.soak_load import Load
from scripts.bench.soak_sample import report, sample, write_csv
from scripts.mosquitto import Broker


def parse_args() -> argparse.Namespace:
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
    return ap.parse_args()


def drive(args: argparse.Namespace, service: Service, state: Path, load: Load,
          outage_counts: dict[str, int]) -> list[dict[str, float]]:
    """Sample the service every ``--sample-s`` s for ``--minutes`` (or until it exits), with a
    progress line; the samples, ``t`` in seconds from the first."""
    samples: list[dict[str, float]] = []
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    while True:
        now = time.monotonic()
        try:
            row = sample(service.proc.pid, state, service.log_path)
        except OSError:  # a folder the service removed while walked: look again
            row = sample(service.proc.pid, state, service.log_path)
        row["t"] = now - t0
        samples.append(row)
        done = sum(load.answers()[0].values())
        wal = sum(v for k, v in row.items() if k.endswith("-wal"))
        print(f"\r{row['t'] / 60:5.1f}/{args.minutes:g} min  requests {done}  RSS {row['rss_mb']:.0f} MB  "
              f"fds {row['fds']:.0f}  threads {row['threads']:.0f}  WAL {wal:.0f} KB  "
              f"log {row['log_kb']:.0f} KB  outages {outage_counts['mqtt']}+{outage_counts['webhook']}",
              end="", flush=True)
        if now >= end or service.proc.poll() is not None:
            break
        time.sleep(max(0.0, min(args.sample_s, end - now)))
    print()
    return samples


def main() -> int:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="edge-alpr-soak-"))
    state, folder = work / "state", work / "folder"
    folder.mkdir()
    video = work / "scenes.avi"
    make_video(video, FIXTURES[:24])
    # no persistence (a restart loses the retained messages), a queue deep enough for an outage
    broker = Broker(work / "mosquitto", persistent=False, max_queued_messages=100000)
    receiver = Receiver()
    broker.start()
    receiver.start()
    api_port = free_port()
    cfg = write_config(state, api_port, broker, receiver, video, folder, args.history_mb)
    service = Service(cfg, work / "service.log")
    stop = threading.Event()
    threads: list[threading.Thread] = []
    base = f"http://127.0.0.1:{api_port}"
    outage_counts = {"mqtt": 0, "webhook": 0}
    try:
        service.wait_ready(base)
        print(f"edge-alpr run pid {service.proc.pid}: API {base}, mosquitto :{broker.port}, "
              f"webhooks :{receiver.port}, {len(FIXTURES)} fixture images, {args.rate}/s for {args.minutes} min; "
              f"work dir {work}")
        load = Load(base, args.rate)
        for target, targs in ((load.run, (stop,)), (feed_folder, (folder, args.folder_interval, 20, stop)),
                              (outages, (broker, receiver, args.outage_every, args.outage_s, stop,
                                         outage_counts))):
            threads.append(threading.Thread(target=target, args=targs, daemon=True))
            threads[-1].start()
        samples = drive(args, service, state, load, outage_counts)
        if service.proc.poll() is not None:
            print(f"edge-alpr run exited {service.proc.returncode} during the run")
        stop.set()
        for t in threads:
            t.join(60)
        answers, late = load.answers()
        print("API answers:", dict(sorted(answers.items())), f"(late, not sent: {late})")
        with receiver.lock:
            print("webhook posts:", receiver.posts, f"distinct event ids {len(receiver.ids)}")
        if args.csv:
            write_csv(args.csv, samples)
        report(samples, args.warmup)
    finally:
        stop.set()
        service.stop()
        broker.stop()
        receiver.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
