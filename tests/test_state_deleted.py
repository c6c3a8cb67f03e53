"""The state folder deleted under a running ``edge-alpr run`` (a cleanup script's ``rm -rf``).

SQLite's open files stay usable after their names go, so the service went on queueing into
files nobody could see and lost them at the next start.  Now it says so once, copies the queue
and the counters back to their paths, and exits 1 for the unit to restart it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests

from edge_alpr.api.server import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_a_deleted_state_dir_keeps_its_queue_and_restarts(tmp_path: Path, sample_images: list[Path]) -> None:
    state = tmp_path / "state"
    dead_port = free_port()  # nothing listens: the webhook's events stay queued
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {state}\nlog_level: INFO\nstream: {{enabled: false}}\nmqtt: {{enabled: false}}\n"
                   f"webhooks: {{targets: ['http://127.0.0.1:{dead_port}/hook']}}\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "run", "--config", str(cfg), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=os.environ.copy())
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/info/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        r = requests.post(url + "/v1/plate-reader/", files={"upload": sample_images[0].read_bytes()}, timeout=30)
        assert r.status_code == 201, r.text
        shutil.rmtree(state)
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    said = proc.stderr.read()
    assert code == 1, (code, said)
    assert said.count("state files deleted, moved or replaced while running") == 1, said
    assert str(state / "outbox.sqlite") in said and "Traceback" not in said, said
    db = sqlite3.connect(state / "outbox.sqlite")
    try:
        (queued,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
    finally:
        db.close()
    assert queued == 1  # the read waiting for the webhook survived the deletion
    assert (state / "usage.sqlite").is_file()
