"""Where the bundled models are looked for, and what a folder without readable models says.

Why tested: a source checkout whose ``models/quantized`` this user could not read was taken for
an installed package, so the error named ``<venv>/share/edge-alpr/models`` (a folder that does
not exist) and advised ``make models`` (hours of training) instead of the folder's permissions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_alpr.engine.runtime import model_path
from edge_alpr.errors import ModelError
from edge_alpr.model_files import bundled_folder

# root reads every folder: without these capabilities it meets folder modes like any other user
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
          "--inh-caps=-dac_override,-dac_read_search"]


def test_a_checkout_folder_is_chosen_even_when_its_models_cannot_be_listed(tmp_path: Path) -> None:
    checkout, installed = tmp_path / "models" / "quantized", tmp_path / "share" / "models"
    assert bundled_folder(checkout, installed) == installed  # a wheel or the .deb: no checkout folder
    checkout.mkdir(parents=True)
    assert bundled_folder(checkout, installed) == checkout  # empty, or unreadable to this user


def test_a_checkout_whose_models_were_deleted_names_its_own_folder(tmp_path: Path) -> None:
    """``rm -r models/quantized`` in a checkout: the error named ``<venv>/share/edge-alpr/models``,
    a folder that never existed there, beside the advice to ``git checkout models/quantized``."""
    checkout, installed = tmp_path / "models" / "quantized", tmp_path / "venv" / "share" / "models"
    assert bundled_folder(checkout, installed) == installed  # no checkout here: a wheel's prefix
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = edge-alpr\n")
    assert bundled_folder(checkout, installed) == checkout
    installed.mkdir(parents=True)
    assert bundled_folder(checkout, installed) == installed  # a wheel installed beside a checkout


def test_an_empty_folder_names_the_fix_not_only_training(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no reader_v<N>.tflite in .*; copy the models with their .json sidecars"):
        model_path(tmp_path, "reader")


def test_an_unreadable_folder_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "reader_v1.tflite").write_bytes(b"x")
    folder.chmod(0)
    try:
        code = f"from edge_alpr.engine.runtime import model_path; model_path({str(folder)!r}, 'reader')"
        prefix = NO_DAC if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                              cwd=Path(__file__).resolve().parent.parent)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 1
    assert f"ModelError: the models folder {folder} cannot be read (Permission denied)" in done.stderr, done.stderr
