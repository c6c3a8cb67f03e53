"""Which TFLite runtime is missing and which is installed but broken.

Only a runtime whose own module is not there is missing (the install hint mends that); one that
is there but fails to import (a numpy it was not built for, a shared library it lacks) is broken,
said with its cause; Ctrl-C while the import runs stops the program.

A broken installation cannot be made of the real wheel without altering it, so each case puts a
stand-in ``ai_edge_litert`` package (one that fails as a broken one does) ahead of the real one on
the module path of a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HINT = "pip install ai-edge-litert  (or"


def load_runtime(tmp_path: Path, interpreter_py: str | None) -> subprocess.CompletedProcess[str]:
    """``interpreter_class("ai_edge_litert")`` in a fresh interpreter whose ``ai_edge_litert`` is a
    stand-in with ``interpreter_py`` as its ``interpreter`` module (``None``: none)."""
    package = tmp_path / "ai_edge_litert"
    package.mkdir()
    (package / "__init__.py").write_text("")
    if interpreter_py is not None:
        (package / "interpreter.py").write_text(interpreter_py)
    code = ("from edge_alpr.errors import ModelError\n"
            "from edge_alpr.engine.runtime import interpreter_class\n"
            "try:\n"
            "    interpreter_class('ai_edge_litert')\n"
            "except ModelError as e:\n"
            "    print(f'ModelError: {e}')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_runtime_without_its_module_is_missing_and_the_install_hint_is_given(tmp_path: Path) -> None:
    out = load_runtime(tmp_path, None)
    assert out.returncode == 0, out.stderr
    assert "no TFLite runtime could be imported" in out.stdout and HINT in out.stdout, out.stdout


@pytest.mark.parametrize("source, cause", [
    ("import numpy._built_for_another_abi\n", "ModuleNotFoundError: No module named 'numpy._built_for_another_abi'"),
    ("raise ImportError('libtensorflowlite_c.so: cannot open shared object file')\n",
     "ImportError: libtensorflowlite_c.so: cannot open shared object file"),
    ("raise OSError('libstdc++.so.6: version GLIBCXX_3.4.32 not found')\n",
     "OSError: libstdc++.so.6: version GLIBCXX_3.4.32 not found"),
])
def test_a_runtime_that_is_there_but_fails_to_import_is_broken_with_its_cause(
        tmp_path: Path, source: str, cause: str) -> None:
    out = load_runtime(tmp_path, source)
    assert out.returncode == 0, out.stderr  # a ModelError, not a traceback
    assert "ai_edge_litert is installed but cannot be imported" in out.stdout, out.stdout
    assert cause in out.stdout and HINT not in out.stdout, out.stdout
    assert "pip install --force-reinstall ai-edge-litert" in out.stdout, out.stdout


def test_ctrl_c_during_the_runtime_import_stops_the_program(tmp_path: Path) -> None:
    out = load_runtime(tmp_path, "raise KeyboardInterrupt\n")
    assert "KeyboardInterrupt" in out.stderr and "ModelError" not in out.stdout, out.stdout + out.stderr
    assert out.returncode != 0
