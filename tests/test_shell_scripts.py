"""The shell helpers find the repository and the tools they name, wherever they sit in ``scripts/``.

Why: the training and packaging helpers locate the checkout from their own path
(``cd "$(dirname "$0")/../.."``) and call tools as ``python3 -m scripts.<group>.<tool>``.  When a
script moves one folder deeper, such a line still runs but lands in the wrong directory (a GPU
run that starts in ``scripts/`` finds neither its wheels nor its data) or names a module that
is gone; neither shows until the rare machine that runs it.  These checks read the files only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHELL = sorted([*ROOT.glob("scripts/**/*.sh"), *ROOT.glob("debian/*.sh")])
SELF_PATH = re.compile(r'\$\(dirname "\$0"\)/([^"\s)]+)')
MODULE = re.compile(r"python3? -m (scripts(?:\.\w+)+)")
SCRIPT_FILE = re.compile(r"\bscripts/\w+/\w+\.(?:py|sh)\b")
SCRIPT_GLOB = re.compile(r"\bscripts/[\w/.-]*\*[\w/.*-]*")  # scripts/bench/bench_*.py


def test_there_are_shell_scripts_to_check() -> None:
    assert len(SHELL) >= 5, SHELL


@pytest.mark.parametrize("script", SHELL, ids=lambda p: str(p.relative_to(ROOT)))
def test_paths_relative_to_the_script_exist_and_dot_dots_reach_the_root(script: Path) -> None:
    for rel in SELF_PATH.findall(script.read_text()):
        target = (script.parent / rel).resolve()
        assert target.exists(), f"{script.name}: $(dirname $0)/{rel} -> {target} does not exist"
        if set(rel.split("/")) <= {"..", ""}:
            assert target == ROOT, f"{script.name}: $(dirname $0)/{rel} is {target}, not the checkout {ROOT}"


def _texts() -> list[tuple[str, str]]:
    """The files that tell a person or a machine which tool to run."""
    paths = [*SHELL, ROOT / "Makefile", ROOT / "README.md", *ROOT.glob("docs/*.md"),
             *ROOT.glob("scripts/**/README.md")]
    return [(str(p.relative_to(ROOT)), p.read_text()) for p in paths]


def _module_files() -> list[tuple[str, str]]:
    return sorted({(where, m) for where, t in _texts() for m in MODULE.findall(t)})


def test_some_modules_are_named() -> None:
    assert len(_module_files()) >= 10


@pytest.mark.parametrize(("where", "module"), _module_files())
def test_every_module_a_script_runs_exists(where: str, module: str) -> None:
    path = ROOT / Path(*module.split("."))
    assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), f"{where}: {module}"


def test_every_script_file_the_docs_name_exists() -> None:
    named = sorted({(where, f) for where, t in _texts() for f in SCRIPT_FILE.findall(t)})
    assert len(named) >= 10
    assert [(w, f) for w, f in named if not (ROOT / f).is_file()] == []


def test_every_script_pattern_the_docs_name_matches_files() -> None:
    """A pattern such as ``scripts/bench/bench_*.py`` names a group of tools: the README's make
    table said ``scripts/bench_*.py`` after the tools had moved into ``scripts/bench/``, so a
    reader looking for them found nothing there."""
    named = sorted({(where, g) for where, t in _texts() for g in SCRIPT_GLOB.findall(t)})
    assert named, "the README names the benchmark tools by a pattern"
    assert [(w, g) for w, g in named if not list(ROOT.glob(g))] == []
