"""Turn the float weights of a ``train_reader_gpu.py`` run into int8 readers with sidecars.

Why here: the accelerator machine has no TensorFlow; the TFLite converter is only on this side.
Each head's weights load into the same network built with the TensorFlow backend, are
converted to full-integer TFLite (calibrated on the run's own real crops and freshly rendered
plates) and get a sidecar recording the run's data, schedule and held-out float reads.

    python -m scripts.train.export_reader --run /tmp/gpu_run --out-dir /tmp/gpu_readers
    # -> reader_v<N+1>.tflite (slot head) and/or reader_ctc_v<M+1>.tflite (the heads the run trained),
    #    each with its .json, numbered after the newest bundled reader of each kind
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edge_alpr.errors import ModelError
from scripts import REPO
from scripts.data import reader_data as rd
from scripts.train import reader_model as rm
from scripts.train import tfcommon, train_reader_gpu

KINDS = {"attention": "reader", "ctc": "reader_ctc"}


def next_name(kind: str) -> str:
    """``<kind>_v<N>`` one after the newest bundled model of ``kind``: an export never takes the
    name of a shipped model (the loader would take either for the other)."""
    from edge_alpr.engine.runtime import BUNDLED

    versions = [int(p.stem.rsplit("_v", 1)[1]) for p in BUNDLED.glob(f"{kind}_v*.tflite")]
    return f"{kind}_v{max(versions, default=0) + 1}"


def run_heads(run_dir: Path, run: dict, asked: str | None) -> list[str]:
    """The heads to export: those asked for, else those the run trained (its ``run.json``; a run
    from before it recorded them: the heads whose weights it left).  A head the run left no
    weights for is an error that names the heads it did leave, not a traceback from h5py."""
    left = [h for h in KINDS if (run_dir / f"reader_{h}.weights.h5").is_file()]
    heads = asked.split(",") if asked else run.get("heads", left)
    for head in heads:
        if head not in KINDS:
            raise ModelError(f"--heads {head!r}: expected some of {', '.join(KINDS)}")
        if head not in left:
            raise ModelError(f"--heads {head}: {run_dir} holds no reader_{head}.weights.h5 (the run trained "
                             f"{', '.join(left) or 'no head'}); export those with --heads {','.join(left)}")
    return heads


CALIB = 300


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="the folder train_reader_gpu.py wrote (weights, run.json)")
    ap.add_argument("--pack", type=Path, default=REPO / ".gpu" / "reader",
                    help="the pack the run trained on (its real crops calibrate the int8 ranges)")
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--heads", help="comma-separated, of attention,ctc (default: the heads the run trained)")
    args = ap.parse_args()
    if not (args.run / "run.json").is_file():
        ap.error(f"--run {args.run}: no run.json there (the folder train_reader_gpu.py wrote: its $OUT)")
    run = json.loads((args.run / "run.json").read_text())
    try:
        heads = run_heads(args.run, run, args.heads)
    except ModelError as e:
        ap.error(str(e))
    tfcommon.setup_tf(2)
    train = train_reader_gpu.load_crops(args.pack / "train.npz")
    # each scene plate is packed once as labelled and det_jitter times more (pack_reader_gpu --det-jitter)
    packed = sum(run["real_train_crops"].values()) + sum(run["scene_plates"].values()) * (1 + run.get("det_jitter", 0))
    if len(train["x"]) != packed:
        ap.error(f"--pack {args.pack} holds {len(train['x'])} crops, not the run's: pack again as the run was packed")
    synth_x, _, _ = rd._synth_chunk((7, CALIB // 2))
    rng = np.random.default_rng(0)
    calib_x = np.concatenate([synth_x, train["x"][rng.choice(len(train["x"]), CALIB - len(synth_x), replace=False)]])

    def calib():
        for i in range(len(calib_x)):
            yield [calib_x[i : i + 1].astype(np.float32)]

    for head in heads:
        blocks = run.get("context", 0) if head == "ctc" else 0
        model = rm.build(len(run["regions"]), head, blocks)
        model.load_weights(args.run / f"reader_{head}.weights.h5")
        out = args.out_dir / f"{next_name(KINDS[head])}.tflite"
        tfcommon.export_int8(model, calib, out)
        tfcommon.write_sidecar(out, {
            "kind": "reader",
            "head": head,
            "alphabet": rm.ALPHABET,
            **({"blank_index": rm.PAD, "text_rows": rm.CTC_ROWS} if head == "ctc" else {"pad_index": rm.PAD}),
            **({"context_blocks": blocks} if blocks else {}),
            "max_len": rm.MAX_LEN,
            "regions": run["regions"],
            "preprocess": {"input": "RGB uint8, plate crop stretched to input size (bilinear)",
                           "crop_margin_x": rd.MARGIN_X, "crop_margin_y": rd.MARGIN_Y},
            "training_data": {
                "trainer": "scripts/train/train_reader_gpu.py (both heads on the same batches)",
                "real_train_crops": run["real_train_crops"],
                "scene_plates_read": run["scene_plates"],
                "sampling_weights": run["weights"],
                "synthetic_plates": run["synthetic_plates"],
                "synthetic_share_of_batch": run["synth_share"],
                "teacher_min_conf": run["teacher_min_conf"],
                "init": run["init"][head],
                "held_out_every": run["held_out_every"],
                "held_out_offset": run["held_out_offset"],
                "steps": run["steps"], "batch": run["batch"], "lr": run["lr"],
                "train_seconds": run["train_seconds"], "device": run["devices"][0],
                # False: the run was cut short and this is its last save (held-out reads of an earlier step)
                "run_finished": run.get("finished", True),
                "held_out_float_exact": run["held_out_float_exact"][head],
            },
        })
        print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
