"""A folder camera on a network share that goes away and comes back: its old files are not read
again (no repeated events, watch-list alarms or webhooks), a file replaced under its name is.

Before: the ledger of files read forgot every file a scan did not see.  A share that dropped
lists an empty folder (or its mount point, unmounted), so everything was forgotten and read
again once it was back: 3 files gave 3 repeated frames and events each time the folder was
emptied and filled again, replaced by an empty one, or empty at a restart, and an unmounted
tmpfs mount point did the same without a word.  Real files, the real folder source, camera loop
and recognizer; the mounts are real (``mounts.py``, root only, skipped elsewhere).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import mounts
import pytest
from waiting import wait_for

from edge_alpr.api.server import free_port
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_health
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source, sample_dir
from edge_alpr.stream.sources.ledger import LEDGER
from edge_alpr.stream.tracker import PlateEvent

T0 = 1_780_000_000.0  # a file time in 2026
SAMPLES = sorted(sample_dir().glob("*.jpg"))
POLL_S = 0.1


def _fill(folder: Path, count: int = 3) -> None:
    """The share's files, as the cameras uploaded them: each car its own picture and time."""
    for i in range(count):
        shutil.copyfile(SAMPLES[i], folder / f"car_{i}.jpg")
        os.utime(folder / f"car_{i}.jpg", (T0 + 600 * i, T0 + 600 * i))


class Camera:
    """A real camera loop over ``folder`` with the real recognizer, its events kept."""

    def __init__(self, folder: Path, state: Path, recognizer: Any, **source: object) -> None:
        stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "motion": {"threshold": 0}, "source": {
            "kind": "folder", "path": str(folder), "poll_interval": POLL_S, **source}}],
            "events": {"max_prediction_delay": 1.0}}, "t")
        cam = stream.cameras[0]
        self.stop = threading.Event()
        self.events: list[PlateEvent] = []
        self.loop = CameraLoop(cam, stream.events, open_source(cam, self.stop, state), recognizer.recognize,
                               self.events.append, self.stop)
        self.loop.start()

    @property
    def frames(self) -> int:
        return self.loop.stats.frames_processed

    def committed(self, index: int, timeout: float) -> bool:
        """Whether frame ``index``'s events are committed (the source told) within ``timeout``."""
        return wait_for(lambda: self.loop.source.finished >= index, timeout)

    def state(self) -> str:
        return str(camera_health(self.loop)["state"])

    def close(self) -> None:
        self.stop.set()
        self.loop.join(10)
        self.loop.capture.join(5)
        assert not self.loop.is_alive() and not self.loop.capture.is_alive()


def _no_rereads(camera: Camera, caplog: pytest.LogCaptureFixture, base: int) -> None:
    """The files are back: the camera says so and reads none of them (or, before, read them)."""
    assert wait_for(lambda: camera.frames > base or "read before" in caplog.text, 15), caplog.text
    time.sleep(5 * POLL_S)  # more scans: still nothing read
    assert camera.frames == base, f"{camera.frames - base} files read again"
    caplog.clear()


def test_a_share_emptied_or_replaced_by_an_empty_folder_is_not_read_again(
        tmp_path: Path, recognizer: Any, caplog: pytest.LogCaptureFixture) -> None:
    folder, state, away = tmp_path / "share", tmp_path / "state", tmp_path / "away"
    for p in (folder, state, away):
        p.mkdir()
    _fill(folder)
    caplog.set_level(logging.INFO, logger="edge_alpr.stream.sources")
    camera = Camera(folder, state, recognizer)
    try:
        assert wait_for(lambda: camera.frames >= 3, 60), caplog.text
        # the share empties (its server lists nothing for a while), then its files are back
        for p in folder.iterdir():
            p.rename(away / p.name)
        time.sleep(10 * POLL_S)
        for p in away.iterdir():
            p.rename(folder / p.name)
        _no_rereads(camera, caplog, 3)
        # another, empty folder in its place on the same file system (deleted and created again: no
        # share to mount, said as such; one unmounted from under it: test_camera_folder_mounted.py),
        # then the first one back
        folder.rename(tmp_path / "mounted")
        folder.mkdir()
        assert wait_for(lambda: "another, empty folder" in caplog.text or camera.frames > 3, 10), caplog.text
        time.sleep(5 * POLL_S)
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert said == [], said
        folder.rmdir()
        (tmp_path / "mounted").rename(folder)
        _no_rereads(camera, caplog, 3)
    finally:
        camera.close()
    # a restart while the share is down, then it is back: the files were on a share (the ledger's
    # file system as a run on a CIFS mount leaves it), the folder now on the one under it
    for p in folder.iterdir():
        p.rename(away / p.name)
    with closing(sqlite3.connect(state / LEDGER)) as db, db:
        db.execute("UPDATE folder SET mount = ?", (f"cifs //nas/share on {folder}",))
    camera = Camera(folder, state, recognizer)
    try:
        time.sleep(10 * POLL_S)
        assert camera.loop.source.failing_since is not None  # reconnecting, not waiting
        errors = camera.loop.source.errors  # the scans that found the share away
        for p in away.iterdir():
            p.rename(folder / p.name)
        _no_rereads(camera, caplog, 0)
        assert camera.loop.source.failing_since is None
        # a file really replaced: same name, another picture: read once more
        shutil.copyfile(SAMPLES[3], folder / "car_1.jpg")
        os.utime(folder / "car_1.jpg", (T0 + 3000, T0 + 3000))
        assert wait_for(lambda: camera.frames >= 1, 30), caplog.text
        time.sleep(5 * POLL_S)
        assert camera.frames == 1
    finally:
        camera.close()
    assert len(camera.events) == 1 and camera.loop.source.errors == errors, camera.events


