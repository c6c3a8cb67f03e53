"""The shipped int8 detector on a wide band canvas (320 wide, ``--height`` high): every weight unchanged.

Why: a 16:9 camera frame letterboxed into the square 320 x 320 canvas fills only 320 x 180 of
it, and the detector runs its whole network over the padding above and below (44 % of the
canvas), for the whole-image pass and for each 16:9 tile.  This writes the same model with a
320 x ``height`` input: only shapes change (the input, the constant shapes of the RESHAPE ops
that do the network's nearest-neighbour upsampling, and each tensor's stored shape as the
runtime resolves it); weights, quantisation and operators are byte for byte the shipped
model's.  The image is seen at the same scale as on the square canvas, so the maps agree with
the square model's wherever the network does not see the canvas edge.

    python -m scripts.train.band_detector models/quantized/detector_v4.tflite [--height 192]

writes ``detector_band_v<N>.tflite`` and its sidecar beside the source (``--out-dir`` elsewhere):
the sidecar is the source's with the new shapes, the new sha256 and ``band_of`` (the source's
file name and sha256), which the runtime checks so that a band model only runs beside the
detector it was made from.  The band model scores plates a little lower (the network sees less
fill around the image), so the sidecar also holds a score transfer: the square model's mean plate
probability at each level of the band model's map, over the same cells of the detector's train
scenes as 1280x720 frames (``--every``), which the runtime applies to the band's map.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

STRIDE_ALL = 32  # the network halves its input five times before upsampling: a height must be a multiple


def rewrite(src: Path, dst: Path, height: int) -> None:
    """Write ``dst``: ``src`` with a 1 x ``height`` x W x 3 input and every shape that follows from it."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fu

    model = fu.read_model(str(src))
    graph = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    size = int(graph.tensors[graph.inputs[0]].shape[1])
    if height % STRIDE_ALL or not 0 < height <= size:
        raise SystemExit(f"--height {height}: must be a multiple of {STRIDE_ALL} up to the model's {size}")
    graph.tensors[graph.inputs[0]].shape[1] = height
    if graph.tensors[graph.inputs[0]].shapeSignature is not None:
        graph.tensors[graph.inputs[0]].shapeSignature[1] = height
    for op in graph.operators:
        if codes[op.opcodeIndex] != schema.BuiltinOperator.RESHAPE:
            continue
        # entry 1 of every reshape is the feature map's height (NHWC, or NH?W? while upsampling)
        buf = model.buffers[graph.tensors[op.inputs[1]].buffer]
        shape = np.frombuffer(bytes(buf.data), np.int32).copy()
        if shape[1] * height % size:
            raise SystemExit(f"reshape to {shape.tolist()}: height {shape[1]} does not scale to {height}")
        shape[1] = shape[1] * height // size
        buf.data = np.frombuffer(shape.tobytes(), np.uint8)
        if op.builtinOptions is not None and getattr(op.builtinOptions, "newShape", None) is not None:
            op.builtinOptions.newShape = shape.tolist()
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(tmp) / "band.tflite"
        fu.write_model(model, str(first))
        resolved = _resolved_shapes(first)
    for i, t in enumerate(graph.tensors):
        if i in resolved and t.shape is not None and len(t.shape) == len(resolved[i]):
            t.shape = np.array(resolved[i], np.int32)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fu.write_model(model, str(dst))


def _resolved_shapes(path: Path) -> dict[int, list[int]]:
    """Each tensor's shape as the built-in kernels resolve it (the delegate reads stored shapes)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return {d["index"]: [int(v) for v in d["shape"]] for d in it.get_tensor_details()}


def sidecar(src: Path, dst: Path) -> dict:
    """The source's sidecar with the band model's shapes and hash, and ``band_of`` naming the source."""
    from ai_edge_litert.interpreter import Interpreter

    meta = json.loads(src.with_suffix(".json").read_text())
    it = Interpreter(model_path=str(dst))
    it.allocate_tensors()
    for key, details in (("inputs", it.get_input_details()), ("outputs", it.get_output_details())):
        by_name = {d["name"]: d for d in details}
        for e in meta[key]:
            e["shape"] = [int(v) for v in by_name[e["name"]]["shape"]] if e.get("name") in by_name else e["shape"]
    meta["band_of"] = {"file": src.name, "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}
    meta["sha256"] = hashlib.sha256(dst.read_bytes()).hexdigest()
    meta["name"] = dst.stem.rsplit("_v", 1)[0]
    return meta


def paired_maps(src: Path, dst: Path, frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every cell of the band model's plate map beside the square model's for the same canvas rows
    (the band canvas is the square canvas's middle rows: same scale, same fill), XNNPACK as served."""
    from ai_edge_litert.interpreter import Interpreter

    from edge_alpr.engine.preprocess import letterbox, letterbox_to

    its = {}
    for path in (src, dst):
        its[path] = Interpreter(model_path=str(path))
        its[path].allocate_tensors()

    def plate_map(path: Path, canvas: np.ndarray) -> np.ndarray:
        it = its[path]
        it.set_tensor(it.get_input_details()[0]["index"], canvas[None])
        it.invoke()
        out = next(d for d in it.get_output_details() if d["shape"][-1] == 1)
        scale, zp = out["quantization"]
        return (it.get_tensor(out["index"])[0, ..., 0].astype(np.float64) - zp) * scale

    size = int(its[src].get_input_details()[0]["shape"][1])
    height = int(its[dst].get_input_details()[0]["shape"][1])
    stride = size // plate_map(src, np.zeros((size, size, 3), np.uint8)).shape[0]
    band, square = [], []
    for frame in frames:
        sq, lb = letterbox(frame, size)
        bd, blb = letterbox_to(frame, size, height)
        if lb.scale != blb.scale:
            continue  # does not fit the band at the square's scale: the runtime keeps it square
        a, b = plate_map(src, sq), plate_map(dst, bd)
        shift = (size - height) // 2 // stride
        band.append(b.ravel())
        square.append(a[shift : shift + b.shape[0]].ravel())
    return np.concatenate(band), np.concatenate(square)


