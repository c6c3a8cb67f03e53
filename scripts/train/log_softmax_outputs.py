"""Rewrite a reader's int8 char SOFTMAX into an int8 LOG_SOFTMAX (same weights, same calibration).

Why: an int8 softmax output has a step of 1/256, so every probability under 1/512 becomes exactly
0.  The paired reader multiplies the two heads' string probabilities, and one such zero vetoes a
string whatever the other head says: on held-out scene plates one read in five scored 0.  The
converter's int8 LOG_SOFTMAX has a fixed step of 1/16 in log space (zero point 127), so it keeps
probabilities down to e^-15.9 (1.2e-7) and the top ones to about 6 %.  Only the last op of the
char output changes; every other tensor, and the model's all-int8 status, stay as they were.
The sidecar records ``char_output: log_softmax`` and the runtime exponentiates.

    python -m scripts.train.log_softmax_outputs models/quantized/reader_v3.tflite /tmp/out/reader_v4.tflite
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from scripts.train import tfcommon

# TFLite's int8 LOG_SOFTMAX kernel requires exactly this output quantisation.
LOG_SOFTMAX_SCALE, LOG_SOFTMAX_ZERO_POINT = 16.0 / 256.0, 127


def rewrite(src: Path, dst: Path, char_classes: int) -> int:
    """Write ``dst``: ``src`` with the SOFTMAX that produces the char output made a LOG_SOFTMAX.

    Returns the index of the rewritten operator.  The char output is the graph output whose last
    dimension is ``char_classes`` (alphabet + pad/blank), as the runtime picks it.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fu

    model = fu.read_model(str(src))
    graph = model.subgraphs[0]
    chars = [i for i in graph.outputs if int(graph.tensors[i].shape[-1]) == char_classes]
    if len(chars) != 1:
        raise SystemExit(f"{src}: expected one output with last dimension {char_classes}, found {len(chars)}")
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    producers = [k for k, op in enumerate(graph.operators) if chars[0] in list(op.outputs)]
    op = graph.operators[producers[0]]
    if codes[op.opcodeIndex] != schema.BuiltinOperator.SOFTMAX:
        raise SystemExit(f"{src}: the char output is not made by a SOFTMAX (already rewritten?)")
    if schema.BuiltinOperator.LOG_SOFTMAX not in codes:
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.LOG_SOFTMAX
        code.version = 2  # the int8 kernel
        model.operatorCodes.append(code)
        codes.append(schema.BuiltinOperator.LOG_SOFTMAX)
    op.opcodeIndex = codes.index(schema.BuiltinOperator.LOG_SOFTMAX)
    op.builtinOptionsType = schema.BuiltinOptions.LogSoftmaxOptions
    op.builtinOptions = schema.LogSoftmaxOptionsT()
    quant = graph.tensors[chars[0]].quantization
    quant.scale, quant.zeroPoint = [LOG_SOFTMAX_SCALE], [LOG_SOFTMAX_ZERO_POINT]
    dst.parent.mkdir(parents=True, exist_ok=True)
    fu.write_model(model, str(dst))
    return producers[0]


# |p_new - p_old| the two quantisations allow: a log step of 1/16 at p near 1 (1 - e^-1/16 = 0.061)
# plus the softmax's step of 1/256
MAX_CHANGE = 0.07


def check(src: Path, dst: Path, char_classes: int, samples: int = 20) -> float:
    """Largest |p_new - p_old| over random uint8 inputs: the rewrite must not move the probabilities
    by more than the two quantisation steps allow (``MAX_CHANGE``)."""
    from ai_edge_litert.interpreter import Interpreter

    def run(path: Path, x: np.ndarray) -> np.ndarray:
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        out = next(d for d in it.get_output_details() if d["shape"][-1] == char_classes)
        scale, zp = out["quantization"]
        return (it.get_tensor(out["index"]).astype(np.float64) - zp) * scale

    shape = json.loads(src.with_suffix(".json").read_text())["inputs"][0]["shape"]
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(samples):
        x = rng.integers(0, 256, shape, dtype=np.uint8)
        worst = max(worst, float(np.abs(np.exp(run(dst, x)) - run(src, x)).max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="a reader .tflite with its sidecar beside it")
    ap.add_argument("dst", type=Path, help="where to write the rewritten model (<name>_v<N>.tflite)")
    args = ap.parse_args()
    stem = args.dst.stem.rsplit("_v", 1)
    if args.dst.suffix != ".tflite" or len(stem) != 2 or not stem[1].isdigit():
        ap.error(f"{args.dst}: name the rewritten model <name>_v<N>.tflite (the loader finds models by that name)")
    if args.dst.resolve() == args.src.resolve():
        ap.error("dst is src: write the rewritten model under a new version number")
    side = json.loads(args.src.with_suffix(".json").read_text())
    if side.get("kind") != "reader" or side.get("char_output", "softmax") != "softmax":
        raise SystemExit(f"{args.src}: not a reader with softmax char outputs (kind {side.get('kind')!r}, "
                         f"char_output {side.get('char_output')!r})")
    classes = len(side["alphabet"]) + 1
    op = rewrite(args.src, args.dst, classes)
    worst = check(args.src, args.dst, classes)
    print(f"{args.dst}: operator {op} SOFTMAX -> LOG_SOFTMAX; largest probability change on random inputs "
          f"{worst:.4f}", flush=True)
    if worst > MAX_CHANGE:
        args.dst.unlink()
        raise SystemExit(f"{args.dst}: probabilities moved by {worst:.4f} > {MAX_CHANGE}: the rewrite is wrong; "
                         "removed it")
    # dev metrics belong to the source model: measure this one with evaluate.py --write-sidecars
    keep = {k: v for k, v in side.items() if k not in (*tfcommon.GENERATED_SIDECAR_KEYS, "dev_metrics")}
    keep["char_output"] = "log_softmax"
    keep["rewritten_from"] = {"file": side["file"], "sha256": side["sha256"], "change": "char SOFTMAX -> LOG_SOFTMAX",
                              "dev_metrics_of_source": side.get("dev_metrics")}
    tfcommon.write_sidecar(args.dst, keep)


if __name__ == "__main__":
    main()
