"""The API fetching ``upload_url`` from a host name while the DNS server never answers.

Run as ``python -m tests.stalled_resolver`` inside a network and mount namespace whose
``/etc/resolv.conf`` names ``127.0.0.1`` (``run_isolated`` makes one with ``unshare``): a real
UDP server there reads every query and answers none, so the C library's ``getaddrinfo`` waits for
the resolver's own timeout.  The real server (``edge-alpr serve``'s ``build``) is started with
two worker threads; three fetches at once, then ``/info/``, must all be answered within the
fetch's ``timeout_s``, not the resolver's.  Prints one JSON object with what it saw.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 1.0
RESOLVER_TIMEOUT_S = 5  # what the C library waits for an answer; the fetch must not


def run_isolated(resolv_conf: Path) -> dict[str, Any] | None:
    """This module's scenario in its own network and mount namespaces; None where unprivileged
    user namespaces are not available (the caller says so)."""
    if subprocess.run(["unshare", "-rmn", "true"], capture_output=True).returncode != 0:
        return None
    resolv_conf.write_text(f"nameserver 127.0.0.1\noptions timeout:{RESOLVER_TIMEOUT_S} attempts:1\n")
    script = 'ip link set lo up && mount --bind "$0" /etc/resolv.conf && exec "$1" -m tests.stalled_resolver'
    done = subprocess.run(["unshare", "-rmn", "sh", "-c", script, str(resolv_conf), sys.executable],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, (done.returncode, done.stdout[-2000:], done.stderr[-4000:])
    return dict(json.loads(lines[-1]))


def _silent_dns(queries: list[bytes]) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 53))

    def swallow() -> None:
        while True:
            queries.append(server.recvfrom(512)[0])

    threading.Thread(target=swallow, daemon=True).start()


def main() -> None:
    from edge_alpr import config
    from edge_alpr.api.server import build

    queries: list[bytes] = []
    _silent_dns(queries)
    state = tempfile.mkdtemp()
    cfg = config.from_dict({"state_dir": state, "mqtt": {"enabled": False}, "stream": {"enabled": False},
                            "api": {"port": 0, "threads": 2,
                                    "upload_url": {"enabled": True, "timeout_s": TIMEOUT_S}}}, "<test>")
    os.environ.pop("EDGE_ALPR_API_TOKEN", None)
    runtime = build(cfg)
    url = f"http://127.0.0.1:{runtime.server.port}"
    answers: list[tuple[int, str, float]] = []

    def fetch(n: int) -> None:
        started = time.monotonic()
        response = requests.post(url + "/v1/plate-reader/", timeout=60,
                                 data={"upload_url": f"http://camera{n}.example/snap.jpg"})
        answers.append((response.status_code, response.json()["detail"], time.monotonic() - started))

    started = time.monotonic()
    threads = [threading.Thread(target=fetch, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    fetched_s = time.monotonic() - started
    info = requests.get(url + "/info/", timeout=60)
    result = {"answers": answers, "fetched_s": fetched_s, "info": info.status_code,
              "info_s": time.monotonic() - started - fetched_s, "queries": len(queries)}
    runtime.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
