"""The test tiers (docs/testing.md): `make test` runs what needs no package build, no second
interpreter and no full data; each other tier has its own target, and `.ci/run` runs them all."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

from _pytest.mark.expression import Expression

ROOT = Path(__file__).resolve().parents[1]
TIERS = {"test-parity": "parity", "test-deb": "deb", "test-data": "data"}
# markers whose tests `make test` runs too (skipped, saying why, where their tool is missing),
# with a target that runs them alone
INCLUDED = {"test-browser": "browser"}
# tiers of a marker's tests that CI leaves out (each runs the files its recipe names)
OPT_IN = {"test-deb-upgrade": "deb"}


def recipe(target: str) -> str:
    """The recipe lines of ``target`` in the Makefile."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.M)
    assert match, f"Makefile has no target {target} with a recipe"
    return match.group(1)


def markers() -> set[str]:
    """The markers registered in pyproject.toml (``"name: description"`` lines of ``markers``)."""
    block = re.search(r"^markers = \[\n(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S)
    assert block, "pyproject.toml registers no pytest markers"
    return set(re.findall(r'^\s*"(\w+):', block.group(1), re.M))


def marker_expression(target: str) -> str:
    found = re.findall(r'pytest -m ("[^"]+"|\S+)', recipe(target))
    assert len(found) == 1, f"make {target} should run pytest once with -m: {found}"
    return found[0].strip('"')


def test_make_test_leaves_out_every_other_tier() -> None:
    assert markers() == set(TIERS.values()) | set(INCLUDED.values()), \
        "a new marker needs its tier here and in docs/testing.md"
    for target, marker in INCLUDED.items():
        assert marker_expression(target) == marker, target
    assert marker_expression("test") == " and ".join(f"not {m}" for m in ("data", "parity", "deb"))
    body = recipe("test")
    for heavy in ("parity_venv", "PARITY", "apt_deps.sh deb", "test_deb", "build-deb"):
        assert heavy not in body, f"make test must not do {heavy}: {body}"
    assert "apt_deps.sh test" in body


def test_each_tier_has_a_target_and_ci_runs_them_all() -> None:
    for target, marker in TIERS.items():
        assert marker_expression(target) == marker, target
    ci = (ROOT / ".ci" / "run").read_text()
    loop = re.search(r"^for target in ([^;]+);", ci, re.M)
    assert loop and loop.group(1).split() == ["test", *TIERS], ci


# One collection of the whole suite, each test's id and markers on a line: each tier's selection is
# taken from it by pytest's own -m expressions, where seven collections took ~145 s on 2 cores.
_COLLECTOR = """
import sys, pytest
class Show:
    def pytest_collection_finish(self, session):
        for item in session.items:
            print("TEST", item.nodeid, *sorted({mark.name for mark in item.iter_markers()}))
sys.exit(pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider"], plugins=[Show()]))
"""


@functools.cache
def collected() -> dict[str, frozenset[str]]:
    """Every test id the suite collects, with its markers' names (collected once, not run; the
    caller's PYTEST_ADDOPTS, a -k or -m of its own, left out)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    out = subprocess.run([sys.executable, "-c", _COLLECTOR], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    rows = [line.split()[1:] for line in out.stdout.splitlines() if line.startswith("TEST ")]
    return {row[0]: frozenset(row[1:]) for row in rows}


def collect(expression: str) -> set[str]:
    """The test ids ``pytest -m expression`` selects, by pytest's own reading of ``expression``."""
    chosen = Expression.compile(expression)
    return {test for test, marks in collected().items() if chosen.evaluate(marks.__contains__)}


def tier_tests(target: str, marker: str) -> set[str]:
    """The tests ``make target`` runs: its marker's, in the test files its recipe names (all of
    them where it names none)."""
    files = set(re.findall(r"\btests/\w+\.py\b", recipe(target)))
    return {t for t in collect(marker) if not files or t.split("::", 1)[0] in files}


def test_the_markers_select_the_tiers_tests() -> None:
    """Collected, not run: the package test and the parity check are outside `make test`."""
    default = collect(marker_expression("test"))
    assert default and not any(t.startswith("tests/test_deb.py") or "test_runtimes_agree" in t for t in default)
    deb = collect("deb")
    assert deb and all(t.startswith(("tests/test_deb.py::", "tests/test_deb_upgrade.py::")) for t in deb)
    # the upgrade from an older build is its own target, not in CI (a second package build)
    assert tier_tests("test-deb", "deb") & tier_tests("test-deb-upgrade", "deb") == set()
    assert tier_tests("test-deb", "deb") | tier_tests("test-deb-upgrade", "deb") == deb
    ci = (ROOT / ".ci" / "run").read_text()
    assert not [target for target in OPT_IN if target in ci], ci
    assert collect("parity") == {"tests/test_models.py::test_runtimes_agree"}


def test_the_docs_name_each_tier_s_count_and_the_browser_tier_s_files() -> None:
    """docs/testing.md's `make test-browser` row said "5 tests" and named 3 files while the
    tier had grown to 15 tests in 9, and `make test-deb`'s "6 tests" were 8: each tier's row
    gives the number its marker selects, and the browser row names every file."""
    docs = (ROOT / "docs" / "testing.md").read_text()
    row = re.search(r"^\| `make test` \|.*$", docs, re.M)
    counted = row and re.search(r"\| about (\d+) tests\b[^|]*\|$", row.group(0))
    selected = collect(marker_expression("test"))
    assert counted, "docs/testing.md's make test row gives no 'about N tests'"
    assert abs(int(counted.group(1)) - len(selected)) <= len(selected) // 10, \
        ("make test", counted.group(1), len(selected))  # "about": within 10 %
    for target, marker in {**TIERS, **INCLUDED, **OPT_IN}.items():
        row = re.search(rf"^\| `make {re.escape(target)}` \|.*$", docs, re.M)
        assert row, f"docs/testing.md has no make {target} row"
        selected = tier_tests(target, marker)
        counted = re.search(r"\| (\d+) tests?\b[^|]*\|$", row.group(0))
        assert counted and int(counted.group(1)) == len(selected), (target, counted and counted.group(1), len(selected))
        if target == "test-browser":
            files = {test.split("::", 1)[0] for test in selected}
            assert not {f for f in files if f"`{f}`" not in row.group(0)}, f"the row leaves out some of {sorted(files)}"


def test_make_help_the_readme_and_the_docs_give_make_test_one_time() -> None:
    """`make help` and the README said about 10 min for `make test` while docs/testing.md said
    16, and the suite took 19-20 min on 2 cores: one figure, in the three places."""
    help_line = re.search(r'echo "make test +[^"]*?(\d+) min', (ROOT / "Makefile").read_text())
    readme = re.search(r"^\| `make test` \|.*?(\d+) min", (ROOT / "README.md").read_text(), re.M)
    docs = re.search(r"^\| `make test` \|.*?(\d+) min[^|]*\|$", (ROOT / "docs" / "testing.md").read_text(), re.M)
    assert help_line and readme and docs, "each names make test's time in minutes"
    assert help_line.group(1) == readme.group(1) == docs.group(1), \
        (help_line.group(1), readme.group(1), docs.group(1))
