#!/usr/bin/env bash
# Train every shipped model from ../shared/data (train splits) plus synthetic plates, export
# int8 TFLite with sidecars, then measure on the dev splits and record the numbers.
#
#   make models            (needs: pip install -e '.[train]'  and ../shared/data)
#
# Wall time on the 2-core build machine: about 10 hours (detector v3's three stages ~3.2 h and v4's
# stage F ~50 min; the
# CTC reader's two stages ~60 min on both cores) (reader stage 1 ~65 min and the detector
# ~60 min side by side, one core each; reader stage 2 ~17 min on both cores; reader stage 3 and
# detector stage 2 side by side ~30 min; reader v2 (attention head on the stage-3 trunk, ~50 min)
# then v3 (8 more epochs, ~45 min) beside detector stages 3 and 4 (~70 min); vehicle classifier
# ~2 min; detector threshold tuning and dev evaluation ~8 min), then reader_ctc v2: its GPU stage
# (two runs, 11 min on one NVIDIA H200; see below) and three CPU stages (~65 min on both cores),
# and reader_rows v1 (~31 min on both cores).
# Progress goes to logs/*.log.
#
# Earlier stages write their models to the cache; the shipped models are the last stage's:
# detector_v4, reader_v3, reader_ctc_v3, reader_rows_v1 and vehicle_v2 in models/quantized/ (detector_v2, stage 4,
# and detector_v3 stay in the cache).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p logs
CACHE=${EDGE_ALPR_CACHE:-/tmp/edge_alpr_cache}
export EDGE_ALPR_CACHE=$CACHE
python3 -c "import tensorflow" 2>/dev/null || { echo "TensorFlow is missing: pip install -e '.[train]'" >&2; exit 2; }

echo "[1/4] reader stage 1 and detector, in parallel (tail -f logs/train_reader.log logs/train_detector.log)"
python3 -m scripts.train.train_reader --head dense --epochs 6 --synthetic 70000 --real-repeat 8 --threads 1 \
  --out "$CACHE/reader_stage1.tflite" > logs/train_reader.log 2>&1 &
reader=$!
python3 -m scripts.train.train_detector --epochs 10 --variants 6 --threads 1 --eval-every 2 \
  --out "$CACHE/detector_stage1.tflite" > logs/train_detector.log 2>&1 &
detector=$!
wait "$reader"
cp "$CACHE/reader.weights.h5" "$CACHE/reader_stage1.weights.h5"
wait "$detector"

echo "[2/4] reader stage 2, both cores: fine-tune with more real crops, including plates cut"
echo "      from detection scenes the way the service cuts them (logs/train_reader2.log)"
python3 -m scripts.train.train_reader --head dense --init "$CACHE/reader_stage1.weights.h5" --epochs 5 --lr 1e-3 \
  --synthetic 70000 --synthetic-use 30000 --real-repeat 4 --det-crops 2 --threads 2 \
  --out "$CACHE/reader_stage2.tflite" > logs/train_reader2.log 2>&1
cp "$CACHE/reader.weights.h5" "$CACHE/reader_stage2.weights.h5"
cp "$CACHE/detector.weights.h5" "$CACHE/detector_stage1.weights.h5"

echo "[3/4] more training at a lower rate, side by side: reader stage 3 and detector stage 2"
echo "      (logs/train_reader3.log, logs/train_detector2.log)"
python3 -m scripts.train.train_reader --head dense --init "$CACHE/reader_stage2.weights.h5" --epochs 8 --lr 5e-4 \
  --synthetic 70000 --synthetic-use 40000 --real-repeat 4 --det-crops 2 --threads 2 \
  --out "$CACHE/reader_stage3.tflite" > logs/train_reader3.log 2>&1 &
reader=$!
python3 -m scripts.train.train_detector --init "$CACHE/detector_stage1.weights.h5" --epochs 3 --lr 5e-4 \
  --variants 6 --threads 1 --eval-every 3 --out "$CACHE/detector_stage2.tflite" > logs/train_detector2.log 2>&1
wait "$reader"
cp "$CACHE/reader.weights.h5" "$CACHE/reader_stage3.weights.h5"
cp "$CACHE/detector.weights.h5" "$CACHE/detector_stage2.weights.h5"

echo "      reader v2 (attention slot head, trunk from stage 3, stronger augmentation) then v3, and"
echo "      detector stages 3 and 4, side by side (logs/train_reader_v2.log, _v3.log, logs/train_detector3.log, 4.log)"
(python3 -m scripts.train.train_reader --trunk-from "$CACHE/reader_stage3.weights.h5" --epochs 10 --lr 1e-3 \
  --synthetic 60000 --synthetic-use 40000 --real-repeat 4 --det-crops 2 --threads 1 \
  --out "$CACHE/reader_v2.tflite" > logs/train_reader_v2.log 2>&1 &&
 cp "$CACHE/reader.weights.h5" "$CACHE/reader_v2.weights.h5" &&
 echo "      reader v3: reader v2 trained 8 more epochs at a lower rate (logs/train_reader_v3.log)" &&
 python3 -m scripts.train.train_reader --init "$CACHE/reader_v2.weights.h5" --epochs 8 --lr 5e-4 \
  --synthetic 60000 --synthetic-use 40000 --real-repeat 4 --det-crops 2 --threads 1 \
  > logs/train_reader_v3.log 2>&1) &
