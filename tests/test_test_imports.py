"""Every third-party module a test file imports at its top is one that `make test` installs: a
dependency of the package or of its ``test`` extra (setup.cfg).

Why: the venv sees the system's packages (``--system-site-packages``), so a module that only the
developer's machine happens to have (jinja2 came with other tools here) passes every local run
and CI on the same image, then stops a fresh Debian's whole ``make test`` at collection.  Imports
inside functions or ``try`` blocks are the tests' own business (they skip, saying why).
"""

from __future__ import annotations

import ast
import configparser
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
LOCAL = {"edge_alpr", "scripts", "tests", "conftest"} | {p.stem for p in TESTS.glob("*.py")}


def declared() -> set[str]:
    """Normalised names of the distributions setup.cfg asks for, the package's and its test extra's."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines() + cfg["options.extras_require"]["test"].splitlines()
    return {normal(re.split(r"[<>=!;\[ ]", line.strip(), maxsplit=1)[0]) for line in lines if line.strip()}


def installed_with(names: set[str]) -> set[str]:
    """``names`` and every distribution they require in turn (not their extras'), as pip installs
    them: requests brings urllib3, pytest brings packaging."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            if "extra ==" not in line:
                todo.append(normal(re.split(r"[<>=!;\[ (~]", line.strip(), maxsplit=1)[0]))
    return seen


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def top_imports(path: Path) -> set[str]:
    """The top-level names a module imports unconditionally (module level, outside ``try``)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_declared_parser_reads_setup_cfg() -> None:
    """The parser itself: the names it finds are the ones setup.cfg holds, so the check below can fail."""
    found = declared()
    assert {"numpy", "pyyaml", "paho-mqtt", "pytest", "requests"} <= found
    assert "tensorflow-cpu" not in found  # the train extra is not installed by make test
    assert "urllib3" in installed_with({"requests"}) and "urllib3" not in found


def test_every_test_import_is_installed_by_make_test() -> None:
    wanted = installed_with(declared())
    providers = metadata.packages_distributions()
    missing = []
    for path in sorted(TESTS.glob("*.py")):
        for name in sorted(top_imports(path) - LOCAL - set(sys.stdlib_module_names)):
            dists = {normal(d) for d in providers.get(name, [])}
            if not dists & wanted:
                missing.append(f"{path.name}: import {name} (from {sorted(dists) or 'nothing installed'})")
    assert not missing, ("tests import modules that setup.cfg's test extra does not install "
                         "(add them there, or import them inside the test and skip saying why):\n"
                         + "\n".join(missing))
