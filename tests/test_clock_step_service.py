"""``edge-alpr run`` on a device whose wall clock is stepped while it runs, as time sync does on
a Raspberry Pi that booted without network time (no real-time clock): events queued and stored
before the step lose nothing.  Real models, a real folder camera, real mosquitto, real SQLite;
only the wall clock's offset is injected (``tests/stepped_clock.py``: the host's clock cannot be
stepped by a test).

Before: stepped forward two days with ``outbox.max_age_s`` one hour, the outbox dropped every
event queued before the step as "older than 3600 s" (all 3 here, measured with libfaketime on
``edge-alpr run`` too), and the next event stored purged the history of every event stored before
it (``history.max_age_days`` one day), though all were seconds old.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import yaml
from mosquitto import Broker, Subscriber
from waiting import wait_for

from edge_alpr.api.server import free_port

pytest_plugins = ["mosquitto"]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "edge_alpr" / "samples").glob("*.jpg"))
DAY_S = 86400.0


def _rows(db: Path, sql: str) -> list[Any]:
    """``sql``'s rows from the service's database, read beside it (WAL); none before it is made."""
    if not db.exists():
        return []
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the file is there, its tables not yet
        return []


def test_a_forward_step_of_days_loses_no_queued_event_and_no_stored_one(tmp_path: Path) -> None:
    camera, state, offset = tmp_path / "camera", tmp_path / "state", tmp_path / "offset"
    camera.mkdir()
    for sample in SAMPLES[:3]:
        shutil.copy(sample, camera)
    offset.write_text("0")
    broker = Broker(tmp_path / "mosquitto")  # its port, not started: the events wait in the outbox
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(state), "api": {"port": free_port()},
        "mqtt": {"port": broker.port, "device_id": "dev1", "retry_max_s": 0.5},
        "outbox": {"max_age_s": 3600}, "history": {"max_age_days": 1},
        "stream": {"cameras": [{"id": "gate", "source": {"kind": "folder", "path": str(camera),
                                                          "poll_interval": 0.2}}]},
    }))
    log = open(tmp_path / "service.log", "wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "stepped_clock.py"), str(offset), "run",
                             "--config", str(config)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    outbox, history = state / "outbox.sqlite", state / "history" / "history.sqlite"
    subscriber = None
    try:
        def stored(n: int) -> bool:
            return (len(_rows(outbox, "SELECT id FROM outbox WHERE sink = 'mqtt'")) >= n
                    and len(_rows(history, "SELECT id FROM events")) >= n)

        assert wait_for(lambda: stored(3), 120), (tmp_path / "service.log").read_text()
        before = {r[0] for r in _rows(history, "SELECT id FROM events")}
        offset.write_text(str(2 * DAY_S))  # time sync: the clock was two days behind
        wait_for(lambda: False, 1.5)  # the delivery worker looks at its queue meanwhile
        shutil.copy(SAMPLES[3], camera)  # an event after the step: the bounds run before it is kept
        assert wait_for(lambda: stored(4), 60), (tmp_path / "service.log").read_text()
        kept = {r[0] for r in _rows(history, "SELECT id FROM events")}
        assert before <= kept, f"stored before the step and purged: {before - kept}"
        queued = {json.loads(r[0])["id"] for r in _rows(outbox, "SELECT payload FROM outbox WHERE sink = 'mqtt'")}
        assert len(queued) == 4, (tmp_path / "service.log").read_text()
        broker.start()
        subscriber = Subscriber(broker.port)
        got = subscriber.wait_for_ids("/plate", queued, 30)
        assert queued <= {m["id"] for m in got}
        assert (tmp_path / "service.log").read_text().count("dropped") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        log.close()
        if subscriber is not None:
            subscriber.close()
        broker.stop()
