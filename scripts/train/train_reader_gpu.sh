#!/usr/bin/env bash
# Run train_reader_gpu.py on an accelerator machine (JAX installed, no TensorFlow, no network).
#
# Expects, beside the checkout (both git-ignored, copied there with the checkout; both made here by
# `bash scripts/train/prep_gpu.sh reader [pack_reader_gpu.py flags]`):
#   .whl/         keras, namex and optree wheels for that machine's Python (3.12)
#   .gpu/reader/  made by scripts/data/pack_reader_gpu.py: the real training and held-out crops, the
#                 fonts, background scenes and each head's starting weights
# and writes each head's float weights, the log and run.json to $OUT (default: out/); the weights and
# run.json every minute too, so a run cut off at the call's limit still leaves one to export.
# Then, here: python -m scripts.train.export_reader --run OUT_FOLDER --out-dir /tmp/gpu_readers
#
#   SECONDS_TRAIN=390 bash scripts/train/train_reader_gpu.sh [extra train_reader_gpu.py flags]
#   SECONDS_TRAIN=390 bash scripts/train/train_reader_gpu.sh --heads ctc --context 4   # the next run
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site KERAS_BACKEND=jax PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
# what the trainer and Keras import, named before a traceback deep in Keras would (optree, say, is
# there but cannot import without typing_extensions)
python3 - <<'PY'
import importlib.util
import sys

needed = ("jax", "keras", "namex", "optree", "typing_extensions", "h5py", "ml_dtypes", "rich", "absl",
          "packaging", "numpy", "cv2", "PIL")
missing = [m for m in needed if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"{sys.executable} cannot import {', '.join(missing)}: add their wheels to .whl/ "
             "(scripts/train/prep_gpu.sh downloads keras, namex and optree) and carry it")
PY
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -m scripts.train.train_reader_gpu --pack .gpu/reader --out "$OUT" --seconds "${SECONDS_TRAIN:-390}" \
  --workers "${WORKERS:-14}" "$@" 2>&1 | tee "$OUT/train.log"