def test_a_drop_box_emptied_behind_the_camera_keeps_its_ledger_bounded(
        tmp_path: Path, recognizer: Any) -> None:
    """A camera whose processed files are deleted: each upload is read once, even one under a
    name used before; the ledger keeps at most remember_max_files rows, and rows of files
    missing for forget_after_days are deleted."""
    folder, state = tmp_path / "ftp", tmp_path / "state"
    folder.mkdir()
    state.mkdir()

    def rows() -> int:
        with closing(sqlite3.connect(state / LEDGER)) as db:
            return int(db.execute("SELECT COUNT(*) FROM read_file").fetchone()[0])

    camera = Camera(folder, state, recognizer, remember_max_files=4)
    try:
        counts = []
        for i in range(10):  # every other upload under one name, each deleted once read
            name = "snapshot.jpg" if i % 2 else f"cam_{i:02d}.jpg"
            shutil.copyfile(SAMPLES[i % len(SAMPLES)], folder / name)
            os.utime(folder / name, (T0 + 60 * i, T0 + 60 * i))
            assert camera.committed(i, 30), (i, camera.frames)
            (folder / name).unlink()
            counts.append(rows())
        assert camera.frames == 10
        assert counts == [1, 2, 3, 3, 4, 4, 4, 4, 4, 4], counts  # snapshot.jpg: one row, replaced
    finally:
        camera.close()
    camera = Camera(folder, state, recognizer, forget_after_days=1.0 / 86400)  # one second
    try:
        # the folder empty where a file read was at the last scan: perhaps a share not mounted,
        # so nothing ages until a listing finds a file (a new upload)
        shutil.copyfile(SAMPLES[0], folder / "cam_99.jpg")
        os.utime(folder / "cam_99.jpg", (T0 + 6000, T0 + 6000))
        with closing(sqlite3.connect(state / LEDGER)) as db:
            assert wait_for(lambda: [r[0] for r in db.execute("SELECT name FROM read_file")] == ["cam_99.jpg"],
                            10), rows()  # the others missing for longer: forgotten
    finally:
        camera.close()


def test_an_unmounted_share_makes_the_camera_reconnect_and_its_files_are_not_read_again(
        tmp_path: Path, recognizer: Any, caplog: pytest.LogCaptureFixture) -> None:
    mounts.require(tmp_path)
    folder, state = tmp_path / "share", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    mounts.mount_tmpfs(folder)
    mounted = True
    caplog.set_level(logging.INFO, logger="edge_alpr.stream.sources")
    try:
        _fill(folder)
        camera = Camera(folder, state, recognizer)
        try:
            assert wait_for(lambda: camera.frames >= 3, 60), caplog.text
            mounts.unmount(folder)
            mounted = False
            assert wait_for(lambda: camera.state() == "reconnecting", 10), camera_health(camera.loop)
            time.sleep(10 * POLL_S)
            health = camera_health(camera.loop)
            assert health["crashes"] == 0 and health["last_error"] == \
                f"the share at {folder} looks unmounted: it was a mount point and is not now", health
            said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(said) == 1 and str(folder) in said[0] and "mount it again" in said[0], said
            mounts.mount_tmpfs(folder)  # the share is back, with the same files
            mounted = True
            _fill(folder)  # back, every file read before: waiting for new ones
            assert wait_for(lambda: camera.state() == "waiting", 10), camera_health(camera.loop)
            _no_rereads(camera, caplog, 3)
        finally:
            camera.close()
    finally:
        if mounted:
            mounts.unmount(folder)


