#!/usr/bin/env bash
# Install the Debian packages a make target needs, only those missing.  As root with apt-get
# they are installed; otherwise the command to run is printed.
#   scripts/apt_deps.sh run    python3-venv (the quick start's `make install run`)
#   scripts/apt_deps.sh test   + mosquitto (MQTT tests start a real broker), curl (the reference's
#                              curl example), and the .deb build/boot tools of tests/test_deb.py
set -euo pipefail
what=${1:-run}
python=${PYTHON:-python3}
missing=()
"$python" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv python3-pip)
if [ "$what" = test ]; then
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v dpkg-buildpackage >/dev/null 2>&1 || missing+=(dpkg-dev)
  command -v dh >/dev/null 2>&1 || missing+=(debhelper)
  command -v lintian >/dev/null 2>&1 || missing+=(lintian)
  [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
  [ -x /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static binfmt-support)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
  echo "please install: sudo apt-get install ${missing[*]}" >&2
fi
