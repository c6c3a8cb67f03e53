"""`make install` is quiet: one line per step (scripts/package/step.sh), the log's tail and path on failure."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEP = ROOT / "scripts" / "package" / "step.sh"


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
