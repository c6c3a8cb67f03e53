"""Put a retrained region layer into an int8 reader, leaving every other tensor as it is.

Why: a reader's region layer can learn more (the countries a teacher named for real plates:
``train_reader.py --region-only --teacher-regions``) without the rest of the network changing,
but exporting the retrained float model quantises the whole network anew, and its character
probabilities then move too (US dev crops: 2 of 111 read otherwise after a region-only stage).
Here only the fully connected layer before the region softmax changes: its int8 weights and
int32 bias are quantised per output channel from the float weights, and its int8 logits get the
range the float logits span on real crops and rendered plates.  The text output stays the
shipped model's to the bit (checked on crops before writing).

    python -m scripts.train.splice_region $CACHE/reader_ctc_v2.tflite $CACHE/reader_ctc_r1.weights.h5 \\
        --regions-from $CACHE/reader_ctc_v2.json --out models/quantized/reader_ctc_v3.tflite

(``make models`` runs it so; the int8 model's own sidecar must list the same regions.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from scripts.data import datasets
from scripts.data import reader_data as rd
from scripts.train import reader_model as rm
from scripts.train import tfcommon


def region_ops(m: Any) -> tuple[Any, Any, Any]:
    """The fully connected operator feeding the region softmax, and its logits and input tensors' indices."""
    from tensorflow.lite.python import schema_py_generated as S

    g = m.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    region_out = [t for t in g.outputs if len(g.tensors[t].shape) == 2]
    if len(region_out) != 1:
        raise SystemExit(f"expected one 2-D (region) output, found {len(region_out)}")
    made_by = {t: op for op in g.operators for t in op.outputs}
    softmax = made_by[region_out[0]]
    fc = made_by[softmax.inputs[0]]
    if (codes[fc.opcodeIndex], codes[softmax.opcodeIndex]) != (S.BuiltinOperator.FULLY_CONNECTED,
                                                               S.BuiltinOperator.SOFTMAX):
        raise SystemExit("the region output is not made by FULLY_CONNECTED -> SOFTMAX")
    return fc, softmax.inputs[0], fc.inputs[0]


