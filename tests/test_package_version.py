"""One version for the package: debian/changelog's, stamped into the .deb's installed package.

The booted-package test (tests/test_deb.py) checks that GET /info/ reports the installed Debian
version, before and after an upgrade; these checks run without building anything.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import edge_alpr

ROOT = Path(__file__).resolve().parent.parent


def _changelog_version() -> str:
    first = (ROOT / "debian" / "changelog").read_text().splitlines()[0]
    match = re.match(r"^edge-alpr \(([^)]+)\) ", first)
    assert match, f"debian/changelog's first line names no edge-alpr version: {first!r}"
    return match.group(1)


def test_changelog_upstream_version_is_the_source_version() -> None:
    version = _changelog_version()
    upstream = re.sub(r"^\d+:", "", version).rsplit("-", 1)[0]  # no epoch, no Debian revision
    assert upstream == edge_alpr.__version__, (
        f"debian/changelog's upstream version {upstream} ({version}) is not edge_alpr.__version__ "
        f"{edge_alpr.__version__}: make them equal (debian/rules refuses to build otherwise)")


def test_stamped_package_version_is_reported(tmp_path: Path) -> None:
    """A PACKAGE_VERSION file beside the package replaces the source version; without one it is kept."""
    pkg = tmp_path / "edge_alpr"
    pkg.mkdir()
    shutil.copy(ROOT / "edge_alpr" / "__init__.py", pkg / "__init__.py")
    probe = [sys.executable, "-c", "import edge_alpr; print(edge_alpr.__version__)"]
    plain = subprocess.run(probe, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert plain == edge_alpr.__version__
    (pkg / "PACKAGE_VERSION").write_text("0.1.0-7\n")
    stamped = subprocess.run(probe, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert stamped == "0.1.0-7"


def test_default_config_md5sum_is_listed() -> None:
    """ucf replaces an unedited /etc/edge-alpr/config.yaml only if its md5sum is listed as shipped."""
    digest = hashlib.md5((ROOT / "debian" / "config.yaml").read_bytes()).hexdigest()
    listed = [line.split()[0] for line in (ROOT / "debian" / "config.yaml.md5sum").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert all(re.fullmatch(r"[0-9a-f]{32}", s) for s in listed), listed
    assert digest in listed, (
        f"debian/config.yaml (md5sum {digest}) is not in debian/config.yaml.md5sum: add the line "
        f"'{digest}  {_changelog_version()}' so devices that never edited it follow it on upgrade")


def test_rules_ship_the_config_through_ucf() -> None:
    """No dpkg conffile prompt on upgrade: the config is installed by postinst's ucf, not shipped in /etc."""
    rules = (ROOT / "debian" / "rules").read_text()
    assert "debian/edge-alpr/etc/edge-alpr/config.yaml" not in rules
    postinst = (ROOT / "debian" / "edge-alpr.postinst").read_text()
    assert re.search(r"^\s*ucf --sum-file /usr/share/edge-alpr/config.yaml.md5sum", postinst, re.M), postinst
    assert "ucf" in (ROOT / "debian" / "control").read_text().split("Depends:")[-1]
    # and the file says so to whoever edits it: not "a dpkg conffile"
    header = " ".join(line.lstrip("# ") for line in (ROOT / "debian" / "config.yaml").read_text().splitlines()[:3])
    assert "managed by ucf (not a dpkg conffile)" in header, header


def _build_for(suite: str, tmp_path: Path, epoch: int) -> tuple[str, str]:
    """debian/release-changelog.sh on a copy of debian/changelog: the version it prints, and the
    copy as dpkg-parsechangelog reads it (Version and Distribution)."""
    tree = tmp_path / suite
    (tree / "debian").mkdir(parents=True)
    shutil.copy(ROOT / "debian" / "changelog", tree / "debian" / "changelog")
    out = subprocess.run(["sh", str(ROOT / "debian" / "release-changelog.sh"), str(tree), suite, str(epoch)],
                         capture_output=True, text=True, check=True).stdout.strip()
    parsed = subprocess.run(["dpkg-parsechangelog", "-l", str(tree / "debian" / "changelog")],
                            capture_output=True, text=True, check=True)
    assert "warning" not in parsed.stderr, parsed.stderr
    return out, parsed.stdout


def test_each_release_builds_its_own_version_and_file_name(tmp_path: Path) -> None:
    """make deb and make deb SUITE=trixie no longer write one dist/edge-alpr_<version>_amd64.deb:
    the build's changelog entry names the release (+deb12, +deb13), the newer one sorts higher,
    and the source's changelog is left as it is."""
    if shutil.which("dpkg-parsechangelog") is None:
        pytest.skip("dpkg-parsechangelog is missing (apt-get install dpkg-dev)")
    source = (ROOT / "debian" / "changelog").read_text()
    upstream = _changelog_version()
    versions = {}
    for suite, tag in (("bookworm", "deb12"), ("trixie", "deb13"), ("jammy", "jammy")):
        version, parsed = _build_for(suite, tmp_path, epoch=0)  # before the last entry: dated after it
        assert version == f"{upstream}+{tag}"
        assert re.search(rf"^Version: {re.escape(version)}$", parsed, re.M), parsed
        assert re.search(rf"^Distribution: {suite}$", parsed, re.M), parsed
        versions[suite] = version
    assert (ROOT / "debian" / "changelog").read_text() == source
    older = subprocess.run(["dpkg", "--compare-versions", versions["bookworm"], "lt", versions["trixie"]])
    newer = subprocess.run(["dpkg", "--compare-versions", upstream, "lt", versions["bookworm"]])
    assert older.returncode == 0 and newer.returncode == 0, versions
    rules = (ROOT / "debian" / "rules").read_text()  # the upstream check takes the suffix off
    assert "UPSTREAM := $(firstword $(subst +, ,$(DEB_VERSION_UPSTREAM)))" in rules


def test_a_build_from_a_commit_names_it_and_upgrades_the_one_before(tmp_path: Path) -> None:
    """Two builds of one release from different commits had one version, so installing the later
    .deb changed nothing ("already the newest version"): the commit count and hash now come before
    the release, and the later commit's build sorts higher, above the plain release too."""
    if shutil.which("dpkg-parsechangelog") is None:
        pytest.skip("dpkg-parsechangelog is missing (apt-get install dpkg-dev)")
    upstream = _changelog_version()
    versions = []
    for n, snapshot in enumerate(("git99.g0a1b2c3", "git100.g9f8e7d6")):
        tree = tmp_path / str(n)
        (tree / "debian").mkdir(parents=True)
        shutil.copy(ROOT / "debian" / "changelog", tree / "debian" / "changelog")
        out = subprocess.run(["sh", str(ROOT / "debian" / "release-changelog.sh"), str(tree), "trixie", "0", snapshot],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == f"{upstream}+{snapshot}+deb13"
        parsed = subprocess.run(["dpkg-parsechangelog", "-l", str(tree / "debian" / "changelog")],
                                capture_output=True, text=True, check=True)
        assert re.search(rf"^Version: {re.escape(out)}$", parsed.stdout, re.M), parsed.stdout
        versions.append(out)
    for lower, higher in ((f"{upstream}+deb13", versions[0]), (versions[0], versions[1])):
        assert subprocess.run(["dpkg", "--compare-versions", lower, "lt", higher]).returncode == 0, (lower, higher)
    bad = subprocess.run(["sh", str(ROOT / "debian" / "release-changelog.sh"), str(tmp_path / "0"), "trixie", "0",
                          "nightly"], capture_output=True, text=True)
    assert bad.returncode != 0 and "not git<count>.g<hash>" in bad.stderr
