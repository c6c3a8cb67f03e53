"""`make install` is quiet: one line per step (scripts/package/step.sh), the log's tail and path on failure."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
from pathlib import Path

from tests.deb_container import host_suite, host_tools

ROOT = Path(__file__).resolve().parents[1]
STEP = ROOT / "scripts" / "package" / "step.sh"
APT_DEPS = ROOT / "scripts" / "package" / "apt_deps.sh"
# what only the tests ask for: the broker, curl, a network namespace, chattr, the package's boot test
TEST_ONLY = {"mosquitto", "curl", "iproute2", "e2fsprogs", "lintian", "debootstrap", "systemd-container"}


def step(tmp_path: Path, *command: str, verbose: bool = False,
         **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "INSTALL_LOG": str(tmp_path / "logs" / "install.log"),
           "VERBOSE": "1" if verbose else "0", **extra}
    # a new session: no controlling terminal, so the line is 80 columns whoever runs the tests
    return subprocess.run(["bash", str(STEP), "print things", *command], capture_output=True, text=True,
                          env=env, timeout=60, start_new_session=True)


def on_screen(written: str) -> str:
    """What a terminal shows of ``written``: a backspace takes back a character, ESC [ K (erase
    to the end of the line) changes nothing that the backspaces left; a backspace into nothing
    fails (it would eat the label)."""
    screen: list[str] = []
    for char in written.replace("\x1b[K", ""):
        if char == "\b":
            assert screen, f"backspaced past the start: {written!r}"
            screen.pop()
        else:
            screen.append(char)
    return "".join(screen)


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


def test_a_long_step_on_a_terminal_shows_it_is_alive(tmp_path: Path) -> None:
    """A pip install took minutes on a slow link behind one unchanging "... " line, and apt-get
    installing make test's tools 46 s on a fresh trixie: on a terminal (here forced with
    STEP_PROGRESS=1: the output is a pipe) the line ends in the seconds so far and the log's last
    line, each rewritten in place, then "ok"."""
    out = step(tmp_path, "sh", "-c", "echo '  Downloading big-1.0.whl (50 MB)'; sleep 4",  # indented as pip's
               STEP_PROGRESS="1", STEP_PROGRESS_S="1")
    assert out.returncode == 0, out
    assert out.stdout.startswith("print things ... ") and out.stdout.endswith("\n"), out.stdout
    assert re.search(r"\d+ s: Downloading big-1\.0\.whl \(50 MB\)", out.stdout), repr(out.stdout)
    assert re.fullmatch(r"ok \(\d+ s\)\n", on_screen(out.stdout.removeprefix("print things ... "))), \
        repr(out.stdout)


def test_the_progress_shows_the_log_line_as_a_terminal_showed_it_and_ascii_only(tmp_path: Path) -> None:
    """pip redraws its bar with \r and draws it in UTF-8 (one character, 3 bytes, one column): the
    shown text is what follows the last \r, printable ASCII only, so its length is its width."""
    command = r"printf '  Downloading a.whl 10%%\r  Downloading a.whl\t\342\224\201\342\224\201 90%%\n'; sleep 2.5"
    out = step(tmp_path, "sh", "-c", command, STEP_PROGRESS="1", STEP_PROGRESS_S="1")
    assert out.returncode == 0, out
    shown = re.findall(r"\d+ s: ([^\b\x1b]*)", out.stdout)
    assert shown and set(shown) == {"Downloading a.whl 90%"}, repr(out.stdout)
    assert re.fullmatch(r"ok \(\d+ s\)\n", on_screen(out.stdout.removeprefix("print things ... "))), \
        repr(out.stdout)


def _on_a_terminal(tmp_path: Path, term: str | None) -> str:
    """The step's output on a pseudo-terminal (its own session: 80 columns), TERM as given."""
    main, side = pty.openpty()
    env = {"PATH": "/usr/bin:/bin", "INSTALL_LOG": str(tmp_path / "install.log"), "STEP_PROGRESS_S": "1",
           **({"TERM": term} if term is not None else {})}
    with subprocess.Popen(["bash", str(STEP), "print things", "sh", "-c", "echo working; sleep 2.5"],
                          stdout=side, stderr=side, env=env, start_new_session=True) as proc:
        os.close(side)
        written = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: the step and its terminal's last writer are gone
                break
            if not chunk:
                break
            written += chunk
        assert proc.wait(timeout=60) == 0, written
    os.close(main)
    return written.decode().replace("\r\n", "\n")


