"""The Debian package test's machinery: the package built by ``make deb``, a minbase tree of the
release, booted with ``systemd-nspawn -b``, and commands run in it.  Shared by test_deb.py (the
package on a fresh system, in CI) and test_deb_upgrade.py (an upgrade from a real older build,
opt-in), so that both boot and drive the container the same way."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("EDGE_ALPR_CACHE", Path.home() / ".cache" / "edge-alpr"))


def host_suite() -> str:
    try:
        release = Path("/etc/os-release").read_text()
    except OSError:
        return ""
    match = re.search(r"^VERSION_CODENAME=\"?(\w*)", release, re.M)
    return match.group(1) if match else ""


SUITE = os.environ.get("EDGE_ALPR_DEB_SUITE") or host_suite()
ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip() \
    if shutil.which("dpkg") else ""
MIRROR = os.environ.get("EDGE_ALPR_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BOOT_PACKAGES = "systemd,systemd-sysv,dbus"  # minbase + what `systemd-nspawn -b` needs
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
API = "http://127.0.0.1:8080"  # the conffile's default, inside the container's own network


def require(ok: bool, reason: str) -> None:
    """Fail under CI (the packaging test must run there), skip with the reason elsewhere."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"test_deb cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def run(cmd: list[str], timeout: float = 600, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {"PATH": CLEAN_PATH, "LANG": "C.UTF-8", "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def host_tools(suite: str) -> dict[str, str]:
    """The host's tools this test runs for ``suite``, each with the Debian package that brings it.

    Only a build for this machine's release runs dpkg-buildpackage and dh here; another release's
    (``SUITE=trixie`` on bookworm) runs them in its debootstrap chroot (debian/build-deb.sh), so
    apt_deps.sh does not install debhelper for it, and requiring dh skipped the whole test there."""
    tools = {"debootstrap": "debootstrap", "systemd-nspawn": "systemd-container", "nsenter": "util-linux",
             "lintian": "lintian"}
    if suite == host_suite():
        tools |= {"dpkg-buildpackage": "dpkg-dev", "dh": "debhelper"}
    return tools


def build_deb(root: Path) -> Path:
    """``make deb SUITE=...`` in the checkout ``root`` (this one, or an older commit's clone for
    test_deb_upgrade.py): the .deb it wrote into ``root``/dist."""
    require(os.geteuid() == 0, "needs root (debootstrap, chroot, systemd-nspawn)")
    for tool, package in host_tools(SUITE).items():
        require(shutil.which(tool, path=CLEAN_PATH) is not None,
                f"{tool} is missing (Debian package {package}): `make test-deb SUITE={SUITE}` as root installs "
                f"it (scripts/package/apt_deps.sh deb)")
    require(any((root / "models" / "quantized").glob("*.tflite")), "no models in models/quantized (make models)")
    require(bool(SUITE), "no VERSION_CODENAME in /etc/os-release: set EDGE_ALPR_DEB_SUITE (e.g. bookworm)")
    started = time.monotonic()
    built = run(["make", "-C", str(root), "deb", f"SUITE={SUITE}"], timeout=1800)
    pruned = re.search(r"^debian/rules: venv .* pruned$", built.stdout, re.M)
    assert pruned, "make deb printed no venv sizes (debian/rules' pruning step did not run)"
    print(f"\n[deb] {pruned.group(0)}")
    # the release's own file name (debian/release-changelog.sh): edge-alpr_0.1.0+deb12_amd64.deb
    tag = run(["sh", str(root / "debian" / "release-changelog.sh"), "--tag", SUITE]).stdout.strip()
    debs = sorted((root / "dist").glob(f"edge-alpr_*+{tag}_{ARCH}.deb"), key=lambda p: p.stat().st_mtime)
    assert debs and debs[-1].stat().st_mtime >= time.time() - (time.monotonic() - started) - 5, \
        f"make deb SUITE={SUITE} wrote no new dist/edge-alpr_*+{tag}_{ARCH}.deb"
    assert f"source distribution {SUITE}" in built.stdout + built.stderr, "the build names another release"
    print(f"\n[deb] make deb SUITE={SUITE}: {time.monotonic() - started:.0f} s, {debs[-1].name} "
          f"{debs[-1].stat().st_size / 2**20:.1f} MiB")
    return debs[-1]


def minbase(tmp: Path) -> Path:
    """A fresh minbase tree of SUITE with systemd, from the cached tarball or debootstrap."""
    tarball = CACHE / f"{SUITE}-{ARCH}-minbase-systemd.tar"
    rootfs = tmp / "rootfs"
    rootfs.mkdir()
    if not tarball.is_file():
        started = time.monotonic()
        run(["debootstrap", "--variant=minbase", f"--include={BOOT_PACKAGES}", SUITE,
             str(rootfs), MIRROR], timeout=900)
        shutil.rmtree(rootfs / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        (rootfs / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        run(["tar", "-C", str(rootfs), "-cf", f"{tarball}.tmp", "."])
        os.replace(f"{tarball}.tmp", tarball)
        print(f"\n[deb] debootstrap {SUITE} minbase: {time.monotonic() - started:.0f} s")
    else:
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-xf", str(tarball)])
    return rootfs


def chroot(rootfs: Path, *cmd: str, timeout: float = 600) -> str:
    mounts = [("proc", "proc"), ("sysfs", "sys")]
    for fstype, where in mounts:
        run(["mount", "-t", fstype, fstype, str(rootfs / where)])
    try:
        shutil.copy("/etc/resolv.conf", rootfs / "etc" / "resolv.conf")
        return run(["chroot", str(rootfs), *cmd], timeout=timeout).stdout
    finally:
        for _, where in reversed(mounts):
            run(["umount", "-l", str(rootfs / where)], check=False)


@dataclass
class Container:
    rootfs: Path
    proc: subprocess.Popen[bytes]
    leader: int

    def sh(self, script: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``script`` inside the booted container (all its namespaces, its root)."""
        return run(["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p", "-r", "-w",
                    "/bin/sh", "-c", script], timeout=timeout, check=check)

    def net(self, *cmd: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a host command in the container's network namespace only (to reach its API)."""
        return run(["nsenter", "-t", str(self.leader), "-n", *cmd], timeout=timeout)

    def show(self, *props: str) -> dict[str, str]:
        out = self.sh(f"systemctl show edge-alpr.service {' '.join('-p ' + p for p in props)}").stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def container_init(nspawn: subprocess.Popen[bytes], log: Path) -> int:
    """The container's PID 1 (systemd) as the host sees it: a child of systemd-nspawn."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if nspawn.poll() is not None:
            raise AssertionError(f"systemd-nspawn exited {nspawn.returncode}:\n{log.read_text()[-3000:]}")
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            except OSError:
                continue
            if fields.get("PPid", "").strip() == str(nspawn.pid) and fields.get("Name", "").strip() == "systemd":
                return int(status.parent.name)
        time.sleep(0.2)
    raise AssertionError(f"no container init under systemd-nspawn:\n{log.read_text()[-3000:]}")


@contextmanager
def boot(rootfs: Path, log: Path) -> Iterator[Container]:
    """``rootfs`` booted with ``systemd-nspawn -b`` (private network) until systemd is up; powered
    off and deleted afterwards (~700 MB; the cached tarball stays)."""
    with log.open("wb") as out:
        nspawn = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", str(rootfs), "--register=no", "--keep-unit", "--private-network",
             f"--machine=edge-alpr-test-{os.getpid()}", "-b"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env={"PATH": CLEAN_PATH, "LANG": "C.UTF-8"})
    try:
        box = Container(rootfs, nspawn, container_init(nspawn, log))
        state = wait_for(box, "systemctl is-system-running", ("running", "degraded"), 120)
        assert state in ("running", "degraded"), f"container did not boot: {state}\n{log.read_text()[-3000:]}"
        yield box
    finally:
        if nspawn.poll() is None:
            nspawn.terminate()  # nspawn asks the container's systemd to power off
            try:
                nspawn.wait(60)
            except subprocess.TimeoutExpired:
                nspawn.kill()
                nspawn.wait(10)
        shutil.rmtree(rootfs, ignore_errors=True)  # ~700 MB; the cached tarball stays


def wait_for(box: Container, command: str, states: tuple[str, ...], timeout_s: float) -> str:
    """Poll ``command`` in the container until it prints one of ``states``; its last output."""
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        state = box.sh(command, check=False).stdout.strip()
        if state in states:
            break
        time.sleep(0.5)
    return state


def api_info(box: Container) -> dict[str, Any]:
    """GET /info/ from the host, inside the container's network."""
    client = ("import json, sys, requests\n"
              "r = requests.get(sys.argv[1] + '/info/', timeout=30)\n"
              "r.raise_for_status()\n"
              "print(json.dumps(r.json()))\n")
    return dict(json.loads(box.net(sys.executable, "-c", client, API).stdout))
