#!/usr/bin/env python3
"""``edge-alpr serve`` started on a full disk under ``state_dir``, under a stand-in for systemd:
when each start is made and ends, how many fall in any 2-minute window (the unit's start limit:
10 in 120 s), and how long after room comes back the API answers.

A fresh 2 MiB tmpfs (needs root) is filled by another writer; the loop below starts ``serve`` as
the unit would (``$NOTIFY_SOCKET`` a datagram socket read here, as systemd reads its own), waits
``--restart-s`` after each exit other than 78 (``RestartSec=``), and deletes the filler
``--free-at`` seconds after the first start.  With ``--blips`` the disk is not full all the
time until then: a ring-buffer writer gives ``BLIP_BYTES`` back for ``BLIP_S`` every
``BLIP_EVERY_S`` (it deletes its oldest segment, then writes a new one), as a recorder on the
same file system does; a moment of room must not restart the service faster.

Usage:  sudo python -m scripts.bench.bench_full_start [--free-at 130] [--restart-s 5] [--blips]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from edge_alpr.api.server import free_port
from scripts import REPO as ROOT

WINDOW_S = 120.0  # the unit's StartLimitIntervalSec
BLIP_BYTES, BLIP_S, BLIP_EVERY_S = 1_228_800, 0.3, 2.5  # --blips: the other writer's segment


def _fill(path: Path) -> None:
    """Another writer takes every byte left on ``path``'s file system."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def _blips(mount: Path, until: float) -> None:
    """``--blips``: a writer that keeps the disk full but for ``BLIP_S`` every ``BLIP_EVERY_S``."""
    seg = mount / "seg"
    while time.monotonic() < until:
        time.sleep(BLIP_EVERY_S - BLIP_S)
        os.truncate(seg, 0)
        time.sleep(BLIP_S)
        try:
            seg.write_bytes(b"s" * BLIP_BYTES)
        except OSError:  # the start took some of the room: the writer gives it back from its filler
            filler = mount / "filler"
            os.truncate(filler, max(0, os.path.getsize(filler) - BLIP_BYTES))
            seg.write_bytes(b"s" * BLIP_BYTES)
        _fill(mount / "filler")


def run(free_at: float, restart_s: float, top: Path, blips: bool = False) -> None:
    """The loop (see the module docstring), printed as it goes."""
    mount = top / "fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        state = mount / "state"
        state.mkdir()
        if blips:
            (mount / "seg").write_bytes(b"s" * BLIP_BYTES)
        _fill(mount / "filler")
        config = top / "c.yaml"
        config.write_text(f"state_dir: {state}\n")
        sock.bind(str(top / "notify"))
        said: list[str] = []

        def drain() -> None:  # as systemd reads its socket: a full queue would block the sender
            while True:
                said.append(sock.recv(4096).decode())

        threading.Thread(target=drain, daemon=True).start()
        start = time.monotonic()
        freed: list[float] = []

        def free() -> None:
            time.sleep(free_at)
            (mount / "filler").unlink()
            freed.append(time.monotonic() - start)
            print(f"{freed[0]:7.1f} s  filler deleted", flush=True)

        threading.Thread(target=free, daemon=True).start()
        if blips:
            threading.Thread(target=_blips, args=(mount, start + free_at - 2 * BLIP_EVERY_S), daemon=True).start()
        starts: list[float] = []
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        env["NOTIFY_SOCKET"] = str(top / "notify")
        while True:
            starts.append(time.monotonic() - start)
            proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "serve", "--config", str(config), "--port",
                                     str(free_port())], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)
            assert proc.stdout is not None
            if proc.stdout.readline().startswith("listening on"):
                up = time.monotonic() - start
                print(f"{up:7.1f} s  serving (start {len(starts)}), {up - freed[0]:.1f} s after the filler went",
                      flush=True)
                proc.terminate()
                proc.wait()
                break
            proc.wait()
            print(f"{time.monotonic() - start:7.1f} s  exit {proc.returncode}", flush=True)
            if proc.returncode == 78:
                break
            time.sleep(restart_s)
        most = max(sum(1 for t in starts if s <= t < s + WINDOW_S) for s in starts)
        print(f"starts at {[round(s, 1) for s in starts]} s; at most {most} in any {WINDOW_S:.0f} s")
        print(f"{len(said)} notifications; the first: {said[0].replace(chr(10), ' | ') if said else None}")
    finally:
        sock.close()
        subprocess.run(["umount", "-l", str(mount)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--free-at", type=float, default=130.0, help="seconds until the disk has room")
    parser.add_argument("--restart-s", type=float, default=5.0, help="the unit's RestartSec=")
    parser.add_argument("--blips", action="store_true", help="room for a moment every few seconds until then")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-full-start-") as top:
        run(args.free_at, args.restart_s, Path(top), args.blips)


if __name__ == "__main__":
    main()
