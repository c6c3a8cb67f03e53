#!/usr/bin/env bash
# Install the Debian packages a make target needs, only those missing.  As root with apt-get
# they are installed (one progress line; the output goes to $INSTALL_LOG, default build/install.log,
# and is shown on failure); otherwise the command to run is printed and the target fails.
#   scripts/package/apt_deps.sh run     python3-venv (the quick start's `make install run`)
#   scripts/package/apt_deps.sh test    + mosquitto (MQTT tests start a real broker), curl (the reference's
#                               curl example), iproute2 (a test's private network namespace),
#                               e2fsprogs (chattr, an immutable folder), python3-gi
#                               gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
#                               gstreamer1.0-plugins-good (the RTSP tests' camera), gstreamer1.0-plugins-ugly
#                               (x264enc: an H.264 camera), gstreamer1.0-tools gstreamer1.0-plugins-bad
#                               (gst-launch-1.0, mpegtsmux: an MPEG-TS camera over HTTP)
#   scripts/package/apt_deps.sh build   what `make deb` needs and nothing more (no test tools): for
#                               this machine's release and architecture dpkg-buildpackage's and
#                               debian/control's Build-Depends (dpkg-dev, build-essential, debhelper,
#                               python3-venv, ca-certificates); for another SUITE or ARCH (the
#                               environment's, as debian/build-deb.sh reads them) the build runs in a
#                               chroot that brings its own, so debootstrap (+ qemu-user-static
#                               binfmt-support for a foreign ARCH)
#   scripts/package/apt_deps.sh deb     test's + build's + lintian, debootstrap, systemd-container (the
#                               .deb boot test, make test-deb)
#   scripts/package/apt_deps.sh arm64   curl, debootstrap, systemd-container, qemu-user-static
#                               binfmt-support (make deb-arm64-verify; its `make deb ARCH=arm64` asks
#                               for the build's)
#   scripts/package/apt_deps.sh --list TARGET   prints TARGET's packages, installed or not; installs nothing
set -euo pipefail
list=0
if [ "${1:-}" = --list ]; then list=1; shift; fi
what=${1:-run}
export INSTALL_LOG=${INSTALL_LOG:-$(cd "$(dirname "$0")/../.." && pwd)/build/install.log}
case "$what" in run|test|build|deb|arm64) ;; *)
  echo "scripts/package/apt_deps.sh: unknown target '$what' (use run, test, build, deb or arm64)" >&2; exit 2 ;;
esac
python=${PYTHON:-python3}
needed=()
missing=()

add() {  # $1 = the array's name, the rest: packages it gets unless it has them already
  local -n into=$1
  local p
  shift
  for p in "$@"; do
    case " ${into[*]-} " in *" $p "*) ;; *) into+=("$p") ;; esac
  done
}
need() {  # need PACKAGE... -- CHECK...: the packages are missing unless CHECK succeeds
  local pkgs=()
  while [ "$1" != -- ]; do pkgs+=("$1"); shift; done
  shift
  add needed "${pkgs[@]}"
  "$@" >/dev/null 2>&1 || add missing "${pkgs[@]}"
}
have() { command -v "$1" || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

base() {
  # python3-venv brings ensurepip (pip comes into each venv from its wheel); python3-pip is not
  # needed, and its Recommends would pull a compiler
  need python3-venv -- "$python" -c 'import venv, ensurepip'
}
testing() {
  need mosquitto -- have mosquitto
  need curl -- have curl
  # ip: the stalled-resolver test brings up loopback in its own network namespace
  need iproute2 -- have ip
  # chattr: the history tests make a folder immutable; trixie's minimal system has no e2fsprogs
  need e2fsprogs -- have chattr
  # the RTSP camera tests serve a real stream: gst-rtsp-server run by the system's python3
  # (tests/rtsp_server.py), its JPEG pipeline from plugins-base and plugins-good
  need python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good -- \
    /usr/bin/python3 -c "$RTSP_CHECK"
  # and an H.264 camera (tests/test_rtsp_reopen.py): x264enc
  need gstreamer1.0-plugins-ugly -- /usr/bin/python3 -c "$RTSP_CHECK
assert Gst.ElementFactory.find('x264enc')"
  # and H.264 in MPEG-TS over HTTP (tests/test_rtsp_behind.py): a gst-launch-1.0 pipeline through mpegtsmux
  need gstreamer1.0-tools -- have gst-launch-1.0
  need gstreamer1.0-plugins-bad -- /usr/bin/python3 -c "$RTSP_CHECK
assert Gst.ElementFactory.find('mpegtsmux')"
}
RTSP_CHECK="import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0')
from gi.repository import Gst, GstRtspServer
Gst.init(None)
assert all(Gst.ElementFactory.find(e) for e in ('jpegdec', 'imagefreeze', 'jpegenc', 'rtpjpegpay'))"
qemu() {  # $1 = the Debian architecture emulated
  local binary=qemu-aarch64-static
  [ "$1" = armhf ] && binary=qemu-arm-static
  need qemu-user-static binfmt-support -- have "$binary"
}
build() {
  # the same choice as debian/build-deb.sh: this machine's release and architecture build here
  local host_arch host_suite arch suite
  host_arch=$(dpkg --print-architecture 2>/dev/null || true)
  host_suite=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
  arch=${ARCH:-$host_arch}
  case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
  suite=${SUITE:-$host_suite}
  if [ "$arch" = "$host_arch" ] && [ "$suite" = "$host_suite" ]; then
    need dpkg-dev -- have dpkg-buildpackage
    # dpkg-buildpackage checks the implicit build dependency build-essential
    need build-essential -- installed build-essential
    need debhelper -- have dh
    # debian/rules makes the package's venv with the release's python3, and pip fetches the
    # wheels over HTTPS (debian/control's Build-Depends)
    need python3-venv -- python3 -c 'import venv, ensurepip'
    need ca-certificates -- installed ca-certificates
  else
    need debootstrap -- have debootstrap
    [ "$arch" = "$host_arch" ] || qemu "$arch"
  fi
}

case "$what" in
  run) base ;;
  test) base; testing ;;
  build) build ;;
  deb)
    base; testing; build
    need lintian -- have lintian
    need debootstrap -- have debootstrap
    need systemd-container -- have systemd-nspawn ;;
  arm64)
    need curl -- have curl
    need debootstrap -- have debootstrap
    need systemd-container -- have systemd-nspawn
    qemu arm64 ;;
esac
if [ "$list" = 1 ]; then
  echo "${needed[*]}"
  exit 0
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