reader=$!
python3 -m scripts.train.train_detector --init "$CACHE/detector_stage2.weights.h5" --epochs 8 --lr 7e-4 \
  --variants 6 --threads 1 --eval-every 4 --out "$CACHE/detector_stage3.tflite" > logs/train_detector3.log 2>&1
cp "$CACHE/detector.weights.h5" "$CACHE/detector_stage3.weights.h5"
python3 -m scripts.train.train_detector --init "$CACHE/detector_stage3.weights.h5" --epochs 6 --lr 5e-4 \
  --variants 6 --threads 1 --eval-every 6 --out "$CACHE/detector_v2.tflite" > logs/train_detector4.log 2>&1
wait "$reader"
cp "$CACHE/reader.weights.h5" "$CACHE/reader_v3.weights.h5"

echo "      detector v3: 3x wider, from scratch on freshly streamed samples, every 10th train image"
echo "      held out (logs/train_detector_stream_{a,b,c}.log).  About 3.2 h here; stages A and B took"
echo "      12 min on an H200 GPU (KERAS_BACKEND=torch, scripts/train/train_detector_gpu.sh)"
# The shipped run scheduled by wall time (warm-up 15 s, 5 s, 30 s); these step counts and warm-ups
# replay it approximately.  All three stages keep the default --seed, as the shipped run did (so B
# and C revisit some of A's samples); stages A and B there read JPEG q72 re-encodings of the images.
python3 -m scripts.train.train_detector_stream --steps 1162 --warmup 15 --batch 64 --workers 1 \
  --candidate w3:3.0:3e-3 --out-dir "$CACHE/stream_a" > logs/train_detector_stream_a.log 2>&1
python3 -m scripts.train.train_detector_stream --steps 1588 --warmup 10 --batch 64 --workers 1 \
  --candidate w3:3.0:1.5e-3:"$CACHE/stream_a/detector_w3.weights.h5" --out-dir "$CACHE/stream_b" \
  > logs/train_detector_stream_b.log 2>&1
python3 -m scripts.train.train_detector_stream --steps 8024 --warmup 40 --batch 16 --workers 1 \
  --candidate w3:3.0:6e-4:"$CACHE/stream_b/detector_w3.weights.h5" --out-dir "$CACHE/stream_c" \
  > logs/train_detector_stream_c.log 2>&1
echo "      int8 export, and F1 on the held-out train images beside detector v2 (logs/select_detector.log)"
mkdir -p "$CACHE/baseline_v2"
cp "$CACHE/detector_v2.tflite" "$CACHE/detector_v2.json" models/quantized/reader_v*.* models/quantized/vehicle_v*.* \
  "$CACHE/baseline_v2/"
python3 -m scripts.eval.select_detector --work "$CACHE/cand" --baseline "$CACHE/baseline_v2" \
  w3="$CACHE/stream_c/detector_w3.weights.h5":3.0 | tee logs/select_detector.log
# v3 beat v2 there by >= 0.01 F1 (a rule fixed before it was measured).
echo "      detector v4: v3 plus stage F, with tight real US/BR/AR plate crops pasted into 30 % of the"
echo "      samples (every 10th crop held out), ~50 min (logs/train_detector_stream_f.log)"
python3 -m scripts.train.train_detector_stream --steps 4500 --warmup 40 --batch 16 --workers 1 --seed 30000 \
  --paste-crops us_states,br_crops,ar_crops --paste-share 0.3 \
  --candidate w3:3.0:4e-4:"$CACHE/stream_c/detector_w3.weights.h5" --out-dir "$CACHE/stream_f" \
  > logs/train_detector_stream_f.log 2>&1
python3 -m scripts.eval.select_detector --work "$CACHE/cand_f" --baseline "$CACHE/cand/w3" --version 4 \
  w3="$CACHE/stream_f/detector_w3.weights.h5":3.0 | tee logs/select_detector_f.log
