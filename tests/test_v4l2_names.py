"""A USB camera named by a path that does not move (``device_path``), and what a V4L2 camera
that does not open says.  No camera can be plugged in here: the by-id folder is a folder of
symlinks as udev names them (``usb-<maker>_<model>_<serial>-video-index<N>`` -> the ``videoN`` node),
and the device opened is a path real OpenCV (its V4L2 backend) fails on."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_alpr.errors import ConfigError
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.source_config import describe_source
from edge_alpr.stream.sources import open_source
from edge_alpr.stream.sources.v4l2_names import capture_names, open_hint

ROOT = Path(__file__).resolve().parent.parent
# root opens every file: without these capabilities it meets file modes like any other user
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
          "--inh-caps=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
LOGITECH = "usb-046d_HD_Pro_Webcam_C920_8F1E3A2F-video-index0"


def _by_id(tmp_path: Path) -> Path:
    """A /dev/v4l/by-id as udev makes it for one UVC camera: its capture node and its metadata node."""
    dev = tmp_path / "dev"
    by_id = dev / "v4l" / "by-id"
    by_id.mkdir(parents=True)
    for n in (2, 3):
        (dev / f"video{n}").write_bytes(b"")
    (by_id / LOGITECH).symlink_to(dev / "video2")  # udev's links are relative; the kernel resolves both alike
    (by_id / LOGITECH.replace("index0", "index1")).symlink_to(dev / "video3")
    return by_id


def test_device_path_is_a_choice_of_its_own() -> None:
    stable = f"/dev/v4l/by-id/{LOGITECH}"
    cam = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {"kind": "opencv", "device_path": stable}}]},
                                 "c.yaml").cameras[0]
    assert describe_source(cam.source) == stable
    for two in ({"device": 0, "device_path": stable}, {"device_path": stable, "url": "rtsp://cam/1"}):
        with pytest.raises(ConfigError, match=r"give exactly one of device .*device_path") as e:
            StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {"kind": "opencv", **two}}]}, "c.yaml")
        assert "got ['device', 'device_path']" in str(e.value) or "got ['device_path', 'url']" in str(e.value)


def test_the_hint_names_the_capture_nodes_that_are_there(tmp_path: Path) -> None:
    by_id = _by_id(tmp_path)
    stable = str(by_id / LOGITECH)
    assert capture_names(by_id) == [stable]  # index1 is the metadata node: not offered
    assert capture_names(tmp_path / "none") == []

    gone = open_hint(str(tmp_path / "dev" / "video0"), True, "edge-alpr", by_id)
    assert gone == f"no such device {tmp_path / 'dev' / 'video0'} (unplugged?); USB cameras here by a name " \
                   f"that does not change: {stable}"
    (tmp_path / "dev" / "video2").unlink()  # unplugged: udev's link is left pointing at nothing for a moment
    assert open_hint(stable, False, "edge-alpr", by_id).startswith(f"{stable} points at a device that is gone")
    (tmp_path / "dev" / "video2").write_bytes(b"")  # plugged in again
    numbered = open_hint(str(tmp_path / "dev" / "video3"), True, "edge-alpr", by_id)
    assert numbered == (f"{tmp_path / 'dev' / 'video3'} is there but gave no video (busy in another program, or "
                        "a metadata node: a USB camera's capture node is usually the lower number); a USB "
                        "camera's number can change after a replug or reboot: name it by device_path instead; "
                        f"USB cameras here by a name that does not change: {stable}"), numbered


def test_a_device_this_user_may_not_open_names_the_group(tmp_path: Path) -> None:
    """Checked by a process without root's override of file modes (as the service user meets them)."""
    node = tmp_path / "video0"
    node.write_bytes(b"")
    node.chmod(0o000)
    code = f"from edge_alpr.stream.sources.v4l2_names import open_hint; print(open_hint({str(node)!r}, True, 'pi'))"
    out = subprocess.run([*NO_DAC, sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == f"user pi may not open {node}: add it to the group that owns it (usually video: sudo " \
                          "usermod -aG video pi, then log in again)", out


def test_a_device_path_that_does_not_open_says_why_in_health(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Real OpenCV, V4L2 backend: a file that is no device opens as nothing; the camera retries,
    and its warning and ``last_error`` say what the node is and what to do."""
    node = tmp_path / "video-not-a-device"
    node.write_bytes(b"not a video device")
    cam = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "device_path": str(node), "reconnect_min": 0.1, "reconnect_max": 0.2}}]}, "c.yaml").cameras[0]
    caplog.set_level(logging.WARNING, logger="edge_alpr.stream.sources")
    src = open_source(cam)
    try:
        started = time.monotonic()
        assert all(src.read(0.1) is None for _ in range(3))
        assert time.monotonic() - started < 5
        error = src.last_error
        assert error.startswith(f"cannot open camera: {node} is there but gave no video (busy in another "
                                "program, or not a capture node)"), error
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(said) == 1 and f"device {node}" in said[0] and "gave no video" in said[0], said
    finally:
        src.close()
