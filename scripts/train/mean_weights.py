"""The elementwise mean of float checkpoints of one reader network, as one checkpoint.

Why: two points of one training run (a run and its continuation) lie in one basin; their mean
is the cheapest weight average (``swa.py`` gives the argument) and costs no training.  Every
variable is averaged, batch-norm moving statistics included: the points are close enough that
the mean of their statistics stands for the statistics of the mean.  ``train_reader.py
--epochs 0 --init MEAN`` then exports it to int8 (calibrated on that run's data).

    python -m scripts.train.mean_weights --context 4 --regions-from models/quantized/reader_ctc_v3.json \\
        A.weights.h5 B.weights.h5 --out MEAN.weights.h5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from scripts.train import tfcommon


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path, nargs="+", help="float checkpoints (.weights.h5) of one network")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--head", choices=("ctc", "attention", "dense"), default="ctc")
    ap.add_argument("--context", type=int, default=0, metavar="BLOCKS", help="the network's context blocks")
    ap.add_argument("--regions-from", type=Path, required=True,
                    help="a sidecar or run.json whose region list the network was built with")
    args = ap.parse_args()
    if len(args.weights) < 2:
        ap.error("give at least two checkpoints to average")
    tfcommon.setup_tf(2)
    from scripts.train import reader_model as rm

    regions = json.loads(args.regions_from.read_text())["regions"]
    model = rm.build(len(regions), args.head, args.context)
    total: list[np.ndarray] | None = None
    for path in args.weights:
        model.load_weights(path)
        w = [np.asarray(v, np.float64) for v in model.get_weights()]
        total = w if total is None else [t + x for t, x in zip(total, w)]
    assert total is not None
    model.set_weights([(t / len(args.weights)).astype(np.float32) for t in total])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(args.out)
    print(f"wrote the mean of {len(args.weights)} checkpoints ({len(total)} variables) to {args.out}")


if __name__ == "__main__":
    main()
