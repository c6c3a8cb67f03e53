"""Training-only helpers: TF threading, int8 export with calibration, sidecar writing.

Imported by the training scripts only; the runtime never imports TensorFlow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from scripts import REPO

ROOT = REPO
MODELS = ROOT / "models" / "quantized"
CACHE = Path(os.environ.get("EDGE_ALPR_CACHE", "/tmp/edge_alpr_cache"))


def setup_tf(threads: int) -> Any:
    """Import TensorFlow limited to ``threads`` so two trainings can share the 2 cores."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return tf


def export_int8(model: Any, calib: Callable[[], Iterable[list[np.ndarray]]], out: Path) -> bytes:
    """Full-integer conversion: uint8 input, int8 weights/activations, int8 outputs, no float ops."""
    import keras
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        spec = [tf.TensorSpec((1, *model.input.shape[1:]), tf.float32)]
        archive.add_endpoint("serve", model.call, input_signature=spec)
        archive.write_out(tmp)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = calib
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.int8
        data = conv.convert()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".tmp")
    tmp_out.write_bytes(data)
    tmp_out.replace(out)
    return data


def tensor_details(model_path: Path) -> dict[str, Any]:
    """Input/output shapes, dtypes and quantisation as the interpreter reports them."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(model_path))

    def desc(d: dict[str, Any]) -> dict[str, Any]:
        scale, zp = d["quantization"]
        return {
            "name": d["name"],
            "shape": [int(v) for v in d["shape"]],
            "dtype": np.dtype(d["dtype"]).name,
            "scale": float(scale),
            "zero_point": int(zp),
        }

    return {"inputs": [desc(d) for d in it.get_input_details()], "outputs": [desc(d) for d in it.get_output_details()]}


# Sidecar keys that ``write_sidecar`` derives from the model file itself (never copied over).
GENERATED_SIDECAR_KEYS = ("name", "version", "file", "sha256", "size_bytes", "created", "command", "inputs",
                          "outputs")


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (temp file + rename): a sidecar is never half written."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    tmp.replace(path)


def model_out(text: str) -> Path:
    """An argparse ``type`` for a trainer's ``--out``: ``<name>_v<N>.tflite``, the name the runtime
    loads and ``write_sidecar`` reads the version from.  Why at parse time: a wrong name used to
    fail only when the sidecar was written, after the whole training run."""
    import argparse
    import re

    path = Path(text)
    if not re.fullmatch(r".+_v[0-9]+\.tflite", path.name):
        raise argparse.ArgumentTypeError(f"{text!r}: a model file is named <name>_v<N>.tflite, "
                                         "e.g. reader_ctc_v9.tflite")
    return path


def write_sidecar(model_path: Path, extra: dict[str, Any]) -> Path:
    """Write ``<model>.json`` next to the model atomically (temp file + rename).

    A ``recipe`` already in that sidecar is kept: it is written by hand (how a multi-stage model
    was made and chosen), and ``make models`` rebuilding the model in place must not drop it.
    """
    data = model_path.read_bytes()
    path = model_path.with_suffix(".json")
    kept = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = {}
        kept = {"recipe": old["recipe"]} if isinstance(old, dict) and "recipe" in old else {}
    side = {
        "name": model_path.stem.rsplit("_v", 1)[0],
        "version": int(model_path.stem.rsplit("_v", 1)[1]),
        "file": model_path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        **tensor_details(model_path),
        **kept,
        **extra,
    }
    write_json(path, side)
    return path


def bundled_kinds(*exclude: str) -> tuple[str, ...]:
    """The kinds of model the bundled folder holds (``reader``, ``reader_ctc``, ...), but ``exclude``.

    Why: a candidate's folder must hold every model the service loads beside it; a fixed list
    missed the CTC reader when it joined, and candidates were then read by the slot reader alone.
    """
    from edge_alpr.engine.runtime import BUNDLED

    kinds = {p.stem.rsplit("_v", 1)[0] for p in BUNDLED.glob("*_v*.tflite")}
    return tuple(sorted(kinds - set(exclude)))


def copy_bundled(folder: Path, kinds: tuple[str, ...]) -> Path:
    """Copy the bundled models of ``kinds`` (with sidecars) into ``folder``: a candidate's model folder.

    Why: the selection scripts evaluate one new model beside the shipped others, through the
    service's loader, which reads a whole folder.
    """
    from edge_alpr.engine.runtime import model_path

    folder.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        src = model_path(None, kind)  # the one the service loads
        for f in (src, src.with_suffix(".json")):
            shutil.copy2(f, folder / f.name)
    return folder
