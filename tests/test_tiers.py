"""The test tiers (docs/testing.md): `make test` runs what needs no package build, no second
interpreter and no full data; each other tier has its own target, and `.ci/run` runs them all."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIERS = {"test-parity": "parity", "test-deb": "deb", "test-data": "data"}
# the expression `make test` selects by
DEFAULT = " and ".join(f"not {m}" for m in ("data", "parity", "deb"))
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
    assert marker_expression("test") == DEFAULT
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


# Each selection is pytest's own `-m` (public options and hooks only), all made in one interpreter:
# the first collection imports the suite (~10 s on 2 cores), and the others find its modules already
# imported (~0.3 s each), where seven separate collections took ~145 s. No test runs, so nothing can
# raise unseen: without the unraisableexception plugin each call skips its ~1.5 s of gc.collect().
_COLLECTOR = """
import json, sys, pytest
class Show:
    ids, left_out = [], 0
    def pytest_deselected(self, items):
        Show.left_out += len(items)
    def pytest_collection_finish(self, session):
        Show.ids = [item.nodeid for item in session.items]
chosen, totals = {}, set()
for expression in sys.argv[1:]:
    Show.ids, Show.left_out = [], 0
    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:unraisableexception",
                       "-m", expression], plugins=[Show()])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        sys.exit(code)
    chosen[expression] = Show.ids
    totals.add(len(Show.ids) + Show.left_out)
print("CHOSEN", json.dumps({"totals": sorted(totals), "chosen": chosen}))
"""
# every marker expression the tests below select by
EXPRESSIONS = (DEFAULT, *TIERS.values(), *INCLUDED.values())


@functools.cache
def selections() -> tuple[int, dict[str, frozenset[str]]]:
    """How many tests the suite holds, by pytest's count, and the test ids ``pytest -m expression``
    selects for each of EXPRESSIONS (collected, not run; the caller's PYTEST_ADDOPTS, a -k or -m of
    its own, left out)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    out = subprocess.run([sys.executable, "-c", _COLLECTOR, *EXPRESSIONS], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("CHOSEN ")]
    assert len(rows) == 1, out.stdout[-2000:]
    found = json.loads(rows[0].split(" ", 1)[1])
    assert len(found["totals"]) == 1, f"collections of one suite found {found['totals']} tests"
    return found["totals"][0], {expression: frozenset(ids) for expression, ids in found["chosen"].items()}


def collect(expression: str) -> set[str]:
    """The test ids ``pytest -m expression`` selects, by pytest's own reading of ``expression``."""
    assert expression in EXPRESSIONS, f"add {expression!r} to EXPRESSIONS"
    return set(selections()[1][expression])


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


def test_every_test_is_in_one_tier() -> None:
    """The ids were once read back from lines split at spaces, which cut a parametrized id such as
    ``test_bad_config[{not json]`` short and merged its cases: `make test` counted 1527 of its 1573.
    Each test pytest collects is in exactly one tier, whatever its id holds."""
    tiers = [collect(DEFAULT), *(collect(marker) for marker in TIERS.values())]
    assert sum(map(len, tiers)) == len(set().union(*tiers)) == selections()[0]


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


def test_the_opt_in_upgrade_test_fails_where_it_cannot_run() -> None:
    """`make test-deb-upgrade FROM=x.deb` with a mistyped file skipped its one test and exited 0:
    a target asked for by name fails instead (``deb_container.require`` fails under CI=true)."""
    assert "CI=true " in recipe("test-deb-upgrade")
