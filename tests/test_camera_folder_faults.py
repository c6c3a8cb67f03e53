"""A folder camera fed with what an uploading camera or a person leaves in a folder: a FIFO
and a directory named like images, a text file, a PNG whose header declares 900 Mpx, a JPEG
that stays truncated, and a JPEG whose copy stalls and finishes later.  Real files, the real
folder source, camera loop and recognizer: every good image is read, each bad file is logged
once and counted in the camera's health, the copy that finished is read, and nothing hangs.
"""

from __future__ import annotations

import logging
import os
import resource
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.health import camera_health
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import SourceEnded, open_source, sample_dir

SAMPLE = (sorted(sample_dir().glob("*.jpg"))[0]).read_bytes()


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))



def _folder_loop(folder: Path, recognizer: Any) -> tuple[CameraLoop, threading.Event]:
    """A camera loop (not started) over ``folder``, every frame recognised, and its stop event."""
    stream = StreamConfig.from_dict({"cameras": [{"id": "upload", "motion": {"threshold": 0}, "source": {
        "kind": "folder", "path": str(folder), "poll_interval": 0.1}}]}, "t")
    cam = stream.cameras[0]
    stop = threading.Event()
    return CameraLoop(cam, stream.events, open_source(cam, stop), recognizer.recognize, lambda e: None, stop), stop

