"""Hold a reader's real-plate readings to a reference reader while it learns something else.

Why: continuing a reader on the CPU (more rendered layouts, context blocks) has moved the
rendered layouts but traded some real plates for them, a few held-out reads each time.  The
detector had the same trade and the same cure helped there (``train_detector_stream.py
--distill-from``): on the crops the run should not change, the reference's own output joins the
loss.  Here the reference is a shipped int8 CTC reader (its weights in a float Keras network),
and the term is the KL divergence from its per-column distributions to the student's, summed
over the columns (the sequence's KL under independent columns, on the scale of the CTC loss),
on real crops only: rendered plates keep the CTC loss alone, so the layouts learn freely.

    python -m scripts.train.train_reader --head ctc --context 4 --init X.weights.h5 \\
        --distill-from models/quantized/reader_ctc_v3.tflite --distill-weight 1.0 ...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from scripts.train import reader_model as rm
from scripts.train import tflite_weights

EPS = 1e-7


def reference(path: Path, x: np.ndarray) -> Any:
    """The int8 CTC reader at ``path`` as a frozen float Keras network (batch norms given their
    input statistics on ``x``, as ``--init-tflite`` does), so it can run inside the data pipeline."""
    meta = json.loads(path.with_suffix(".json").read_text())
    if meta.get("head") != "ctc" or meta.get("context_blocks"):
        raise SystemExit(f"--distill-from {path}: expected a CTC reader without context blocks "
                         f"(its sidecar says head {meta.get('head')!r}, context {meta.get('context_blocks', 0)})")
    ref: Any = rm.build(len(meta["regions"]), "ctc")
    missing = tflite_weights.to_keras(ref, tflite_weights.int8_constants(path))
    if missing:
        raise SystemExit(f"--distill-from {path}: no weights for layers {missing}")
    sample = x[np.random.default_rng(4).choice(len(x), min(len(x), 4000), replace=False)]
    tflite_weights.reestimate_bn(ref, sample)
    ref.trainable = False
    return ref


def trainer(model: Any) -> Any:
    """``model`` with a third output, ``distill`` (its column distributions again), sharing every
    layer: trained through this one, ``model`` itself is what is saved and exported."""
    import keras
    from keras import layers as L

    chars, region = model.outputs
    return keras.Model(model.inputs, {"chars": chars, "region": region,
                                      "distill": L.Identity(name="distill")(chars)})


def kl_loss(target: Any, p: Any) -> Any:
    """Sum over columns and classes of target * (log target - log p); zero where ``target`` is
    all zeros (rendered plates)."""
    from keras import ops

    t = ops.cast(target, p.dtype)
    return ops.sum(t * (ops.log(ops.maximum(t, EPS)) - ops.log(ops.maximum(p, EPS))), axis=(1, 2))


def add_targets(tf: Any, ref: Any, xf: Any, targets: dict[str, Any], real: Any) -> tuple[Any, dict[str, Any]]:
    """The batch's ``distill`` target: the reference's columns on the augmented crops of real
    plates, zeros for rendered ones."""
    cols = ref(xf, training=False)[0]
    return xf, {**targets, "distill": cols * tf.cast(real, cols.dtype)[:, None, None]}