python3 -m scripts.bench.bench_regions --real-crops --per-family 60 --models "$CACHE/cand/w3" | tee logs/bench_real_crops_v3.log
python3 -m scripts.bench.bench_regions --real-crops --per-family 60 --models "$CACHE/cand_f/w3" | tee logs/bench_real_crops_v4.log
# v4 shipped because held-out F1 stayed within 0.01 of v3's (precision within 0.02) and the held-out
# real crops pasted into held-out scenes were found >= 0.10 more often (a rule fixed before it was
# measured).  The exported sidecar's training_data lists the stages from the records
# train_detector_stream.py writes beside its weights; the committed detector_v4.json also has a
# hand-written recipe describing the shipped run.  The model is copied and its sidecar rewritten in
# place by write_sidecar, which keeps that recipe (as it does for reader_v3 and reader_ctc_v3); the
# new sidecar's other fields, command included, are the export's.
cp "$CACHE/cand_f/w3/detector_v4.tflite" models/quantized/
python3 - "$CACHE/cand_f/w3/detector_v4.json" <<'PY'
import json, sys
from pathlib import Path
from scripts.train import tfcommon
new = json.loads(Path(sys.argv[1]).read_text())
keep = {k: v for k, v in new.items() if k not in tfcommon.GENERATED_SIDECAR_KEYS or k == "command"}
tfcommon.write_sidecar(Path("models/quantized/detector_v4.tflite"), keep)
PY

echo "      reader_ctc v1: the CTC head paired with reader v3 at run time (engine/pair.py); trunk"
echo "      from reader v3, then a second stage with twice the scene crops (logs/train_reader_ctc{1,2}.log)"
python3 -m scripts.train.train_reader --head ctc --trunk-from "$CACHE/reader_v3.weights.h5" --trunk-head attention \
  --epochs 5 --lr 1e-3 --synthetic 60000 --synthetic-use 20000 --det-crops 3 --real-repeat 7 --threads 2 \
  --monitor none --ckpt "$CACHE/reader_ctc1.weights.h5" --out "$CACHE/reader_ctc_v0.tflite" \
  > logs/train_reader_ctc1.log 2>&1
python3 -m scripts.train.train_reader --head ctc --init "$CACHE/reader_ctc1.weights.h5" \
  --epochs 5 --lr 5e-4 --synthetic 60000 --synthetic-use 20000 --det-crops 6 --real-repeat 7 --threads 2 \
  --monitor none --ckpt "$CACHE/reader_ctc2.weights.h5" --out "$CACHE/reader_ctc_v1.tflite" \
  > logs/train_reader_ctc2.log 2>&1

echo "      reader_ctc v2: both heads trained on a GPU from freshly rendered plates of every layout, then the"
echo "      CTC head continued here (every 10th train item held out; teacher reads >= 0.9 as labels)"
# The GPU stage runs on an accelerator machine (scripts/train/train_reader_gpu.sh: JAX, no network).
# Pack here, run there twice (the second run continues the first), and put the second run's output
# folder (weights and run.json) at $GPU_READER_RUN; without it the script stops here with the steps.
GPU_READER_RUN=${GPU_READER_RUN:-$CACHE/gpu_reader_run2}
if [ ! -f "$GPU_READER_RUN/reader_ctc.weights.h5" ]; then
  cp models/quantized/reader_v3.tflite models/quantized/reader_v3.json "$CACHE/"
  python3 -m scripts.data.pack_reader_gpu --init-from "$CACHE"
  cat >&2 <<MSG
reader_ctc v2 needs its GPU stage: copy the checkout with .gpu/reader/ (and the keras, namex and optree
wheels in .whl/) to an accelerator machine and run there
  SECONDS_TRAIN=390 OUT=run1 bash scripts/train/train_reader_gpu.sh --lr 1e-3
  SECONDS_TRAIN=280 OUT=run2 bash scripts/train/train_reader_gpu.sh --lr 3e-4 --init-dir run1
then copy run2/ back to $GPU_READER_RUN and run make models again (every stage runs again).
MSG
  exit 3
fi
python3 -m scripts.train.train_reader --head ctc --init "$GPU_READER_RUN/reader_ctc.weights.h5" \
  --regions-from "$GPU_READER_RUN/run.json" --holdout 10 --holdout-offset 0 --teacher-conf 0.9 \
  --synthetic 60000 --synthetic-use 40000 --real-repeat 4 --det-crops 3 --lowres 1 \
  --repeat-set ar_crops=2 --repeat-set se_crops=3 --repeat-set uc3m_crops=1 --lr 2e-4 --epochs 2 --threads 2 \
  --monitor heldout --ckpt "$CACHE/reader_ctc_c3a.weights.h5" --out "$CACHE/reader_ctc_c3a.tflite" \
  > logs/train_reader_ctc_c3a.log 2>&1
python3 -m scripts.train.train_reader --head ctc --region-only --init "$CACHE/reader_ctc_c3a.weights.h5" \
  --regions-from "$GPU_READER_RUN/run.json" --holdout 10 --holdout-offset 0 --teacher-conf 0.9 \
  --synthetic 60000 --synthetic-use 40000 --real-repeat 4 --det-crops 3 --lowres 1 \
  --repeat-set ar_crops=2 --repeat-set se_crops=3 --repeat-set uc3m_crops=1 --lr 1e-3 --epochs 1 --threads 2 \
  --monitor heldout --ckpt "$CACHE/reader_ctc_c3b.weights.h5" --out "$CACHE/reader_ctc_c3b.tflite" \
  > logs/train_reader_ctc_c3b.log 2>&1
