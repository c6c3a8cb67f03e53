#!/usr/bin/env bash
# Prepare, here, everything a training run on an accelerator machine needs, in one step.
#
# That machine has JAX and PyTorch but not Keras, reaches no network, and takes at most 64 MiB
# beside the checkout; this machine has TensorFlow, the data and PyPI.  So this downloads the
# wheels it lacks into .whl/ (Keras at this venv's version, namex, optree; for CPython 3.12 on
# manylinux x86_64) and packs the data into .gpu/ with the packer's own flags, then checks the
# size and prints what to run there.  Both folders are git-ignored.
#
#   bash scripts/train/prep_gpu.sh reader [pack_reader_gpu.py flags]    # e.g. --det-jitter 3
#   bash scripts/train/prep_gpu.sh detector [pack_gpu_data.py flags]    # e.g. --sets ... --init W
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
what=${1:-}
case "$what" in
  reader) pack=scripts.data.pack_reader_gpu; train=scripts/train/train_reader_gpu.sh ;;
  detector) pack=scripts.data.pack_gpu_data; train=scripts/train/train_detector_gpu.sh ;;
  *) echo "usage: $0 reader|detector [packer flags]   (see the comment at the top of this file)" >&2; exit 2 ;;
esac
shift
keras=$("$PY" -c 'import keras; print(keras.__version__)') || {
  echo "$PY has no Keras: install the train extra first ($PY -m pip install -e '.[train]')" >&2; exit 1; }
mkdir -p .whl
rm -f .whl/keras-*.whl .whl/namex-*.whl .whl/optree-*.whl  # one version of each, or pip refuses there
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "keras==$keras" namex optree
"$PY" -m "$pack" "$@"
# what travels: the checkout's files (tracked, and untracked ones git does not ignore) and the two folders
bytes() { xargs -0 -r du -cb --apparent-size | awk '$2 == "total" {s += $1} END {print s + 0}'; }
tree=$(git ls-files -z --cached --others --exclude-standard | bytes)
carried=$(find .whl .gpu -type f -print0 | bytes)
mib=$(( (tree + carried + 2**20 - 1) / 2**20 ))
echo "wheels and pack $(( carried / 2**20 )) MiB + checkout $(( tree / 2**20 )) MiB: ${mib} MiB of the 64 MiB a call carries"
if [ "$mib" -gt 62 ]; then
  echo "too large to travel with the checkout: pack less (see the packer's --help)" >&2; exit 1
fi
if [ "$what" = reader ]; then
  echo "on the accelerator machine, carrying .whl and .gpu: OUT=\$OUT SECONDS_TRAIN=390 bash $train --heads ctc --context 4"
  echo "then here: python -m scripts.train.export_reader --run RUN_FOLDER --out-dir DIR"
else
  echo "on the accelerator machine, carrying .whl and .gpu: OUT=\$OUT bash $train"
fi
