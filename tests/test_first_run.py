"""A first run explains itself: where the API is, what it reads, where events go; and a missing
broker is said once, by the connection, not at every retry nor by the delivery worker too.  The
real ``edge-alpr run`` process, no broker at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from edge_alpr.api.server import free_port
from edge_alpr.stream.source_config import FolderSourceConfig, OpenCvSourceConfig, describe_source

ROOT = Path(__file__).resolve().parents[1]


def test_startup_says_where_things_are_and_a_missing_broker_is_one_warning(tmp_path: Path) -> None:
    api_port, dead_broker = free_port(), free_port()  # nothing listens on dead_broker
    cfg = {"state_dir": str(tmp_path / "state"), "api": {"port": api_port},
           "mqtt": {"port": dead_broker, "device_id": "dev1", "retry_initial_s": 0.1, "retry_max_s": 0.2},
           "stream": {"cameras": [{"id": "yard", "source": {"kind": "folder", "path": ""}}],
                      "events": {"max_prediction_delay": 0.5}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "run", "--config", str(tmp_path / "c.yaml")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        time.sleep(12)  # the sample images give events; the outbox retries MQTT every 0.1-0.2 s
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err[-3000:]
    assert f"API: http://127.0.0.1:{api_port}/v1/plate-reader/" in err
    assert "cameras: yard (the bundled sample images)" in err
    assert f"events: MQTT localhost:{dead_broker} (edge-alpr/dev1/<camera>/plate), queued in " in err
    assert str(tmp_path / "state" / "outbox.sqlite") in err
    # one cause, one warning: the connection's, with the cause and the fix (the delivery worker's
    # "not connected" failures, many in 12 s, are at debug level)
    warnings = [line for line in err.splitlines() if " WARNING " in line or " ERROR " in line]
    assert len(warnings) == 1, warnings
    assert (f"WARNING edge_alpr.delivery.mqtt: mqtt: cannot connect to broker localhost:{dead_broker}: "
            "connection refused (nothing listens on that port); start the broker") in warnings[0], warnings
    assert "running: api port" not in out + err
    # each sample image is a passage of one frame: said in the singular
    assert "(score " in err and ", 1 frame), event " in err and " 1 frames" not in err, err[-3000:]
    assert f"INFO edge_alpr: config: {tmp_path / 'c.yaml'}\n" in err, "the config in use is named"


def test_camera_descriptions_carry_no_password() -> None:
    src = OpenCvSourceConfig(url="rtsp://admin:s3cret@192.168.1.20:554/stream1")
    assert describe_source(src) == "rtsp://192.168.1.20:554/stream1"
    assert describe_source(OpenCvSourceConfig(device=0)) == "/dev/video0"
    assert describe_source(FolderSourceConfig(path="/srv/in")) == "images in /srv/in"


@pytest.mark.parametrize(("url", "shown"), [
    ("rtsp://admin:p@ss@192.168.1.20:554/stream1", "rtsp://192.168.1.20:554/stream1"),  # '@' in it
    ("rtsp://admin:pa:ss@cam/live?channel=1&subtype=0", "rtsp://cam/live?channel=1&subtype=0"),
    ("http://cam/videostream.cgi?user=admin&pwd=s3cret&rate=0", "http://cam/videostream.cgi?user=admin&pwd=***&rate=0"),
    ("http://cam/mjpg?Password=s3cret", "http://cam/mjpg?Password=***"),
    ("rtsp://cam/h264?token=abc;auth_key=def#x", "rtsp://cam/h264?token=***;auth_key=***#x"),
])
def test_camera_descriptions_carry_no_secret(url: str, shown: str) -> None:
    assert describe_source(OpenCvSourceConfig(url=url)) == shown
