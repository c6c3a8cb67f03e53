"""The install recipes in the docs do what they say (static checks: no Jetson here)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_jetson_recipe_installs_the_file_it_copies() -> None:
    text = (ROOT / "scripts" / "image" / "jetson.md").read_text()
    copied = re.findall(r"cp \S+\.deb rootfs(/tmp/\S+\.deb)", text)
    installed = re.findall(r"apt-get install [^\n]*?(/tmp/\S+\.deb)", text)
    removed = re.findall(r"rm rootfs(/tmp/\S+\.deb)", text)
    assert copied and installed and copied == installed == removed, (copied, installed, removed)


def test_jetson_recipe_supports_only_pythons_the_package_installs_on() -> None:
    """setup.cfg's python_requires decides which L4T releases can run edge-alpr."""
    minimum = re.search(r"python_requires\s*=\s*>=\s*3\.(\d+)", (ROOT / "setup.cfg").read_text())
    assert minimum
    text = (ROOT / "scripts" / "image" / "jetson.md").read_text()
    for minor in re.findall(r"[Uu]se [^.]*Python 3\.(\d+)|for r\d+ \(Python 3\.(\d+)\) use", text):
        assert all(not m or int(m) >= int(minimum.group(1)) for m in minor), minor


def test_the_quick_start_first_installs_what_it_runs() -> None:
    """A minimal Debian has neither make nor git: the quick start's first command installs them;
    the second gets the code (a new user has no checkout yet) and enters it, before the first
    `make`; and the README stays within its 200 lines."""
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert re.match(r"sudo apt update && sudo apt install (git make|make git)\b", quick[0]), quick
    clone = re.fullmatch(r"git clone (https://\S+/([\w.-]+?))(\.git)? && cd (\S+)", quick[1])
    assert clone and clone.group(4) == clone.group(2), quick[1]
    homepage = re.search(r"^Homepage: (\S+)$", (ROOT / "debian" / "control").read_text(), re.M)
    assert homepage and clone.group(1) == homepage.group(1), "the README clones what debian/control names"
    assert quick[2].startswith("make "), quick
    assert len(text.splitlines()) <= 200


def test_the_quick_start_reads_the_package_lists_before_it_installs() -> None:
    """A container image of Debian ships no package lists (/var/lib/apt/lists is empty): there
    `apt install git make ...` failed with "Unable to locate package"; `apt update` first."""
    text = (ROOT / "README.md").read_text()
    first = text.split("## Quick start", 1)[1].split("```sh\n", 1)[1].splitlines()[0].split("#", 1)[0]
    commands = [c.split() for c in first.split("&&")]
    updates = [i for i, c in enumerate(commands) if c[-2:] == ["apt", "update"] or c[-2:] == ["apt-get", "update"]]
    installs = [i for i, c in enumerate(commands) if "install" in c]
    assert updates and installs and updates[0] < installs[0], first


def test_the_quick_start_works_as_a_user_with_sudo() -> None:
    """As oneself, `make install` cannot apt-get python3-venv, and the API examples call curl: the
    first line installs both, so that nothing after it needs root."""
    text = (ROOT / "README.md").read_text()
    first = text.split("## Quick start", 1)[1].split("```sh\n", 1)[1].splitlines()[0]
    packages = first.split("#", 1)[0].split("apt install", 1)[1].split()
    assert {"git", "make", "python3-venv", "curl"} <= set(packages), first
    assert "curl -F upload=@" in text


def test_the_mqtt_watcher_the_readme_shows_comes_with_its_package() -> None:
    """`mosquitto_sub` is in mosquitto-clients, which nothing installs (make test brings only the
    broker): where the README says to watch the topics with it, it names that package."""
    text = (ROOT / "README.md").read_text()
    shown = text.split("mosquitto_sub -v", 1)[0].rsplit("\n\n", 1)[1]
    assert "apt install" in shown and "mosquitto-clients" in shown, shown


