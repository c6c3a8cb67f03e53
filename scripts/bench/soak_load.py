"""The soak's API load (``bench_soak.py``): paced requests of the kinds a device's clients send.

Why so varied: a leak hides in a path that a uniform load never takes; the mix covers the
regions, modes, camera ids, thresholds, both body encodings, kept-alive and closed connections,
about 10 % bad requests and the GETs a dashboard polls.
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests

from scripts.bench.soak_fixtures import FIXTURES

REGIONS = ["ro", "gb", "us-ca", "de", "fr", "es", "br", "us", "it"]


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
        """This thread's session (kept-alive connections), new after a failed request."""
        session: requests.Session | None = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
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
        """Poisson arrivals at ``rate``/s, at most 6 in flight (the rest count as ``late``)."""
        with ThreadPoolExecutor(3) as pool:
            pending: list[Future[None]] = []
            due = time.monotonic()
            while not stop.is_set():
                pending = [f for f in pending if not f.done()]
                if len(pending) < 6:
                    pending.append(pool.submit(self.one, self.rng.random()))
                else:
                    self.late += 1
                due += self.rng.expovariate(self.rate)
                stop.wait(max(0.0, due - time.monotonic()))

    def answers(self) -> tuple[dict[str, int], int]:
        """The answers so far by status code (or exception name), and the requests not sent."""
        with self.lock:
            return dict(self.status), self.late
