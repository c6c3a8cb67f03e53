"""Float Keras weights recovered from a shipped int8 reader, so a fine-tune can start from it.

Why: the float checkpoints of a training run live in a cache that a fresh build machine does
not have, while the int8 model and its sidecar are in the repository.  Dequantizing the int8
tensors gives weights within one quantization step of the float ones; a fine-tune starting
there recovers the rest in its first steps.

How the int8 graph maps back (checked by ``--check``, which compares the Keras model's
outputs with the int8 model's on real crops):

* every 3x3 trunk convolution has its batch norm folded in: the Keras convolution gets the
  folded kernel, and its batch norm becomes the identity plus the folded bias;
* the model's ``Rescaling(1/255)`` is folded into the first convolution (the int8 input is
  the raw pixel), so that kernel is multiplied by 255 again;
* fully connected and 1x1 / row convolutions map one to one (kernels transposed);
* position and slot embeddings are per-tensor int8 constants.

    python -m scripts.train.tflite_weights models/quantized/reader_v3.tflite --check \
        --out /tmp/edge_alpr_cache/reader_v3.weights.h5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def int8_constants(path: Path) -> list[dict[str, Any]]:
    """The model's weight tensors, dequantized, highest tensor index first (the Keras layer order)."""
    from edge_alpr.engine.runtime import interpreter_class

    interp = interpreter_class()[0](model_path=str(path))
    interp.allocate_tensors()
    details = {d["index"]: d for d in interp.get_tensor_details()}
    out = []
    for idx in sorted(details, reverse=True):
        d = details[idx]
        q = d["quantization_parameters"]
        name = d["name"]
        is_embedding = "ReadVariableOp" in name
        per_channel = len(q["scales"]) > 1 and d["shape"][0] > 1
        if d["dtype"] != np.int8 or not (per_channel or is_embedding):
            continue
        w = interp.get_tensor(idx).astype(np.float32)
        scales = q["scales"].reshape((-1,) + (1,) * (w.ndim - 1)) if len(q["scales"]) > 1 else q["scales"][0]
        w = (w - (q["zero_points"].reshape(np.shape(scales)) if len(q["scales"]) > 1 else q["zero_points"][0])) * scales
        bias = None
        if not is_embedding:
            b = details[idx - 1]
            bq = b["quantization_parameters"]
            bias = interp.get_tensor(idx - 1).astype(np.float32) * bq["scales"]
        out.append({"name": name, "w": w, "b": bias, "embedding": is_embedding})
    return out


def to_keras(model: Any, tensors: list[dict[str, Any]]) -> list[str]:
    """Set ``model``'s weights from ``tensors``; returns the layers it could not fill (new heads)."""
    from keras import layers as L

    pool = list(tensors)
    missing = []

    def take(pred: Any) -> dict[str, Any] | None:
        for i, t in enumerate(pool):
            if pred(t):
                return pool.pop(i)
        return None

    first_conv = True
    pending_bn: np.ndarray | None = None
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        if isinstance(layer, L.BatchNormalization):
            if pending_bn is None:
                missing.append(layer.name)
                continue
            eps = layer.epsilon
            layer.set_weights([np.ones_like(ws[0]), pending_bn, np.zeros_like(ws[2]), np.full_like(ws[3], 1 - eps)])
            pending_bn = None
            continue
        kshape = ws[0].shape
        if isinstance(layer, L.Conv2D | L.Conv1D):
            want = (kshape[-1],) + kshape[:-1] if isinstance(layer, L.Conv2D) else (kshape[2], 1) + kshape[:2]
            prefer = layer.name if layer.name.startswith("row") else None
            t = take(lambda t, want=want, prefer=prefer: not t["embedding"] and t["w"].shape == want
                     and (prefer is None or t["name"].startswith(prefer)))
            if t is None:
                missing.append(layer.name)
                continue
            k = t["w"].reshape(want).transpose(1, 2, 3, 0)
            if isinstance(layer, L.Conv1D):
                k = k[0]
            if first_conv and kshape[2] == 3:
                k = k * 255.0
            first_conv = False
            if layer.use_bias:
                layer.set_weights([k, t["b"]])
            else:
                layer.set_weights([k])
                pending_bn = t["b"]
        elif isinstance(layer, L.Dense):
            want = (kshape[1], kshape[0])
            t = take(lambda t, want=want: not t["embedding"] and t["w"].shape == want)
            if t is None:
                missing.append(layer.name)
                continue
            layer.set_weights([t["w"].T, t["b"]])
        elif len(ws) == 1:  # a learned embedding table
            t = take(lambda t, s=ws[0].shape: t["embedding"] and t["w"].shape == s)
            if t is None:
                missing.append(layer.name)
                continue
            layer.set_weights([t["w"]])
        else:
            missing.append(layer.name)
    return missing