def test_a_stale_share_makes_the_camera_reconnect_with_one_warning(
        tmp_path: Path, recognizer: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Listing fails with ENOTCONN (a dead FUSE connection, as a stale CIFS/NFS/sshfs mount):
    reconnecting, one warning naming the folder and the error, a listing a poll_interval (no
    tight loop), and nothing read again once it is back.  Stale when the camera starts: it
    starts reconnecting (it was an OSError out of ``open_source``, ending ``edge-alpr run``)."""
    mounts.require(tmp_path)
    folder, state = tmp_path / "share", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    _fill(folder)
    caplog.set_level(logging.INFO, logger="edge_alpr.stream.sources")
    camera = Camera(folder, state, recognizer)
    try:
        assert wait_for(lambda: camera.frames >= 3, 60), caplog.text
        with mounts.stale_share(folder):
            assert wait_for(lambda: camera.state() == "reconnecting", 10), camera_health(camera.loop)
            errors = camera.loop.source.errors
            time.sleep(1.0)
            health = camera_health(camera.loop)
            assert health["crashes"] == 0, health
            assert health["last_error"] == f"cannot reach the share at {folder} (ENOTCONN: Transport " \
                                           f"endpoint is not connected)", health
            assert camera.loop.source.errors - errors <= 1.0 / POLL_S + 2, health  # one a scan
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(said) == 1 and str(folder) in said[0] and "ENOTCONN" in said[0], said
        assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
        assert wait_for(lambda: camera.state() == "waiting", 10), camera_health(camera.loop)  # all read
        assert wait_for(lambda: "is back after" in caplog.text, 5), caplog.text
        time.sleep(5 * POLL_S)
        assert camera.frames == 3
    finally:
        camera.close()
    caplog.clear()
    with mounts.stale_share(folder):  # stale at boot: the camera starts, reconnecting
        camera = Camera(folder, state, recognizer)
        try:
            assert wait_for(lambda: camera.state() == "reconnecting", 10), camera_health(camera.loop)
        finally:
            camera.close()
    camera = Camera(folder, state, recognizer)  # back: its files were read before
    try:
        assert wait_for(lambda: "already read before this start" in caplog.text, 10), caplog.text
        time.sleep(5 * POLL_S)
        assert camera.frames == 0
    finally:
        camera.close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_alpr", *args], capture_output=True, text=True, timeout=120)


def test_check_config_and_run_say_when_a_camera_file_is_on_a_share_that_is_away(tmp_path: Path) -> None:
    """A stale share at boot (ENOTCONN): check-config said the config was fine with no word of it,
    and a video file there ended ``run`` with an OSError traceback.  Now check-config names the
    path and the error; ``run`` exits 1 (the unit starts it again until the share is back) with
    one line, before it binds the API or loads a model."""
    mounts.require(tmp_path)
    share = tmp_path / "share"
    share.mkdir()
    video, folder = share / "drive.mp4", share / "uploads"
    cfg = tmp_path / "c.yaml"
    cameras = {"road": f"{{kind: video, path: '{video}'}}", "gate": f"{{kind: folder, path: '{folder}'}}"}
    with mounts.stale_share(share):
        for cam, source in cameras.items():
            cfg.write_text(f"state_dir: {tmp_path / 'state'}\napi: {{port: {free_port()}}}\nmqtt: {{enabled: false}}\n"
                           f"stream:\n  cameras:\n    - {{id: {cam}, source: {source}}}\n")
            what, path = ("video file", video) if cam == "road" else ("image folder", folder)
            out = cli("check-config", "--config", str(cfg))
            assert out.returncode == 0, out.stderr
            assert f"warning: camera {cam}: {what} '{path}' cannot be reached now (ENOTCONN: Transport " \
                   "endpoint is not connected: its share or disk is away)" in out.stderr, out.stderr
            if cam == "road":
                out = cli("run", "--config", str(cfg))
                assert out.returncode == 1, out.stderr[-3000:]
                assert "Traceback" not in out.stderr and "XNNPACK" not in out.stderr, out.stderr[-3000:]
                errors = [line for line in out.stderr.splitlines() if "error" in line]
                assert len(errors) == 1 and "cannot be reached now (ENOTCONN" in errors[0] \
                    and "started again until it is back" in errors[0], out.stderr
