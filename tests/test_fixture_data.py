"""The test suite needs nothing outside the repository (a plain clone passes ``make test``).

Three checks: no test file builds a path out of the repository (a scan of tests/*.py); at run
time no test without the ``data`` mark can read the full data (the audit hook in
``data_paths.py``, which refuses the read even where the data exists, as on CI); and the fixture
set in tests/data is complete, licensed and, with the full data at hand, exactly what
``scripts/data/make_test_fixtures.py`` makes from it.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import data_paths
import pytest
from data_paths import FIXTURE, ROOT
from PIL import Image

from scripts.data import make_test_fixtures

TESTS = ROOT / "tests"
# string constants that name a place outside the repository: the data beside the checkout, a
# parent folder, a home or mounted folder
OUTSIDE = re.compile(r"^shared$|shared[/]data|[.][.]/|^/work\b|^/home/|^/mnt/|^/media/|^~/")


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _levels_up(node: ast.AST, names: dict[str, int]) -> int | None:
    """How many folders above this test file a path expression points (``Path(__file__)``: 0,
    ``.parent``: +1, ``.parents[k]``: +k+1, ``.resolve()`` and ``/ "x"`` keep it); None if it is
    not such a path.  tests/x.py: 1 is tests/, 2 the repository, 3 or more outside it."""
    if isinstance(node, ast.Name):
        return 0 if node.id == "__file__" else names.get(node.id)
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id == "Path" and node.args:
            return _levels_up(node.args[0], names)
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("resolve", "absolute"):
            return _levels_up(node.func.value, names)
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        up = _levels_up(node.value, names)
        return None if up is None else up + 1
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
        up = _levels_up(node.value.value, names)
        if up is not None and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int):
            return up + node.slice.value + 1
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _levels_up(node.left, names)
    return None


def outside_references(source: str, name: str = "<test>") -> list[str]:
    """Each place in ``source`` that names a path outside the repository, as ``line: text``."""
    tree = ast.parse(source, name)
    docs = _docstrings(tree)
    names: dict[str, int] = {}
    for stmt in tree.body:  # module-level names bound to a path, e.g. ROOT = Path(__file__).parents[1]
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            up = _levels_up(stmt.value, names)
            if up is not None:
                names[stmt.targets[0].id] = up
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if OUTSIDE.search(node.value):
                found.append(f"{node.lineno}: {node.value!r}")
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            up = _levels_up(node, names)
            if up is not None and up >= 3:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return sorted(found, key=lambda f: int(f.split(":")[0]))


def test_the_scan_finds_each_way_out_of_the_repository() -> None:
    """The scan itself: the ways the tests used to reach ../shared/data, and none of the legal ones."""
    # written with @ for / so that this file's own scan does not find the examples
    bad = '''
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
A = ROOT.parent @ "shared" @ "data"
B = Path(__file__).resolve().parents[2] @ "x"
C = Path(__file__).parent.parent.parent
D = "@work@shared@data@ocr"
E = "..@shared@data"
'''.replace("@", "/")
    assert [f.split(":")[0] for f in outside_references(bad)] == ["4", "4", "5", "6", "7", "8"]
    good = '''
"""Docstrings may say ..@shared@data."""
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT @ "edge_alpr" @ "samples"
T = Path(__file__).parents[1] @ "data"
U = "@proc@self@status", "@etc@edge-alpr", "shared-state"
'''.replace("@", "/")
    assert outside_references(good) == []


def test_no_test_file_names_a_path_outside_the_repository() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert TESTS / "conftest.py" in files and Path(__file__) in files
    found = {str(p.relative_to(ROOT)): outside_references(p.read_text(), str(p)) for p in files}
    assert not {k: v for k, v in found.items() if v}, "tests must read tests/data (tests/data_paths.py)"


def test_a_test_without_the_data_mark_cannot_read_the_full_data() -> None:
    """The guard refuses the read whether or not the file exists (with ../shared on CI, without it
    in a plain clone), for plain opens, PIL and directory listings alike."""
    assert data_paths.GUARDED, "the full data's folder is guarded"
    for root in data_paths.GUARDED:
        labels = root / "ocr" / "se_crops" / "labels.jsonl"
        with pytest.raises(data_paths.FullDataRead, match="only tests marked `data`"):
            labels.read_text()
        with pytest.raises(data_paths.FullDataRead):
            Image.open(root / "detection" / "romanian" / "images" / "dayride_type1_001_t37.jpg")
        with pytest.raises(data_paths.FullDataRead):
            os.listdir(root)
        with pytest.raises(data_paths.FullDataRead):
            os.scandir(root / "ocr")
    # the fixture itself is open to every test
    assert data_paths.rows(FIXTURE / "ocr" / "se_crops" / "labels.jsonl")


def test_the_scripts_look_up_data_in_the_fixture() -> None:
    """``datasets.DATA`` here and ``EDGE_ALPR_DATA`` in a subprocess (evaluate.py, runtime_parity.py)."""
    assert data_paths.datasets.DATA == FIXTURE and os.environ["EDGE_ALPR_DATA"] == str(FIXTURE)
    code = ("from scripts.data import datasets; from scripts.eval import evaluate; "
            "print(datasets.DATA); print(evaluate.DATA)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.split() == [str(FIXTURE)] * 2


def test_the_fixture_is_complete_small_and_licensed() -> None:
    """Every label row has its image and every image its row; texts are in the data's alphabet;
    every file group is named in the README; the whole set stays a few MB."""
    readme = (FIXTURE / "README.md").read_text()
    sets = sorted(FIXTURE.glob("detection/*/labels.jsonl")) + sorted(FIXTURE.glob("ocr/*/labels.jsonl"))
    assert [p.parent.name for p in sets] == ["andrewmvd", "romanian", "se_crops"]
    for labels in [*sets, FIXTURE / "vehicles" / "labels.jsonl"]:
        rows = data_paths.rows(labels)
        named = {labels.parent / r["image"] for r in rows}
        assert len(named) == len(rows) and all(p.is_file() for p in named), labels
        assert {p for p in labels.parent.rglob("*.jpg")} == named, f"{labels.parent}: an image without a row"
        assert f"`{labels.parent.relative_to(FIXTURE)}/`" in readme
        texts = [p.get("text") for r in rows for p in r.get("plates", [r])]
        assert all(t is None or re.fullmatch(r"[A-Z0-9?]{2,10}", t) for t in texts), labels
    assert "`fonts/`" in readme and all((FIXTURE / "fonts" / f).is_file() for f in make_test_fixtures.FONT_FILES)
    for rel in make_test_fixtures.LICENCES:
        assert "Permission is hereby granted" in (FIXTURE / rel).read_text()
    size = sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file())
    assert size < 4_000_000, f"tests/data is {size / 1e6:.1f} MB"
    # what the tests rely on: text-labelled plates in dev scenes, 12 dev images of each kind
    romanian = data_paths.rows(FIXTURE / "detection" / "romanian" / "labels.jsonl", "dev")
    assert sum(bool(p.get("text")) for r in romanian for p in r["plates"]) >= 25
    assert min(len(romanian), len(data_paths.rows(FIXTURE / "ocr" / "se_crops" / "labels.jsonl", "dev")),
               len(data_paths.rows(FIXTURE / "vehicles" / "labels.jsonl", "dev"))) >= 12


def test_eye_read_texts_are_marked_as_such() -> None:
    for labels in FIXTURE.glob("detection/*/labels.jsonl"):
        for r in data_paths.rows(labels):
            for p in r["plates"]:
                assert (p.get("text") is None) == ("text_source" not in p), (labels, r["image"])


@pytest.mark.data
def test_the_fixture_is_what_the_script_makes_from_the_full_data(full_data: Path) -> None:
    assert make_test_fixtures.check(full_data, FIXTURE) == []