def reestimate_bn(model: Any, x: np.ndarray) -> int:
    """Give every identity batch norm the statistics of its input on ``x``, keeping the function.

    Why: the int8 model keeps no batch statistics, so ``to_keras`` makes each batch norm the
    identity (mean 0, variance 1).  Training normalises by the batch's own statistics, so the
    first training step would turn the recovered network into another one (held-out US crops
    read 0.29 instead of 0.75 after a first epoch).  With mean ``m`` and deviation ``s`` of the
    input measured here, gamma = s, beta = m + bias and moving statistics (m, s^2) give the same
    output in inference and, up to batch noise, in training.
    """
    stats = bn_input_stats(model, x, training=False)
    for lyr, m, v in stats:
        gamma, beta, _, _ = lyr.get_weights()
        v = np.maximum(v, 1e-4)
        lyr.set_weights([np.sqrt(v + lyr.epsilon).astype(np.float32) * gamma, (beta + m * gamma).astype(np.float32),
                         m.astype(np.float32), v.astype(np.float32)])
    return len(stats)


def bn_input_stats(model: Any, x: np.ndarray, training: bool,
                   batch: int = 128) -> list[tuple[Any, np.ndarray, np.ndarray]]:
    """(layer, mean, variance) of every batch norm's input over ``x``, per channel, the network run
    in training or inference mode; by batches (the first layers' maps of 4000 crops would take
    gigabytes)."""
    import keras
    from keras import layers as L

    bns = [lyr for lyr in model.layers if isinstance(lyr, L.BatchNormalization)]
    if not bns:
        return []
    probe = keras.Model(model.inputs, [lyr.input for lyr in bns])
    sums = [np.zeros(int(lyr.input.shape[-1])) for lyr in bns]
    squares = [np.zeros_like(v) for v in sums]
    rows = [0] * len(bns)
    for i in range(0, len(x), batch):
        feats = probe(x[i : i + batch].astype(np.float32), training=training)
        for k, f in enumerate(feats if isinstance(feats, list | tuple) else [feats]):
            f = np.asarray(f, np.float64).reshape(-1, f.shape[-1])
            sums[k] += f.sum(0)
            squares[k] += (f * f).sum(0)
            rows[k] += len(f)
    means = [v / n for v, n in zip(sums, rows)]
    return [(lyr, m, q / n - m * m) for lyr, m, q, n in zip(bns, means, squares, rows)]


def recover(path: Path, n_regions: int | None = None) -> tuple[Any, list[str]]:
    """A Keras reader of ``path``'s head with its weights (``n_regions`` may differ: that layer is then new)."""
    from scripts.train import reader_model as rm

    side = json.loads(path.with_suffix(".json").read_text())
    model = rm.build(n_regions or len(side["regions"]), side["head"], side.get("context_blocks", 0))
    return model, to_keras(model, int8_constants(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="an int8 reader .tflite with its sidecar")
    ap.add_argument("--out", type=Path, required=True, help="where to write the float .weights.h5")
    ap.add_argument("--check", action="store_true", help="compare with the int8 model on 300 real dev crops")
    args = ap.parse_args()
    from scripts.train import tfcommon

    tfcommon.setup_tf(2)
    model, missing = recover(args.model)
    if missing:
        sys.exit(f"{args.model}: no int8 tensor for layers {missing}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(args.out)
    print(f"wrote {args.out}")
    if args.check:
        from edge_alpr.engine.runtime import interpreter_class
        from scripts.data import datasets
        from scripts.data import reader_data as rd

        items = datasets.ocr_items("dev")[::3][:300]
        x = rd.real(items)[0]
        fk = model.predict(x, verbose=0)[0]
        interp = interpreter_class()[0](model_path=str(args.model))
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        outs = [o for o in interp.get_output_details() if len(o["shape"]) == 3]
        agree = []
        for i in range(len(x)):
            interp.set_tensor(inp["index"], x[i : i + 1])
            interp.invoke()
            o = outs[0]
            s, z = o["quantization"]
            q = (interp.get_tensor(o["index"]).astype(np.float32) - z) * s
            agree.append(float(np.mean(q[0].argmax(-1) == fk[i].argmax(-1))))
        print(f"argmax agreement per position, float recovered vs int8: {np.mean(agree):.4f} over {len(x)} crops")


if __name__ == "__main__":
    main()
