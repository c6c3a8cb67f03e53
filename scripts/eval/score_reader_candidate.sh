#!/usr/bin/env bash
# Score a CTC reader candidate the way the shipped one was chosen, in one go, and keep the logs.
#
# Why a script: a candidate (from train_reader.py, or exported from an accelerator run by
# export_reader.py) is judged on the held-out train items (never dev) by a rule written before
# scoring, and only then, if the rule says so, on dev.  Each step here is a repository tool; this
# runs them in order with the candidate read as the shipped CTC reader is (beside the bundled slot
# reader with the shipped pairing and joint fallback, and the bundled row reader):
#
#   1. select_reader.py --holdout 10 --teacher-conf 0.9: held-out e2e / from the box (uc3m scenes),
#      agreement with the teacher e2e / from the box, OCR crops pooled and per set, region of the
#      OCR crops, the teacher's country (select.log);
#   2. bench_layouts.py: rendered layouts held out of training, per variant (layouts.log);
#   3. with --dev only: evaluate.py --models on every dev split (dev.log).
#
#   bash scripts/eval/score_reader_candidate.sh CANDIDATE.tflite WORK_DIR [--dev]
#
# CANDIDATE.json must sit beside CANDIDATE.tflite.  WORK_DIR/models/ becomes a full model folder
# (evaluate.py --models and edge-alpr's models.directory accept it); the logs go to WORK_DIR.
set -euo pipefail
if [[ $# -lt 2 || ! -f "$1" ]]; then
  echo "usage: $0 CANDIDATE.tflite WORK_DIR [--dev]   (CANDIDATE.json beside it)" >&2
  exit 2
fi
cand=$(realpath "$1")
work=$(realpath -m "$2")
dev=${3:-}
side=${cand%.tflite}.json
[[ -f "$side" ]] || { echo "$0: no sidecar $side beside the candidate" >&2; exit 2; }
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
mkdir -p "$work/cand"
name=$(basename "$cand")
cp "$cand" "$work/cand/$name"
# the shipped CTC reader's way of reading (pairing, joint fallback) goes with the candidate
"$PY" - "$side" "$work/cand/${name%.tflite}.json" <<'PY'
import json, sys
from pathlib import Path
shipped = json.loads(max(Path("models/quantized").glob("reader_ctc_v*.json")).read_text())
meta = json.loads(Path(sys.argv[1]).read_text())
meta.update({k: shipped[k] for k in ("pairing", "joint_below") if k in shipped})
Path(sys.argv[2]).write_text(json.dumps(meta, indent=2) + "\n")
PY
slot=$(ls models/quantized/reader_v*.tflite | sort -V | tail -1)
rows=$(ls models/quantized/reader_rows_v*.tflite | sort -V | tail -1)
echo "[1/3] held-out train items (select_reader): $work/select.log"
"$PY" -m scripts.eval.select_reader --work "$work/sel" --holdout 10 --teacher-conf 0.9 \
  "models=$slot+$work/cand/$name+rows:$rows" > "$work/select.log" 2>&1
rm -rf "$work/models" && mv "$work/sel/models" "$work/models" && rm -rf "$work/sel"
grep -E '^(name|baseline|models) ' "$work/select.log"
echo "[2/3] rendered layouts (bench_layouts): $work/layouts.log"
"$PY" -m scripts.bench.bench_layouts --models "$work/models" > "$work/layouts.log" 2>&1
tail -1 "$work/layouts.log"
if [[ "$dev" == "--dev" ]]; then
  echo "[3/3] dev splits (evaluate --models): $work/dev.log"
  "$PY" -m scripts.eval.evaluate --models "$work/models" > "$work/dev.log" 2>&1
  grep -E '^(ocr|detection)/' "$work/dev.log" | cut -c1-160
else
  echo "[3/3] dev not scored (add --dev once the held-out bars of the rule hold)"
fi
