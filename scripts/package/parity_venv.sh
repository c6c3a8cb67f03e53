#!/usr/bin/env bash
# The runtime-parity interpreter (`make test-parity`): a venv with numpy<2 and BOTH TFLite
# runtimes, ai-edge-litert and tflite-runtime (tflite-runtime cannot share an environment with
# numpy 2), installed from binary wheels only: numpy is never compiled from source.
#
#   PYTHON=python3 scripts/package/parity_venv.sh VENV
#
# Writes exactly one of:
#   VENV/.installed    the interpreter is ready (VENV/bin/python);
#   VENV/.unavailable  one line, the reason: PyPI has no wheel of a package for this Python and
#                      platform (tflite-runtime's last wheels are for CPython <= 3.11, numpy<2's
#                      for <= 3.12), so the parity check cannot run here;
# and exits 0.  Any other failure (network, disk, a broken interpreter) exits 1 with the tail of
# pip's log and the log's path.
set -euo pipefail
venv=${1:?usage: scripts/package/parity_venv.sh VENV}
python=${PYTHON:-python3}
[ -f "$venv/.installed" ] && [ -x "$venv/bin/python" ] && exit 0
rm -rf "$venv"  # half-made, or made by another interpreter: start again (seconds)
pyver=$("$python" -c 'import platform, sys; print(f"Python {sys.version_info[0]}.{sys.version_info[1]} on {platform.machine()}")')
mkdir -p "$venv"
log="$venv/pip.log"
echo "parity: venv $venv with numpy<2, ai-edge-litert and tflite-runtime ($pyver, binary wheels only)"
if ! "$python" -m venv "$venv" >"$log" 2>&1; then
  echo "parity: '$python -m venv $venv' failed; last lines of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
fi
if "$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
    'numpy<2' ai-edge-litert tflite-runtime Pillow >>"$log" 2>&1; then
  touch "$venv/.installed"
  exit 0
fi
# "No matching distribution" with no sign of a network problem: the index was read and has no
# wheel for this interpreter.
missing=$(sed -n 's/^ERROR: No matching distribution found for \(.*\)$/\1/p' "$log" | head -n 1)
if [ -n "$missing" ] && ! grep -qE 'Retrying \(Retry|NewConnectionError|ProxyError|SSLError|ConnectionError|Temporary failure in name resolution' "$log"; then
  echo "no binary wheel of $missing for $pyver on PyPI (the parity check needs tflite-runtime and numpy<2: CPython <= 3.11; PARITY_PYTHON=python3.11 picks another interpreter)" \
    >"$venv/.unavailable"
  echo "parity: $(cat "$venv/.unavailable")"
  exit 0
fi
echo "parity: pip install into $venv failed; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
