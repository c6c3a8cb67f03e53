#!/usr/bin/env bash
# One progress line for a step of `make install`; its output goes to a log file.
#
#   INSTALL_LOG=build/install.log scripts/package/step.sh "what it does" command [args...]
#
# Prints "<what it does> ..." then "ok (N s)" on success.  On failure prints the last 40 lines of
# the log and its path, and exits with the command's status.  VERBOSE=1 shows the output as it
# comes instead (still appended to the log).
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: INSTALL_LOG=file scripts/package/step.sh 'what it does' command [args...]" >&2; exit 2; }
label=$1
shift
log=${INSTALL_LOG:-build/install.log}
mkdir -p "$(dirname "$log")"
printf '== %s: %s\n' "$(date '+%F %T')" "$label" >>"$log"
started=$SECONDS
if [ "${VERBOSE:-0}" = 1 ]; then
  echo "$label ..."
  "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
else
  printf '%s ... ' "$label"
  "$@" >>"$log" 2>&1
  rc=$?
fi
if [ "$rc" -eq 0 ]; then
  echo "ok ($((SECONDS - started)) s)"
  exit 0
fi
echo "FAILED (exit $rc)"
echo "---- last lines of $log ----"
tail -n 40 "$log"
echo "---- full log: $(cd "$(dirname "$log")" && pwd)/$(basename "$log") (VERBOSE=1 shows it as it runs)"
exit "$rc"
