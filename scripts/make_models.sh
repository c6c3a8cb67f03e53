#!/usr/bin/env bash
# Train every shipped model from ../shared/data (train splits) plus synthetic plates, export
# int8 TFLite with sidecars, then measure on the dev splits and record the numbers.
# Needs the training extra:  pip install -e '.[train]'
# Wall time on the 2-core build machine: see models/quantized/*.json training_data.wall_time_s.
# The reader and the detector train side by side, one core each.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs
python3 -c "import tensorflow" 2>/dev/null || { echo "TensorFlow is missing: pip install -e '.[train]'" >&2; exit 2; }
echo "training reader and detector in parallel (logs/train_reader.log, logs/train_detector.log)..."
python3 scripts/train_reader.py --epochs "${READER_EPOCHS:-6}" --synthetic 70000 --real-repeat 8 --threads 1 > logs/train_reader.log 2>&1 &
reader=$!
python3 scripts/train_detector.py --epochs "${DETECTOR_EPOCHS:-14}" --variants 6 --threads 1 > logs/train_detector.log 2>&1 &
detector=$!
wait "$reader"
python3 scripts/train_vehicle.py --epochs "${VEHICLE_EPOCHS:-25}" --threads 1 > logs/train_vehicle.log 2>&1
wait "$detector"
python3 scripts/evaluate.py --write-sidecars | tee logs/evaluate.log
