"""A trainer's ``--out`` is checked when it is parsed, not when the sidecar is written.

A name without ``_v<N>`` used to fail in ``write_sidecar``, after the whole training run (40
minutes of it on two cores, measured); the runtime loads ``<name>_v<N>.tflite`` only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.train import tfcommon

ROOT = Path(__file__).resolve().parent.parent


def test_a_model_file_name_needs_its_version() -> None:
    assert tfcommon.model_out("out/reader_ctc_v12.tflite") == Path("out/reader_ctc_v12.tflite")
    for bad in ("reader_ctc_a1.tflite", "reader_ctc_v1.h5", "reader_v.tflite"):
        with pytest.raises(argparse.ArgumentTypeError, match="_v<N>.tflite"):
            tfcommon.model_out(bad)


def test_the_reader_trainer_refuses_it_before_anything_else() -> None:
    """Through the real command line: the error comes from argparse, before data or TensorFlow."""
    out = subprocess.run([sys.executable, "-m", "scripts.train.train_reader", "--out", "reader_ctc_a1.tflite"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out
    assert "a model file is named <name>_v<N>.tflite" in out.stderr, out.stderr