def fit_transfer(band: np.ndarray, square: np.ndarray) -> tuple[list[float], list[float]]:
    """E[square | band] at each level the band's int8 map takes, made monotone (pool adjacent violators)."""
    from edge_alpr.engine.calibration import pav

    levels, inverse = np.unique(np.round(band, 6), return_inverse=True)
    sums = np.bincount(inverse, weights=square)
    counts = np.bincount(inverse)
    fitted = pav(sums / counts, counts)
    return levels.tolist(), [round(float(v), 6) for v in fitted]


def train_frames(every: int) -> list[np.ndarray]:
    """The detector's train scenes (its held-out ones left out) as 1280x720 frames, each with its middle
    3x3 tile (a 16:9 window at the tiles' scale): every ``every``-th."""
    from PIL import Image

    from scripts.data import datasets

    items = datasets.holdout(datasets.det_items("train", datasets.DET_SETS + datasets.TEACHER_SETS),
                             datasets.HOLDOUT_EVERY)[0][::every]
    out = []
    for it in items:
        frame = np.asarray(Image.open(it.path).convert("RGB").resize((1280, 720), Image.Resampling.BILINEAR))
        tw, th = int(1280 / 2.6), int(720 / 2.6)  # the default 3x3 tiles (overlap 0.2); the middle one
        x0, y0 = int(tw * 0.8), int(th * 0.8)
        out += [frame, np.ascontiguousarray(frame[y0 : y0 + th, x0 : x0 + tw])]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="the shipped detector, e.g. models/quantized/detector_v4.tflite")
    ap.add_argument("--height", type=int, default=192, help="band canvas height (multiple of 32; 192 holds 16:9)")
    ap.add_argument("--every", type=int, default=4, help="fit the score transfer on every N-th train scene")
    ap.add_argument("--out-dir", type=Path, help="where to write (default: beside the source)")
    args = ap.parse_args()
    version = args.src.stem.rsplit("_v", 1)[1]
    dst = (args.out_dir or args.src.parent) / f"detector_band_v{version}.tflite"
    rewrite(args.src, dst, args.height)
    frames = train_frames(args.every)
    band, square = paired_maps(args.src, dst, frames)
    levels, fitted = fit_transfer(band, square)
    meta = sidecar(args.src, dst)
    meta["score_transfer"] = {
        "band": levels, "square": fitted, "cells": int(band.size), "frames": len(frames),
        "data": f"every {args.every}th train scene of the detection sets (held-out scenes left out), resized "
                "to 1280x720, and its middle 3x3 tile",
        "why": "the band model scores a plate a little lower than the square model (the network sees "
               "less fill around the image); this maps its plate map onto the square's, so thresholds, "
               "tile gate, rescue and dscore calibration hold for both",
    }
    dst.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    lit = square >= 0.3
    after = np.interp(band, levels, fitted)
    print(f"wrote {dst} ({dst.stat().st_size} bytes, sha256 {meta['sha256'][:12]}); {len(frames)} frames; "
          f"cells the square map puts at >= 0.3: mean band - square {np.mean(band[lit] - square[lit]):+.4f}, "
          f"after the transfer {np.mean(after[lit] - square[lit]):+.4f} "
          f"(mean |difference| {np.mean(np.abs(band[lit] - square[lit])):.4f} -> "
          f"{np.mean(np.abs(after[lit] - square[lit])):.4f})")


if __name__ == "__main__":
    main()