def calibration_crops(n: int = 3000) -> np.ndarray:
    """Real train crops, train scene plates and rendered plates: what the logits' range must hold."""
    split = datasets.reader_holdout(datasets.HOLDOUT_EVERY, 0, datasets.TEACHER_CONF)
    rx = rd.real(split.ocr_train)[0]
    cx = rd.det_crops(split.det_train)[0]
    sx = rd.synthetic(60000, workers=2, seed=1)[0]
    rng = np.random.default_rng(0)
    parts = [a[rng.choice(len(a), min(len(a), n // 3), replace=False)] for a in (rx, cx, sx)]
    return np.concatenate(parts)


def splice(tflite: Path, weights: Path, regions: list[str], out: Path) -> dict[str, Any]:
    """Write ``out``: ``tflite`` with the region layer of ``weights``; what ``check`` found."""
    from tensorflow.lite.tools import flatbuffer_utils as fu

    model = rm.build(len(regions), "ctc")
    model.load_weights(weights)
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_layer("region").get_weights())
    import keras

    features = keras.Model(model.inputs, model.get_layer("region").input)
    crops = calibration_crops()
    logits = np.concatenate([np.asarray(features(crops[i : i + 256].astype(np.float32)), np.float64)
                             for i in range(0, len(crops), 256)]) @ kernel + bias
    m = fu.read_model(str(tflite))
    g = m.subgraphs[0]
    fc, logits_t, feat_t = region_ops(m)
    w_t, b_t = g.tensors[fc.inputs[1]], g.tensors[fc.inputs[2]]
    if list(w_t.shape) != [kernel.shape[1], kernel.shape[0]]:
        raise SystemExit(f"region weights {list(w_t.shape)} in {tflite}, {list(kernel.T.shape)} in {weights}")
    in_scale = float(g.tensors[feat_t].quantization.scale[0])
    w = kernel.T  # TFLite: (out, in)
    w_scale = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127.0
    w_q = np.clip(np.round(w / w_scale[:, None]), -127, 127).astype(np.int8)
    b_q = np.round(bias / (in_scale * w_scale)).astype(np.int32)
    lo, hi = min(0.0, float(logits.min())), max(0.0, float(logits.max()))
    out_scale = (hi - lo) / 255.0
    out_zp = int(np.clip(np.round(-128 - lo / out_scale), -128, 127))
    m.buffers[w_t.buffer].data = np.frombuffer(w_q.tobytes(), np.uint8)
    m.buffers[b_t.buffer].data = np.frombuffer(b_q.tobytes(), np.uint8)
    w_t.quantization.scale, w_t.quantization.zeroPoint = list(w_scale), [0] * len(w_scale)
    b_t.quantization.scale, b_t.quantization.zeroPoint = list(in_scale * w_scale), [0] * len(w_scale)
    lq = g.tensors[logits_t].quantization
    lq.scale, lq.zeroPoint = [out_scale], [out_zp]
    if lq.min is not None:
        lq.min, lq.max = [lo], [hi]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.tflite")
    fu.write_model(m, str(tmp))
    try:
        same_elsewhere(tflite, tmp, {fc.inputs[1], fc.inputs[2], logits_t})
        report = check(tflite, tmp, crops, np.argmax(logits, axis=1))
    except BaseException:
        tmp.unlink()
        raise
    tmp.replace(out)
    return report


def same_elsewhere(old: Path, new: Path, changed: set[int]) -> None:
    """Every tensor but ``changed`` keeps its bytes, shape, type and quantisation, every operator
    its inputs and outputs: the splice touched the region layer and nothing else."""
    from tensorflow.lite.tools import flatbuffer_utils as fu

    a, b = fu.read_model(str(old)), fu.read_model(str(new))
    ga, gb = a.subgraphs[0], b.subgraphs[0]
    if len(ga.tensors) != len(gb.tensors) or len(ga.operators) != len(gb.operators):
        raise SystemExit("the spliced model's graph differs: nothing written")

    def quant(t: Any) -> tuple:
        q = t.quantization
        return (None,) if q is None else (None if q.scale is None else list(q.scale),
                                          None if q.zeroPoint is None else list(q.zeroPoint))

    def data(m: Any, t: Any) -> bytes:
        d = m.buffers[t.buffer].data
        return b"" if d is None else bytes(np.asarray(d, np.uint8))

    for i, (ta, tb) in enumerate(zip(ga.tensors, gb.tensors)):
        if i in changed:
            continue
        if (list(ta.shape), ta.type, quant(ta), data(a, ta)) != (list(tb.shape), tb.type, quant(tb), data(b, tb)):
            raise SystemExit(f"the splice changed tensor {i} ({ta.name!r}) beside the region layer: nothing written")
    if any(list(x.inputs) != list(y.inputs) or list(x.outputs) != list(y.outputs)
           for x, y in zip(ga.operators, gb.operators)):
        raise SystemExit("the spliced model's operators differ: nothing written")


def check(old: Path, new: Path, crops: np.ndarray, float_region: np.ndarray) -> dict[str, Any]:
    """Text outputs bit-identical; the new region's argmax as the float layer's on most crops."""
    from ai_edge_litert.interpreter import Interpreter

    def run(path: Path) -> tuple[np.ndarray, np.ndarray]:
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
        inp = it.get_input_details()[0]["index"]
        outs = sorted(it.get_output_details(), key=lambda d: len(d["shape"]))
        region, chars = [], []
        for c in crops[::3]:
            it.set_tensor(inp, c[None].astype(np.uint8))
            it.invoke()
            region.append(it.get_tensor(outs[0]["index"])[0].copy())
            chars.append(it.get_tensor(outs[1]["index"])[0].copy())
        return np.array(chars), np.array(region)

    old_chars, old_region = run(old)
    new_chars, new_region = run(new)
    if not np.array_equal(old_chars, new_chars):
        raise SystemExit(f"the spliced model's text output differs from {old}'s: nothing written")
    return {"crops_checked": len(new_chars), "text_output_identical": True,
            "region_argmax_as_float": float(np.mean(new_region.argmax(1) == float_region[::3])),
            "region_argmax_changed": float(np.mean(new_region.argmax(1) != old_region.argmax(1)))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tflite", type=Path, help="the int8 reader whose region layer is replaced")
    ap.add_argument("weights", type=Path, help="float weights (.weights.h5) whose region layer goes in")
    ap.add_argument("--regions-from", type=Path, required=True, help="sidecar naming the regions of both")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    base = json.loads(args.regions_from.read_text())
    own = json.loads(args.tflite.with_suffix(".json").read_text())
    if base["regions"] != own.get("regions"):
        ap.error(f"--regions-from {args.regions_from} lists other regions than {args.tflite}'s sidecar")
    report = splice(args.tflite, args.weights, base["regions"], args.out)
    print(json.dumps(report), flush=True)
    keep = {k: v for k, v in own.items()
            if k not in ("name", "version", "file", "sha256", "size_bytes", "created", "command", "inputs",
                         "outputs", "calibration", "dev_metrics", "recipe")}
    keep["region_layer"] = {"from": str(args.weights), "spliced_into": args.tflite.name, **report}
    tfcommon.write_sidecar(args.out, keep)
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