def test_the_install_section_installs_the_file_make_deb_writes(tmp_path: Path) -> None:
    """The README's `apt install` line, run with sudo and dpkg stood in for: it installs the newest
    build for this machine's architecture, whichever release built it (on bookworm the file is
    +deb12: a line naming +deb13 matched nothing there) and from a git checkout or a release."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Install on a device", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    line = next(ln for ln in section.splitlines() if "apt install" in ln).split("   #", 1)[0]
    cases = {  # files in dist/, oldest first, and the one to install on amd64 and on arm64
        "bookworm": (["0.1.0+git437.g4751196+deb12_amd64", "0.1.0+git583.g6c79dc5+deb12_amd64"],
                     "0.1.0+git583.g6c79dc5+deb12_amd64", None),
        "trixie release": (["0.1.0+deb13_amd64", "0.1.0+deb13_arm64"], "0.1.0+deb13_amd64", "0.1.0+deb13_arm64"),
        "a Pi's build, then the PC's": (["0.1.0+deb13_arm64", "0.1.0+deb12_amd64"], "0.1.0+deb12_amd64",
                                        "0.1.0+deb13_arm64"),
    }
    for name, (files, *wanted) in cases.items():
        work = tmp_path / name.replace(" ", "_").replace("'", "")
        (work / "dist").mkdir(parents=True)
        for i, f in enumerate(files):
            deb = work / "dist" / f"edge-alpr_{f}.deb"
            deb.write_bytes(b"")
            os.utime(deb, (1_780_000_000 + i, 1_780_000_000 + i))
        for arch, want in zip(("amd64", "arm64"), wanted, strict=True):
            script = f"sudo() {{ printf '%s\\n' \"$@\"; }}; dpkg() {{ echo {arch}; }}; {line}"
            out = subprocess.run(["bash", "-c", script], cwd=work, capture_output=True, text=True).stdout.split("\n")
            assert out[:2] == ["apt", "install"], (name, arch, out)
            if want is not None:
                assert out[2] == f"./dist/edge-alpr_{want}.deb", (name, arch, line, out)
            else:
                assert not out[2].endswith(".deb") or not (work / out[2]).is_file(), (name, arch, out)


def test_the_man_page_says_what_the_unit_does_with_check_config() -> None:
    """The unit has no ExecStartPre: the man page must not say that it runs check-config first."""
    unit = (ROOT / "debian" / "edge-alpr.service").read_text()
    man = " ".join((ROOT / "debian" / "edge-alpr.1").read_text().split())
    runs_it = re.search(r"^ExecStartPre=.*check-config", unit, re.M) is not None
    assert runs_it or "the unit runs it first" not in man, "edge-alpr.1 says the unit runs check-config"
    assert "warning" in man and "78" in man


def exit_constants() -> dict[str, int]:
    """Every module-level ``EXIT_NAME = <int>`` of the package's code, wherever it is defined:
    a status added in a new module (75 came in state_room.py) is found without naming it here."""
    found = {}
    for path in sorted((ROOT / "edge_alpr").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                    and type(node.value.value) is int:
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id.startswith("EXIT_"):
                        found[f"{path.relative_to(ROOT)}:{target.id}"] = node.value.value
    return found


def test_the_man_page_and_the_cli_list_every_exit_status_the_command_gives() -> None:
    """A script tests $? against the page: each status the command's code defines is there, 141
    (stdout's reader gone) too, and in cli.py's list of them."""
    from edge_alpr import cli

    codes = exit_constants()
    assert {"edge_alpr/cli.py:EXIT_CONFIG", "edge_alpr/entry.py:EXIT_PIPE"} <= set(codes), codes
    man = (ROOT / "debian" / "edge-alpr.1").read_text()
    section = man[man.index(".SH EXIT STATUS"):]
    section = section[:section.index("\n.SH ", 1)]
    listed = {int(code) for code in re.findall(r"^\.B (\d+)$", section, re.M)}
    assert {0, 1, 2, *codes.values()} <= listed, (codes, listed)
    assert all(str(code) in (cli.__doc__ or "") for code in codes.values()), (codes, cli.__doc__)


def test_the_man_page_says_a_folder_on_a_share_that_is_away_does_not_stop_run() -> None:
    """check-config warns of it as of any path run cannot open now, but run starts and the camera
    reconnects (``paths.check_readable``): the page said run refuses every warned path."""
    man = " ".join((ROOT / "debian" / "edge-alpr.1").read_text().split())
    assert re.search(r"share whose server is away is the exception: run starts, and its camera reconnects", man), man
