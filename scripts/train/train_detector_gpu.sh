#!/usr/bin/env bash
# Run train_detector_stream.py on a GPU machine (PyTorch installed, no network).
#
# Expects, beside the checkout (both git-ignored, copied there with the checkout; both made here by
# `bash scripts/train/prep_gpu.sh detector [pack_gpu_data.py flags]`):
#   .whl/  keras, namex and optree wheels for that machine's Python (3.12)
#   .gpu/  made by scripts/data/pack_gpu_data.py: the TRAIN rows of the detection sets (JPEG q72, to fit
#          the 64 MiB transfer), the OCR crops --paste-crops pastes (downscaled), fonts/, and the
#          --init weights of the candidates
# and writes the candidates' weights and the log to $OUT (default: out/).
#
# On an H100 GPU ( Keras torch backend, eager): two width-3 candidates learned from the
# same batches of 128 at 333 samples/s together, with no wait for data on 14 workers.
#
#   SECONDS_TRAIN=450 bash scripts/train/train_detector_gpu.sh                 # stage A's three widths
#   bash scripts/train/train_detector_gpu.sh --batch 256 --seed 20000 \
#       --candidate w3e:3.0:1e-3:.gpu/detector_w3c.weights.h5           # any other stage
#   bash scripts/train/train_detector_gpu.sh --batch 128 --canvas 352x576 --zoom 0.5,1.5 \
#       --sets andrewmvd,romanian,openimages_lp,experiment_plates,rxg4e \
#       --candidate one:3.0:1e-3:.gpu/detector_v4.weights.h5            # a one-pass detector for 16:9 frames
#   (pack with: python -m scripts.data.pack_gpu_data --sets <the same> --init /tmp/edge_alpr_cache/detector_v4.weights.h5;
#    then here: python -m scripts.eval.canvas_probe --canvas 352x576 --weights OUT/detector_one.weights.h5)
#
# Arguments, when given, replace the default batch and candidates (stage A, the first GPU run).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site KERAS_BACKEND=torch EDGE_ALPR_DATA=$PWD/.gpu/data PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
if [ $# -eq 0 ]; then
  set -- --batch 64 --candidate w1:1.0:1e-3:.gpu/detector_stage4.weights.h5 \
    --candidate w2:2.0:3e-3 --candidate w3:3.0:3e-3
fi
python3 -m scripts.train.train_detector_stream --seconds "${SECONDS_TRAIN:-450}" --workers "${WORKERS:-14}" \
  --fonts .gpu/fonts --out-dir "$OUT" "$@" 2>&1 | tee "$OUT/train.log"
