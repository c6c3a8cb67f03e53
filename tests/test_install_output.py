"""`make install` is quiet: one line per step (scripts/package/step.sh), the log's tail and path on failure."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.test_deb import _host_suite, host_tools

ROOT = Path(__file__).resolve().parents[1]
STEP = ROOT / "scripts" / "package" / "step.sh"
APT_DEPS = ROOT / "scripts" / "package" / "apt_deps.sh"
# what only the tests ask for: the broker, curl, a network namespace, chattr, the package's boot test
TEST_ONLY = {"mosquitto", "curl", "iproute2", "e2fsprogs", "lintian", "debootstrap", "systemd-container"}


def step(tmp_path: Path, *command: str, verbose: bool = False) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "INSTALL_LOG": str(tmp_path / "logs" / "install.log"),
           "VERBOSE": "1" if verbose else "0"}
    return subprocess.run(["bash", str(STEP), "print things", *command], capture_output=True, text=True,
                          env=env, timeout=60)


def test_a_step_that_works_prints_one_line_and_logs_its_output(tmp_path: Path) -> None:
    out = step(tmp_path, "sh", "-c", "for i in $(seq 200); do echo noisy line $i; done")
    assert out.returncode == 0, out
    assert re.fullmatch(r"print things \.\.\. ok \(\d+ s\)\n", out.stdout), out.stdout
    log = (tmp_path / "logs" / "install.log").read_text()
    assert "noisy line 1\n" in log and "noisy line 200\n" in log and "print things" in log


def test_a_failing_step_shows_the_log_tail_and_path_and_its_status(tmp_path: Path) -> None:
    out = step(tmp_path, "sh", "-c", "for i in $(seq 100); do echo line $i; done; echo 'the real error' >&2; exit 3")
    assert out.returncode == 3
    lines = out.stdout.splitlines()
    assert lines[0] == "print things ... FAILED (exit 3)"
    assert "the real error" in out.stdout and "line 100" in out.stdout
    assert "line 50\n" not in out.stdout, "only the tail is printed"
    assert lines[-1].startswith(f"---- full log: {tmp_path / 'logs' / 'install.log'} ")


def test_verbose_shows_the_output_as_it_runs(tmp_path: Path) -> None:
    out = step(tmp_path, "sh", "-c", "echo shown", verbose=True)
    assert out.returncode == 0 and "shown\n" in out.stdout
    assert "shown" in (tmp_path / "logs" / "install.log").read_text()


def test_install_uses_quiet_apt_and_no_recommends() -> None:
    apt = (ROOT / "scripts" / "package" / "apt_deps.sh").read_text()
    assert re.search(r"apt-get install -y -qq --no-install-recommends", apt)
    assert "python3-pip" not in re.sub(r"#.*", "", apt), "python3-pip's Recommends pull a compiler"
    make = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^\$\(VENV\)/\.installed:[^\n]*\n((?:\t[^\n]*\n)+)", make, re.M)
    assert recipe, "no $(VENV)/.installed recipe"
    assert all(line.startswith("\t@") or line.startswith("\t  ") for line in recipe.group(1).splitlines()), \
        "install echoes no command lines, only the steps' progress lines"
    assert recipe.group(1).count("scripts/package/step.sh") == 2 and "pip install -q" in recipe.group(1)


def test_make_test_asks_for_every_tool_the_tests_run() -> None:
    """A minimal Debian trixie has no chattr (e2fsprogs is no longer required there): the history
    tests that make a folder immutable failed on it with FileNotFoundError."""
    assert "apt_deps.sh test" in make_recipe("test")
    assert {"python3-venv", "mosquitto", "curl", "iproute2", "e2fsprogs"} <= apt_list("test")


def test_every_package_a_skipped_test_names_is_one_make_test_installs() -> None:
    """A test that skips saying ``apt-get install X`` is one ``make test`` leaves unrun on a fresh
    machine unless apt_deps.sh test installs X: the MPEG-TS camera tests (gst-launch-1.0,
    mpegtsmux) were skipped so on a fresh Debian trixie while this machine ran them."""
    # named, but left to other targets on purpose: the browser tier is optional (make
    # test-browser; Chromium is large), dpkg-dev is the package build's (apt_deps.sh build)
    elsewhere = {"chromium", "dpkg-dev"}
    named: dict[str, set[str]] = {}
    for path in sorted((ROOT / "tests").glob("*.py")):
        text = re.sub(r'"\s*\n\s*f?"', "", path.read_text())  # one string split over lines
        for match in re.finditer(r"apt-get install ((?:[a-z0-9][a-z0-9.+-]*[ \t]?)+)", text):
            for package in match.group(1).split():
                named.setdefault(package, set()).add(path.name)
    assert {"mosquitto", "gstreamer1.0-plugins-ugly"} <= set(named), named  # the scan finds them
    missing = {p: sorted(named[p]) for p in set(named) - apt_list("test") - elsewhere}
    assert not missing, f"tests skip without these, make test does not install them: {missing}"


def make_recipe(target: str) -> str:
    make = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", make, re.M)
    assert match, f"Makefile has no target {target} with a recipe"
    return match.group(1)


def apt_list(target: str, **env: str) -> set[str]:
    """The packages apt_deps.sh names for ``target`` (``--list``: whether installed or not)."""
    out = subprocess.run(["bash", str(APT_DEPS), "--list", target], capture_output=True, text=True,
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **env}, timeout=60)
    assert out.returncode == 0, out
    return set(out.stdout.split())


def build_depends() -> set[str]:
    """debian/control's Build-Depends as the packages apt installs, plus dpkg-buildpackage's own."""
    control = (ROOT / "debian" / "control").read_text()
    field = re.search(r"^Build-Depends:((?:.*\n)(?:[ \t#].*\n)*)", control, re.M)
    assert field, "debian/control has no Build-Depends"
    names = {re.split(r"[\s(]", dep.strip())[0] for dep in re.sub(r"#.*", "", field.group(1)).split(",")}
    names.discard("")
    # debhelper provides debhelper-compat and the dh-sequence-* names; python3 is there already
    # (it runs the Makefile and dpkg's tools)
    packages = {"debhelper" if n == "debhelper-compat" or n.startswith("dh-sequence-") else n for n in names}
    return (packages - {"python3"}) | {"dpkg-dev", "build-essential"}


def test_make_deb_asks_for_the_build_tools_only() -> None:
    assert "apt_deps.sh build" in make_recipe("deb")
    assert "apt_deps.sh deb" in make_recipe("test-deb")
    build = apt_list("build")
    assert build >= build_depends(), f"make deb must ask for debian/control's Build-Depends: {build}"
    assert not build & TEST_ONLY, f"make deb asks for what only make test-deb needs: {build & TEST_ONLY}"
    assert apt_list("deb") >= build | TEST_ONLY, "make test-deb builds the package and boots it"


def test_make_deb_for_another_release_or_architecture_asks_for_the_chroot_tools() -> None:
    other = apt_list("build", SUITE="no-such-release")
    assert "debootstrap" in other and not other & {"dpkg-dev", "debhelper", "mosquitto", "systemd-container"}
    host = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout
    foreign = apt_list("build", ARCH="armhf" if host.strip() == "arm64" else "arm64")
    assert {"debootstrap", "qemu-user-static", "binfmt-support"} <= foreign


def test_the_package_test_requires_only_what_make_test_deb_installs() -> None:
    """tests/test_deb.py skips (exit 0) where a tool it runs is missing, so each must come from
    apt_deps.sh deb for the same SUITE: `make test-deb SUITE=trixie` on bookworm required dh, which
    only a build for this machine's release needs and so is not installed, and skipped all 8 tests."""
    host = _host_suite()
    assert host, "no VERSION_CODENAME in /etc/os-release"
    assert {"dpkg-dev", "debhelper"} <= set(host_tools(host).values()), "this release's build runs here"
    for suite in (host, "trixie" if host != "trixie" else "bookworm"):
        required = set(host_tools(suite).values()) - {"util-linux"}  # Essential: on every Debian system
        missing = required - apt_list("deb", SUITE=suite)
        assert not missing, f"test_deb.py with SUITE={suite} skips without {missing}; make test-deb installs none"


def test_make_deb_on_a_bare_machine_names_only_the_build_tools(tmp_path: Path) -> None:
    """Not the list: what the script finds missing where nothing of the build is installed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "id", "sed", "tr", "grep", "dpkg"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")  # no package is installed
    (bin_dir / "dpkg-query").chmod(0o755)
    bash = shutil.which("bash") or "/bin/bash"
    out = subprocess.run([bash, str(APT_DEPS), "build"], capture_output=True, text=True, timeout=60,
                         env={"PATH": str(bin_dir), "INSTALL_LOG": str(tmp_path / "install.log")})
    assert out.returncode == 1, out
    named = re.search(r"missing Debian packages: ([^;]*);", out.stderr)
    assert named, out.stderr
    assert set(named.group(1).split()) == build_depends(), out.stderr
