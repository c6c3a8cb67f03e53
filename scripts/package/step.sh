#!/usr/bin/env bash
# One progress line for a step of `make install`; its output goes to a log file.
#
#   INSTALL_LOG=build/install.log scripts/package/step.sh "what it does" command [args...]
#
# Prints "<what it does> ... " then "ok (N s)" on success.  On failure prints the last 40 lines of
# the log and its path, and exits with the command's status.  VERBOSE=1 shows the output as it
# comes instead (still appended to the log).  On a terminal (not TERM=dumb or unset; or with
# STEP_PROGRESS=1) the line meanwhile ends in the seconds so far and the log's last line,
# rewritten every STEP_PROGRESS_S (5) seconds: a pip install or an apt-get install on a slow link takes minutes, and a line that
# says nothing for that long looks hung.
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: INSTALL_LOG=file scripts/package/step.sh 'what it does' command [args...]" >&2; exit 2; }
label=$1
shift
log=${INSTALL_LOG:-build/install.log}
mkdir -p "$(dirname "$log")"
printf '== %s: %s\n' "$(date '+%F %T')" "$label" >>"$log"
started=$SECONDS

progress() {  # the suffix after "<label> ... ": erased and written again until the step ends
  local every=${STEP_PROGRESS_S:-5} cols shown=0 room raw last text sleeper= parent stop= backspaces
  cols=$(stty size 2>/dev/null </dev/tty | cut -d' ' -f2)
  [[ "$cols" =~ ^[0-9]+$ ]] && [ "$cols" -gt 0 ] || cols=80
  room=$((cols - (${#label} + 5) % cols - 1))  # what is left of the screen line the label ends on
  erase() {  # no fork (a pipeline here raced the TERM trap: the text was taken back twice)
    [ "$shown" -gt 0 ] || return 0
    printf -v backspaces '%*s' "$shown" ''
    printf '%s\033[K' "${backspaces// /$'\b'}"
    shown=0
  }
  # TERM only says stop: the line is erased once, after the loop, never from inside a write
  trap 'stop=1; [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null' TERM
  while [ -z "$stop" ]; do
    sleep "$every" >/dev/null 2>&1 &
    sleeper=$!
    wait "$sleeper"
    sleeper=
    [ -z "$stop" ] || break
    # the step's shell gone (killed, its terminal closed; a background job ignores Ctrl-C): so is
    # its line.  Gone = this job's parent is no longer that shell (a killed one stays a zombie,
    # which kill -0 still finds, until whoever started it reaps it)
    parent=$$
    [ -r "/proc/$BASHPID/stat" ] && read -r _ _ _ parent _ <"/proc/$BASHPID/stat"
    [ "$parent" = "$$" ] && kill -0 "$$" 2>/dev/null || exit 0
    # the log's last line as a terminal last showed it (after its last \r: a progress bar redrawn
    # in place), printable ASCII only, so that a character is a column (a UTF-8 bar is not)
    raw=$(tail -n 1 "$log" 2>/dev/null)
    raw=${raw%$'\r'}
    raw=${raw##*$'\r'}
    last=$(printf '%s' "$raw" | tr '\t' ' ' | LC_ALL=C tr -cd '\040-\176' | tr -s ' ')
    last=${last# }  # pip indents its Downloading lines
    case $last in "== "*) last= ;; esac  # the step's own header: nothing from the command yet
    text="$((SECONDS - started)) s${last:+: $last}"
    [ "$room" -ge 8 ] || continue
    [ -z "$stop" ] || break
    erase
    text=${text:0:room}
    printf '%s' "$text"
    shown=${#text}
  done
  erase
  exit 0
}

if [ "${VERBOSE:-0}" = 1 ]; then
  echo "$label ..."
  "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
else
  printf '%s ... ' "$label"
  ticker=
  # a terminal that can take a backspace back: not a dumb one (Emacs' shell), nor one unnamed
  if [ "${STEP_PROGRESS:-}" = 1 ] || { [ -z "${STEP_PROGRESS:-}" ] && [ -t 1 ] && [ -n "${TERM:-}" ] \
      && [ "${TERM:-}" != dumb ]; }; then
    progress &
    ticker=$!
    trap 'kill -TERM "$ticker" 2>/dev/null' EXIT
  fi
  "$@" >>"$log" 2>&1
  rc=$?
  if [ -n "$ticker" ]; then
    kill -TERM "$ticker" 2>/dev/null
    wait "$ticker" 2>/dev/null
    trap - EXIT
  fi
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