def test_a_folder_of_bad_files_is_read_around(tmp_path: Path, recognizer: Any,
                                             caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "a1.jpg")  # opening it would block until a writer comes: never
    (folder / "a2.jpg").mkdir()
    (folder / "a3.jpg").write_text("not an image")
    (folder / "a4.png").write_bytes(_png_header(30_000, 30_000))
    (folder / "a5.jpg").write_bytes(SAMPLE[:3000])
    stalled = open(folder / "a6.jpg", "wb")  # a copy that stalls half-way, finished below
    stalled.write(SAMPLE[: len(SAMPLE) // 2])
    stalled.flush()
    (folder / "a7.jpg").write_bytes(SAMPLE)
    loop, stop = _folder_loop(folder, recognizer)
    caplog.set_level(logging.INFO)
    loop.start()
    try:
        assert wait_for(lambda: loop.stats.frames_processed >= 1 and loop.source.errors >= 6, 20), \
            (camera_health(loop), caplog.text)
        # all read or skipped: waiting once a scan finds nothing new
        assert wait_for(lambda: camera_health(loop)["state"] == "waiting", 10), camera_health(loop)
        health = camera_health(loop)
        assert health["crashes"] == 0, health
        assert health["errors"] == 6 and health["last_error"].startswith("skipped "), health
        time.sleep(0.5)  # more scans: each bad file still logged once
        for name in ("a1.jpg", "a2.jpg", "a3.jpg", "a4.png", "a5.jpg", "a6.jpg"):
            lines = [r for r in caplog.records if f"skipping {folder / name}:" in r.getMessage()]
            assert len(lines) == 1, (name, caplog.text)
        assert "900000000 pixels" in caplog.text and "not a regular file" in caplog.text
        # a folder's files are files, not uploads: the fix is another file, not another request
        assert "the file is not a supported image; use JPEG" in caplog.text, caplog.text
        assert "the upload" not in caplog.text and "send" not in caplog.text, caplog.text

        stalled.write(SAMPLE[len(SAMPLE) // 2:])  # the copy finishes: the image is read
        stalled.close()
        assert wait_for(lambda: loop.stats.frames_processed >= 2, 10), (camera_health(loop), caplog.text)
        assert loop.source.errors == 6 and loop.capture.is_alive()
    finally:
        stalled.close()
        started = time.monotonic()
        stop.set()
        loop.join(5)
        loop.capture.join(5)
    assert not loop.is_alive() and not loop.capture.is_alive()
    assert time.monotonic() - started < 2


@contextmanager
def no_descriptor_left() -> Iterator[None]:
    """This process out of file descriptors (its soft RLIMIT_NOFILE lowered to the lowest free
    one), as when clients hold them all; given back on leaving."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.open(os.devnull, os.O_RDONLY)
    os.close(lowest_free)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("watch", [True, False])
def test_out_of_descriptors_a_folder_is_read_again_at_the_next_scan(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, watch: bool) -> None:
    """A file that cannot be opened for want of a descriptor is not a bad file: it is read once
    descriptors free up, where it used to be skipped until it changed (its frame lost)."""
    folder = tmp_path / "in"
    folder.mkdir()
    old = time.time() - 3600  # long written: not a copy in progress
    for n, name in enumerate(("a.jpg", "b.jpg")):
        (folder / name).write_bytes(SAMPLE)
        os.utime(folder / name, (old + n, old + n))
    stream = StreamConfig.from_dict({"cameras": [{"id": "upload", "source": {
        "kind": "folder", "path": str(folder), "poll_interval": 0.1, "interval": 0.3,
        "watch": watch}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    caplog.set_level(logging.INFO)
    try:
        first = source.read(10)
        assert first is not None and first.timestamp.timestamp() == pytest.approx(old)
        with no_descriptor_left():  # b.jpg is due now; no scan can list the folder either
            assert source.read(1.5) is None
        second = source.read(10)
        assert second is not None and second.timestamp.timestamp() == pytest.approx(old + 1)
        if not watch:
            with pytest.raises(SourceEnded):
                source.read(10)
    finally:
        source.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "Too many open files" in warnings[0], warnings  # once an episode
    assert str(folder / "b.jpg") in warnings[0] and "max_connections_per_client" in warnings[0]
    assert source.errors == 1 and "reading files again" in caplog.text


def test_a_folder_that_was_out_of_descriptors_still_ends_when_its_last_file_is_bad(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The starved state ends with any outcome of the file that hit it, not only a decoded frame:
    a file found bad afterwards, or a folder with nothing left, must let a one-pass folder end."""
    folder = tmp_path / "in"
    folder.mkdir()
    old = time.time() - 3600
    (folder / "a.jpg").write_bytes(SAMPLE)
    (folder / "b.jpg").write_text("not an image")
    for n, name in enumerate(("a.jpg", "b.jpg")):
        os.utime(folder / name, (old + n, old + n))
    stream = StreamConfig.from_dict({"cameras": [{"id": "upload", "source": {
        "kind": "folder", "path": str(folder), "poll_interval": 0.1, "interval": 0.3, "watch": False}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    caplog.set_level(logging.INFO)
    try:
        assert source.read(10) is not None
        with no_descriptor_left():
            assert source.read(1.5) is None
        with pytest.raises(SourceEnded):  # b.jpg read, found bad and skipped: nothing is left
            for _ in range(20):
                assert source.read(0.5) is None
    finally:
        source.close()
    assert "reading files again" in caplog.text and f"skipping {folder / 'b.jpg'}" in caplog.text


def test_a_folder_deleted_while_running_fails_the_camera_until_it_is_back(
        tmp_path: Path, recognizer: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A cleanup script's ``rm -rf`` of the camera's folder: the camera is reconnecting (one
    warning naming the folder), not crashed with a traceback at each restart of its capture
    thread; once the folder is made again its new files are read and the camera streams."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(SAMPLE)
    loop, stop = _folder_loop(folder, recognizer)
    caplog.set_level(logging.INFO)
    loop.start()
    try:
        assert wait_for(lambda: loop.stats.frames_processed >= 1, 20), (camera_health(loop), caplog.text)
        (folder / "a.jpg").unlink()
        folder.rmdir()
        assert wait_for(lambda: camera_health(loop)["state"] == "reconnecting", 5), camera_health(loop)
        time.sleep(1.0)  # ten scans of a missing folder
        health = camera_health(loop)
        assert health["crashes"] == 0 and str(folder) in health["last_error"], health
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "cannot list its image folder" in warnings[0].getMessage(), caplog.text
        assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
        folder.mkdir()
        # back, and empty: the camera waits for files
        assert wait_for(lambda: camera_health(loop)["state"] == "waiting", 5), camera_health(loop)
        (folder / "b.jpg").write_bytes(SAMPLE)
        assert wait_for(lambda: loop.stats.frames_processed >= 2, 20), (camera_health(loop), caplog.text)
        assert "is back after" in caplog.text and camera_health(loop)["crashes"] == 0
    finally:
        stop.set()
        loop.join(5)
        loop.capture.join(5)
    assert not loop.is_alive() and not loop.capture.is_alive()
