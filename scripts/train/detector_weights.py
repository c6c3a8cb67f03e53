"""Float Keras weights recovered from the shipped int8 detector, so a fine-tune can start from it.

Why: the detector's float checkpoints live in a training cache that a fresh build machine does
not have, while the int8 model and its sidecar are in the repository.  As for the readers
(``tflite_weights.py``), dequantizing the int8 tensors gives weights within one quantization
step of the float ones, and a fine-tune recovers the rest in its first steps.

How the int8 graph maps back: each convolution of the int8 graph names the Keras layer it came
from (``conv2d_15_1/convolution`` is Keras's ``conv2d_15``: export adds one ``_N`` suffix), and
has its batch norm folded in (the first also the model's ``Rescaling(1/255)``: the int8 input is
the raw pixel).  The Keras convolution gets the folded kernel; its batch norm gets
the input statistics measured on training samples (``tflite_weights.reestimate_bn``), so the
network computes the same function in inference and, up to batch noise, in training.
``--check`` compares the recovered float model with the int8 one on training samples: the
plate-probability maps must agree.

    python -m scripts.train.detector_weights models/quantized/detector_v4.tflite \\
        --out /tmp/edge_alpr_cache/detector_v4.weights.h5 --check
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

# the Keras layer a weight tensor of the int8 graph belongs to: the last "<layer>_<n>/" in its name
_LAYER = re.compile(r"(?<![A-Za-z_])((?:depthwise_)?conv2d(?:_\d+)?|prob|dist)_\d+/")


def width_of(sidecar: dict[str, Any]) -> float:
    """The width multiplier the detector was built with (its training record's last stage)."""
    stages = sidecar.get("training_data", {}).get("stages", [])
    if not stages or "width" not in stages[-1]:
        raise ValueError("the sidecar's training_data has no stages with a width; pass --width")
    return float(stages[-1]["width"])


def int8_layers(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Keras layer name -> (float kernel as the int8 graph holds it, folded float bias)."""
    from edge_alpr.engine.runtime import interpreter_class

    interp = interpreter_class()[0](model_path=str(path))
    interp.allocate_tensors()
    details = {d["index"]: d for d in interp.get_tensor_details()}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for op in interp._get_ops_details():  # the public API lists tensors, not which op uses them
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        wi, bi = int(op["inputs"][1]), int(op["inputs"][2])
        wd, bd = details[wi], details[bi]
        names = _LAYER.findall(wd["name"])
        if not names:
            raise ValueError(f"{path.name}: cannot tell the Keras layer of weight tensor {wd['name']!r}")
        q = wd["quantization_parameters"]
        shape = [1, 1, 1, 1]
        shape[int(q["quantized_dimension"])] = -1  # per-channel scales: output channels' axis
        scales = q["scales"].reshape(shape)
        w = (interp.get_tensor(wi).astype(np.float32) - q["zero_points"].reshape(shape)) * scales
        b = interp.get_tensor(bi).astype(np.float32) * bd["quantization_parameters"]["scales"]
        out[names[-1]] = (w, b)
    return out


def to_keras(model: Any, tensors: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[str]:
    """Fill ``model``'s convolutions from ``tensors``; returns the Keras layers left without one."""
    from keras import layers as L

    missing = []
    pending: np.ndarray | None = None
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            ws = layer.get_weights()
            if pending is None:
                missing.append(layer.name)
                continue
            layer.set_weights([np.ones_like(ws[0]), pending, np.zeros_like(ws[2]),
                               np.full_like(ws[3], 1 - layer.epsilon)])
            pending = None
            continue
        if not isinstance(layer, L.Conv2D | L.DepthwiseConv2D):
            continue
        name = layer.name
        if name not in tensors:
            missing.append(name)
            continue
        w, b = tensors.pop(name)
        if isinstance(layer, L.DepthwiseConv2D):
            k = w[0][..., None]  # (1, kh, kw, C) -> (kh, kw, C, 1)
        else:
            k = w.transpose(1, 2, 3, 0)  # (out, kh, kw, in) -> (kh, kw, in, out)
            if k.shape[2] == 3:  # the first one: the int8 input is the raw pixel, so the
                k = k * 255.0    # model's Rescaling(1/255) was folded into this kernel
        if layer.use_bias:
            layer.set_weights([k, b])
        else:
            layer.set_weights([k])
            pending = b
    missing += [f"(int8 only) {n}" for n in tensors]
    return missing


def samples(n: int, seed: int = 7) -> np.ndarray:
    """``n`` detector training samples (zoomed crops of train scenes, no synthetic plates)."""
    from scripts.data import datasets
    from scripts.train import detector_samples as ds

    items = datasets.det_items("train")
    rng = np.random.default_rng(seed)
    xs = []
    for _ in range(n):
        it = items[rng.integers(len(items))]
        xs.append(ds.sample(datasets.load_rgb(it.path), it.boxes, rng, 0.0)[0])
    return np.stack(xs)


def int8_prob(path: Path, x: np.ndarray) -> np.ndarray:
    """The int8 model's plate-probability maps of ``x`` (uint8 samples)."""
    from edge_alpr.engine.runtime import interpreter_class

    interp = interpreter_class()[0](model_path=str(path))
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = [o for o in interp.get_output_details() if o["shape"][-1] == 1][0]
    s, z = out["quantization"]
    maps = []
    for i in range(len(x)):
        interp.set_tensor(inp["index"], x[i : i + 1].astype(inp["dtype"]))
        interp.invoke()
        maps.append((interp.get_tensor(out["index"]).astype(np.float32) - z) * s)
    return np.concatenate(maps)


def write_record(weights: Path, model: Path, sidecar: dict[str, Any], bn_samples: int) -> None:
    """The int8 model's training stages plus this recovery, beside the weights.

    Why: ``train_detector_stream.py`` chains a fine-tune's record to its initial weights' record,
    and ``select_detector.py`` writes the chain into the exported sidecar, so a detector
    fine-tuned from recovered weights still says every stage that made it.
    """
    from scripts.train import train_detector_stream as ts

    stage = {"script": "scripts/train/detector_weights.py", "from": model.name,
             "sha256": sidecar.get("sha256"), "batch_norm_samples": bn_samples, "samples": 0}
    stages = sidecar.get("training_data", {}).get("stages", []) + [stage]
    ts.record_path(weights).write_text(json.dumps({"stages": stages}, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="an int8 detector .tflite with its sidecar")
    ap.add_argument("--out", type=Path, required=True, help="where to write the float .weights.h5")
    ap.add_argument("--width", type=float, default=0.0, help="width multiplier (default: from the sidecar)")
    ap.add_argument("--samples", type=int, default=256, help="training samples for the batch-norm statistics")
    ap.add_argument("--check", action="store_true", help="compare with the int8 model on 64 training samples")
    args = ap.parse_args()
    from scripts.train import detector_model as dm
    from scripts.train import tfcommon
    from scripts.train.tflite_weights import reestimate_bn

    tfcommon.setup_tf(2)
    sidecar = json.loads(args.model.with_suffix(".json").read_text())
    width = args.width or width_of(sidecar)
    model = dm.build(width)
    missing = to_keras(model, int8_layers(args.model))
    if missing:
        sys.exit(f"{args.model}: layers without a match: {missing}")
    x = samples(args.samples)
    print(f"batch norms re-estimated: {reestimate_bn(model, x.astype(np.float32))} on {len(x)} samples")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(args.out)
    write_record(args.out, args.model, sidecar, len(x))
    print(f"wrote {args.out} (width {width}) and its training record")
    if args.check:
        xc = samples(64, seed=11)
        fk = np.asarray(model.predict(xc.astype(np.float32), verbose=0)[0])
        q = int8_prob(args.model, xc)
        both = (fk > 0.5) | (q > 0.5)
        agree = float(np.mean((fk > 0.5) == (q > 0.5)))
        iou = float(np.sum((fk > 0.5) & (q > 0.5)) / max(1, np.sum(both)))
        print(f"plate-probability maps, float recovered vs int8, 64 samples: max |diff| "
              f"{float(np.max(np.abs(fk - q))):.3f}, mean |diff| {float(np.mean(np.abs(fk - q))):.4f}, "
              f"cells agreeing at 0.5 {agree:.4f}, IoU of plate cells {iou:.3f}")


if __name__ == "__main__":
    main()
