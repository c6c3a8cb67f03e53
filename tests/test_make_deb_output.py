"""`make deb` is as quiet as `make install`: one line per step, dpkg-buildpackage's output in a log
under build/, its tail on failure, and the built .deb named last.

debian/build-deb.sh runs here in a small copy of the tree with a stand-in for dpkg-buildpackage
(``DPKG_BUILDPACKAGE``) that talks as much as the real one: seconds, no root, no PyPI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE = next((line.split("=", 1)[1].strip().strip('"') for line in Path("/etc/os-release").read_text().splitlines()
              if line.startswith("VERSION_CODENAME=")), "") if Path("/etc/os-release").exists() else ""

# the real build's lines that tests/test_deb.py reads, among some 200 others
FAKE_BUILD = """#!/bin/sh
for i in $(seq 200); do echo "dpkg-shlibdeps: warning: noisy line $i"; done
echo "dpkg-buildpackage: info: source distribution $(sed -n '1s/.*) \\([a-z]*\\);.*/\\1/p' debian/changelog)"
{outcome}
"""
SUCCEED = """echo "debian/rules: venv 202 MiB as installed, 113 MiB pruned"
version=$(sed -n '1s/^edge-alpr (\\([^)]*\\)).*/\\1/p' debian/changelog)
echo package > "$(dirname "$PWD")/edge-alpr_${version}_$(dpkg --print-architecture).deb"
"""
FAIL = """echo "dh_auto_install: the real error" >&2
exit 2
"""


def build(tmp_path: Path, outcome: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    if shutil.which("dpkg") is None or not SUITE:
        pytest.skip("needs dpkg and /etc/os-release's VERSION_CODENAME (a Debian machine)")
    tree = tmp_path / "tree"
    for part in ("debian", "scripts/package"):
        shutil.copytree(ROOT / part, tree / part)
    (tree / "models" / "quantized").mkdir(parents=True)
    (tree / "models" / "quantized" / "m.tflite").write_bytes(b"")
    fake = tmp_path / "dpkg-buildpackage"
    fake.write_text(FAKE_BUILD.format(outcome=outcome))
    fake.chmod(0o755)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "DPKG_BUILDPACKAGE": str(fake)}
    out = subprocess.run(["sh", str(tree / "debian" / "build-deb.sh")], capture_output=True, text=True,
                         env=env, timeout=120)
    return out, tree


def test_a_build_prints_one_line_a_step_and_names_its_log_then_the_deb(tmp_path: Path) -> None:
    out, tree = build(tmp_path, SUCCEED)
    assert out.returncode == 0, out
    lines = out.stdout.splitlines()
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()
    log = tree / "build" / "deb" / f"{SUITE}-{arch}" / "build.log"
    assert len(lines) == 6, out.stdout
    assert re.fullmatch(rf"make deb: version \S+ for {SUITE}", lines[0]), lines
    assert re.fullmatch(r"make deb: dpkg-buildpackage for .* \.\.\. ok \(\d+ s\)", lines[1]), lines
    # what tests/test_deb.py reads: the release the build named, the venv's sizes
    assert f"source distribution {SUITE}" in out.stdout
    assert re.search(r"^debian/rules: venv .* pruned$", out.stdout, re.M), out.stdout
    assert lines[4] == f"make deb: full log: {log}", lines
    assert re.fullmatch(rf"make deb: {tree}/dist/edge-alpr_\S+_\w+\.deb \(\S+\)", lines[5]), lines
    assert "noisy line" not in out.stdout + out.stderr
    assert "noisy line 1\n" in log.read_text() and "noisy line 200\n" in log.read_text()


def test_a_failed_build_shows_the_log_tail_and_path_and_fails(tmp_path: Path) -> None:
    out, tree = build(tmp_path, FAIL)
    assert out.returncode == 2, out
    assert re.search(r"^make deb: dpkg-buildpackage for .* \.\.\. FAILED \(exit 2\)$", out.stdout, re.M), out.stdout
    assert "the real error" in out.stdout and "noisy line 200" in out.stdout
    assert "noisy line 100\n" not in out.stdout, "only the tail is printed"
    assert re.search(rf"^---- full log: {tree}/build/deb/{SUITE}-\w+/build\.log ", out.stdout, re.M), out.stdout
    assert not (tree / "dist").exists() or not list((tree / "dist").iterdir())
