#!/usr/bin/env bash
# Install the Debian packages a make target needs, only those missing.  As root with apt-get
# they are installed (one progress line; the output goes to $INSTALL_LOG, default build/install.log,
# and is shown on failure); otherwise the command to run is printed and the target fails.
#   scripts/package/apt_deps.sh run     python3-venv (the quick start's `make install run`)
#   scripts/package/apt_deps.sh test    + mosquitto (MQTT tests start a real broker), curl (the reference's
#                               curl example), iproute2 (a test's private network namespace)
#   scripts/package/apt_deps.sh deb     + the .deb build/boot tools of tests/test_deb.py (make deb, test-deb)
#   scripts/package/apt_deps.sh arm64   + qemu-user-static (make deb ARCH=arm64, deb-arm64-verify)
set -euo pipefail
what=${1:-run}
export INSTALL_LOG=${INSTALL_LOG:-$(cd "$(dirname "$0")/../.." && pwd)/build/install.log}
case "$what" in run|test|deb|arm64) ;; *)
  echo "scripts/package/apt_deps.sh: unknown target '$what' (use run, test, deb or arm64)" >&2; exit 2 ;;
esac
python=${PYTHON:-python3}
missing=()
# python3-venv brings ensurepip (pip comes into each venv from its wheel); python3-pip is not
# needed, and its Recommends would pull a compiler
"$python" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ "$what" != run ]; then
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # ip: the stalled-resolver test brings up loopback in its own network namespace
  command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
fi
if [ "$what" = deb ] || [ "$what" = arm64 ]; then
  command -v dpkg-buildpackage >/dev/null 2>&1 || missing+=(dpkg-dev)
  # dpkg-buildpackage checks the implicit build dependency build-essential
  dpkg-query -W -f='${Status}' build-essential 2>/dev/null | grep -q 'ok installed' || missing+=(build-essential)
  command -v dh >/dev/null 2>&1 || missing+=(debhelper)
  command -v lintian >/dev/null 2>&1 || missing+=(lintian)
  [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
fi
if [ "$what" = arm64 ]; then
  [ -x /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static binfmt-support)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  # quiet: one progress line, apt's and dpkg's output in the log (shown if it fails)
  bash "$(dirname "$0")/step.sh" "apt-get install ${missing[*]}" \
    env DEBIAN_FRONTEND=noninteractive sh -c \
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"' apt "${missing[@]}"
else
  echo "missing Debian packages: ${missing[*]}; install them (then run make again):" >&2
  echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