def test_a_dumb_or_unnamed_terminal_gets_no_progress(tmp_path: Path) -> None:
    """A dumb terminal (Emacs' shell) shows a backspace as a character, not a step back: only
    a terminal that names a type gets the line rewritten in place."""
    assert re.search(r"\d+ s: working", _on_a_terminal(tmp_path, "xterm")), "a real terminal shows progress"
    for term in ("dumb", None):
        out = _on_a_terminal(tmp_path, term)
        assert re.fullmatch(r"print things \.\.\. ok \(\d+ s\)\n", out), (term, out)


def test_the_pip_step_leaves_most_of_an_80_column_line_to_the_log(tmp_path: Path) -> None:
    """make install's pip step, its label as the Makefile gives it (VENV=.venv): its label took
    59 of 80 columns, leaving 15 for the log's last line ("Downloading num"); it now leaves
    at least 30.  No controlling terminal (a new session), so the line is 80 columns as on a
    console, whatever the terminal running the tests."""
    recipe = re.search(r'step\.sh "(pip install [^"]*)"', make_recipe("$(VENV)/.installed"))
    assert recipe, "no pip step in make install"
    label = recipe.group(1).replace("$(VENV)", ".venv")
    line = "Downloading numpy-2.3.5-cp313-cp313-manylinux_2_27_x86_64.whl (16.6 MB)"
    env = {"PATH": "/usr/bin:/bin", "INSTALL_LOG": str(tmp_path / "install.log"), "STEP_PROGRESS": "1",
           "STEP_PROGRESS_S": "1"}
    out = subprocess.run(["bash", str(STEP), label, "sh", "-c", f"echo '  {line}'; sleep 2.5"],
                         capture_output=True, text=True, env=env, timeout=60, start_new_session=True)
    assert out.returncode == 0, out
    shown = re.search(r"\d+ s: ([^\b\x1b]*)", out.stdout)
    assert shown and line.startswith(shown.group(1)), repr(out.stdout)
    assert len(f"{label} ... {shown.group(0)}") < 80, "the line stays within 80 columns"
    assert len(shown.group(1)) >= 30, f"{len(shown.group(1))} columns of the log line: {shown.group(1)!r}"


def test_the_progress_ends_with_the_step_even_when_it_is_killed(tmp_path: Path) -> None:
    """Its line's updater is a background job, which Ctrl-C does not reach: with the step's shell
    killed it went on writing "N s" to the terminal every few seconds, for ever (here: it kept
    the output pipe open, so the run did not end)."""
    out = step(tmp_path, "sh", "-c", "sleep 1.5; kill -KILL $PPID", STEP_PROGRESS="1", STEP_PROGRESS_S="1")
    assert out.returncode == -9, out
    assert re.search(r"\d+ s", out.stdout), out.stdout


def test_a_step_whose_output_is_a_file_or_pipe_prints_no_progress(tmp_path: Path) -> None:
    """CI logs and make deb's output stay one plain line a step."""
    out = step(tmp_path, "sh", "-c", "echo working; sleep 2", STEP_PROGRESS_S="1")
    assert re.fullmatch(r"print things \.\.\. ok \(\d+ s\)\n", out.stdout), repr(out.stdout)


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
    assert recipe.group(1).count("scripts/package/step.sh") == 2
    # pip's Collecting/Downloading lines go to the log (the step's progress shows the latest), bars do not
    assert "pip install --progress-bar off" in recipe.group(1) and "pip install -q" not in recipe.group(1)


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
    # test-browser; Chromium is large), dpkg-dev is the package build's (apt_deps.sh build), and
    # qemu-user-static / binfmt-support the arm64 build's (named in a message test_binfmt checks)
    elsewhere = {"chromium", "dpkg-dev", "qemu-user-static", "binfmt-support"}
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
    host = host_suite()
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


def test_make_help_names_every_target() -> None:
    """`make help` is a new user's first guess; it said "No rule to make target 'help'"."""
    make = shutil.which("make")
    assert make, "make is needed to build anything here"
    out = subprocess.run([make, "-s", "-C", str(ROOT), "help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert phony
    named = set(re.findall(r"^make (\S+) ", out.stdout, re.M))
    unnamed = set(phony.group(1).split()) - {"help", "deb-test"} - named
    assert not unnamed, f"make help leaves out {sorted(unnamed)}"
    assert "deb-test" in out.stdout, "the old name is still said"
