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


def load_runtime(tmp_path: Path, interpreter_py: str | None, prefer: str = "ai_edge_litert",
                 tflite_py: str | None = None) -> subprocess.CompletedProcess[str]:
    """``interpreter_class(prefer)``, twice (as two models load), in a fresh interpreter whose
    ``ai_edge_litert`` is a stand-in with ``interpreter_py`` as its ``interpreter`` module
    (``None``: none) and whose ``tflite_runtime`` (not installed here) is one with ``tflite_py``
    (``None``: no such package); it prints the runtime chosen or the ModelError, the log on stderr."""
    for package, source in (("ai_edge_litert", interpreter_py), ("tflite_runtime", tflite_py)):
        if package == "ai_edge_litert" or source is not None:
            (tmp_path / package).mkdir()
            (tmp_path / package / "__init__.py").write_text("")
        if source is not None:
            (tmp_path / package / "interpreter.py").write_text(source)
    code = ("import logging\n"
            "logging.basicConfig(format='%(levelname)s %(message)s')\n"
            "from edge_alpr.errors import ModelError\n"
            "from edge_alpr.engine.runtime import interpreter_class\n"
            "try:\n"
            f"    for _ in range(2): print('runtime', interpreter_class({prefer!r})[1])\n"
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


LIBRARY = "raise ImportError('libtensorflowlite_c.so: cannot open shared object file')\n"
WORKING = "class Interpreter:\n    pass\n"  # a tflite_runtime that imports (the real one has no wheel here)


def test_auto_passes_over_a_broken_runtime_for_one_that_imports_with_one_warning(tmp_path: Path) -> None:
    out = load_runtime(tmp_path, LIBRARY, prefer="auto", tflite_py=WORKING)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["runtime tflite_runtime.interpreter"] * 2, out.stdout
    warnings = [line for line in out.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, out.stderr  # two interpreters loaded, one warning
    assert "ai_edge_litert is installed but cannot be imported" in warnings[0]
    assert "libtensorflowlite_c.so: cannot open shared object file" in warnings[0]
    assert "using tflite_runtime" in warnings[0] and "pip install --force-reinstall ai-edge-litert" in warnings[0]


def test_a_runtime_chosen_by_name_that_is_broken_is_an_error_though_another_imports(tmp_path: Path) -> None:
    out = load_runtime(tmp_path, LIBRARY, prefer="ai_edge_litert", tflite_py=WORKING)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ModelError: the TFLite runtime ai_edge_litert is installed but cannot"), out.stdout
    assert "tflite_runtime" not in out.stdout.replace("models.runtime", ""), out.stdout


@pytest.mark.parametrize("tflite_py, other", [
    (None, "tflite_runtime.interpreter: No module named 'tflite_runtime'"),
    ("raise OSError('libstdc++.so.6: version GLIBCXX_3.4.32 not found')\n",
     "tflite_runtime.interpreter: OSError: libstdc++.so.6: version GLIBCXX_3.4.32 not found"),
])
def test_auto_with_no_runtime_that_imports_names_the_broken_ones_cause_and_the_others(
        tmp_path: Path, tflite_py: str | None, other: str) -> None:
    out = load_runtime(tmp_path, LIBRARY, prefer="auto", tflite_py=tflite_py)
    assert out.returncode == 0, out.stderr  # a ModelError, not a traceback
    assert out.stdout.startswith("ModelError: the TFLite runtime ai_edge_litert is installed but cannot"), out.stdout
    assert "ImportError: libtensorflowlite_c.so: cannot open shared object file" in out.stdout, out.stdout
    assert other in out.stdout and "pip install --force-reinstall ai-edge-litert" in out.stdout, out.stdout
    assert "WARNING" not in out.stderr, out.stderr