python3 -m scripts.train.train_reader --head ctc --init "$CACHE/reader_ctc_c3b.weights.h5" \
  --regions-from "$GPU_READER_RUN/run.json" --holdout 10 --holdout-offset 0 --teacher-conf 0.9 \
  --synthetic 60000 --synthetic-use 30000 --real-repeat 4 --det-crops 4 --lowres 2 \
  --repeat-set ar_crops=2 --repeat-set se_crops=3 --repeat-set uc3m_crops=2 --lr 1e-4 --epochs 2 --threads 2 \
  --monitor heldout --ckpt "$CACHE/reader_ctc_c4.weights.h5" --out "$CACHE/reader_ctc_v2.tflite" \
  > logs/train_reader_ctc_c4.log 2>&1
# read alone with US states and a joint fallback from reader_v3 (engine/states.py), as chosen
CACHE="$CACHE" python3 - <<'PY'
import json, os
from pathlib import Path
side = Path(os.environ["CACHE"]) / "reader_ctc_v2.json"
meta = json.loads(side.read_text())
meta.update(pairing="states", joint_below=0.5)
side.write_text(json.dumps(meta, indent=2) + "\n")
PY
echo "      reader_ctc v3: reader_ctc_v2 with a region layer that learned the countries the teacher named for"
echo "      the real scene plates it read (region layer alone, 1 epoch, then spliced into the int8 model: the"
echo "      text output stays v2's to the bit), ~12 min (logs/train_reader_ctc_r1.log)"
python3 -m scripts.train.train_reader --head ctc --region-only --teacher-regions \
  --init-tflite "$CACHE/reader_ctc_v2.tflite" --regions-from "$CACHE/reader_ctc_v2.json" \
  --holdout 10 --holdout-offset 0 --teacher-conf 0.9 \
  --synthetic 60000 --synthetic-use 30000 --real-repeat 4 --det-crops 4 --lowres 2 \
  --repeat-set ar_crops=2 --repeat-set se_crops=3 --repeat-set uc3m_crops=2 --lr 1e-3 --epochs 1 --threads 2 \
  --monitor none --ckpt "$CACHE/reader_ctc_r1.weights.h5" --out "$CACHE/reader_ctc_r1/reader_ctc_v1.tflite" \
  > logs/train_reader_ctc_r1.log 2>&1
python3 -m scripts.train.splice_region "$CACHE/reader_ctc_v2.tflite" "$CACHE/reader_ctc_r1.weights.h5" \
  --regions-from "$CACHE/reader_ctc_v2.json" --out models/quantized/reader_ctc_v3.tflite
echo "      reader_rows v1: reader_ctc_v2 continued on the rows of rendered two-row plates; it reads only the"
echo "      rows of boxes that may hold two (engine/rows.py), ~31 min on both cores (logs/train_reader_rows.log)"
python3 -m scripts.train.train_reader --head ctc --init-tflite "$CACHE/reader_ctc_v2.tflite" \
  --regions-from "$CACHE/reader_ctc_v2.json" --holdout 10 --holdout-offset 0 --teacher-conf 0.9 \
  --synthetic 60000 --synthetic-use 30000 --real-repeat 4 --det-crops 4 --lowres 2 \
  --repeat-set ar_crops=2 --repeat-set se_crops=3 --repeat-set uc3m_crops=2 --row-crops 16000 --row-seed 31 \
  --lr 5e-5 --epochs 2 --threads 2 --monitor heldout --ckpt "$CACHE/reader_rows.weights.h5" \
  --out models/quantized/reader_rows_v1.tflite > logs/train_reader_rows.log 2>&1
echo "      score map of the reader (rows read by reader_rows), fitted on the train items its CTC heads never saw"
echo "      (logs/calibrate_reader.log)"
python3 -m scripts.eval.calibrate_reader --check-dev --write | tee logs/calibrate_reader.log

echo "      vehicle classifier (logs/train_vehicle.log)"
python3 -m scripts.train.train_vehicle --epochs 25 --threads 2 > logs/train_vehicle.log 2>&1

echo "[4/4] dev-split evaluation recorded in the sidecars"
# The detector's threshold is the held-out best that select_detector.py wrote into its sidecar
# (scripts/eval/tune_detector.py would pick it on train images the detector fitted).
echo "      dev-split evaluation, recorded in the sidecars (logs/evaluate.log)"
python3 -m scripts.eval.evaluate --write-sidecars | tee logs/evaluate.log
