#!/bin/sh
# make deb [ARCH=arm64] [SUITE=trixie]: build edge-alpr_<version>+<release>_<arch>.deb into dist/
# (e.g. edge-alpr_0.1.0+deb12_amd64.deb for bookworm, edge-alpr_0.1.0+deb13_amd64.deb for trixie;
# from a git checkout edge-alpr_0.1.0+git412.g3b839b0+deb13_amd64.deb, so each commit's build upgrades the last).
#
# The working tree as it is (uncommitted edits, and models just rebuilt by `make models`,
# included) is copied to build/deb/<suite>-<arch>/src and built there with
# `dpkg-buildpackage -us -uc -b` under `env -i`, so no PIP_*/PYTHON* variable of the caller leaks
# into the venv; dpkg-buildpackage writes the .deb to build/deb/<suite>-<arch>/ and this script
# copies it to dist/.
#
# The package depends on the building release's python3.X (bookworm: 3.11, trixie: 3.13), so it
# is built for a release, SUITE (default: this machine's, from /etc/os-release), and named for it:
# the copy's debian/changelog gets that release's entry (debian/release-changelog.sh: version
# <changelog's>+deb12 for bookworm, +deb13 for trixie).
# ARCH=<host arch> and SUITE=<this release> (the defaults) build on this machine (needs the
# Build-Depends of debian/control: apt-get install debhelper python3-venv ca-certificates).
# Another SUITE (e.g. SUITE=trixie on bookworm) or ARCH=arm64 on an amd64 machine builds inside a
# minbase chroot of that release and architecture (root; a foreign one runs through
# qemu-user-static + binfmt_misc: apt-get install debootstrap qemu-user-static binfmt-support);
# the chroot is made once with debootstrap and cached as a tarball in $CACHE
# (default ~/.cache/edge-alpr), so later builds unpack it in seconds.  MIRROR= picks another
# archive (e.g. for Jetson: SUITE=jammy MIRROR=http://ports.ubuntu.com/ubuntu-ports, see
# scripts/image/jetson.md).
#
# Quiet as `make install` is (scripts/package/step.sh): one progress line per step, their output
# (dpkg-buildpackage's some 200 lines, dpkg-shlibdeps' warnings about the venv's bundled
# libraries among them) in build/deb/<suite>-<arch>/build.log, whose tail and path are printed
# when a step fails; VERBOSE=1 shows it all as it runs.  From that log the release the build
# named and the venv's size are repeated (tests/test_deb.py reads both), then the log's path,
# then, last, the built .deb.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HOST_ARCH=$(dpkg --print-architecture)
ARCH=${ARCH:-$HOST_ARCH}
case "$ARCH" in x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; esac  # uname -m spellings
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-alpr}
HOST_SUITE=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
SUITE=${SUITE:-$HOST_SUITE}
[ -n "$SUITE" ] || { echo "make deb: /etc/os-release names no VERSION_CODENAME: set SUITE (e.g. SUITE=trixie)" >&2; exit 1; }
MIRROR=${MIRROR:-http://deb.debian.org/debian}
EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}
CLEAN_ENV="env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 LC_ALL=C.UTF-8 SOURCE_DATE_EPOCH=$EPOCH"
BUILD_DEPS="debhelper python3-venv ca-certificates build-essential fakeroot"
# a stand-in for the build on this machine (tests/test_make_deb_output.py: the output's shape)
DPKG_BUILDPACKAGE=${DPKG_BUILDPACKAGE:-dpkg-buildpackage}

if ! ls "$ROOT"/models/quantized/*.tflite >/dev/null 2>&1; then
	echo "make deb: no int8 models in models/quantized/; build them first (make models)" >&2
	exit 1
fi

copy_tree() {  # $1 = destination
	rm -rf "$1"
	mkdir -p "$1"
	tar -C "$ROOT" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
		--exclude=./logs --exclude=./state --exclude=__pycache__ --exclude='*.egg-info' \
		--exclude=./.pytest_cache --exclude=./.mypy_cache --exclude=./.ruff_cache \
		--exclude=./.hypothesis --exclude=./debian/edge-alpr --exclude=./debian/.debhelper \
		--exclude=./debian/files --exclude='./debian/*.substvars' --exclude='./debian/*.debhelper*' \
		-cf - . | tar -C "$1" -xf -
}

# a build from a git checkout: the commit count and hash in the version (release-changelog.sh)
SNAPSHOT=$(git -C "$ROOT" rev-list --count HEAD 2>/dev/null || true)
[ -z "$SNAPSHOT" ] || SNAPSHOT=git$SNAPSHOT.g$(git -C "$ROOT" rev-parse --short=7 HEAD)

for_release() {  # $1 = a copied tree: its changelog gets the entry of this release's build
	version=$(sh "$ROOT/debian/release-changelog.sh" "$1" "$SUITE" "$EPOCH" "$SNAPSHOT")
	echo "make deb: version $version for $SUITE"
}

collect() {  # $1 = directory dpkg-buildpackage wrote into
	mkdir -p "$ROOT/dist"
	for f in "$1"/edge-alpr_*_"$ARCH".deb; do
		cp "$f" "$ROOT/dist/"
		echo "make deb: $ROOT/dist/$(basename "$f") ($(du -h "$f" | cut -f1))"
	done
}

WORK=$ROOT/build/deb/$SUITE-$ARCH
mkdir -p "$WORK"
INSTALL_LOG=$WORK/build.log  # scripts/package/step.sh writes each step's output there
export INSTALL_LOG
: >"$INSTALL_LOG"  # this build's output alone
step() {  # $1 = what it does, the rest: the command (its output to the log)
	label=$1
	shift
	bash "$ROOT/scripts/package/step.sh" "make deb: $label" "$@"
}
built() {  # what the log says of the build, then where the log is
	grep -E '^dpkg-buildpackage: info: source distribution |^debian/rules: venv ' "$INSTALL_LOG" || true
	echo "make deb: full log: $INSTALL_LOG"
}
BUILD_STEP="dpkg-buildpackage for $SUITE $ARCH (the venv's wheels from PyPI)"

if [ "$ARCH" = "$HOST_ARCH" ] && [ "$SUITE" = "$HOST_SUITE" ]; then
	copy_tree "$WORK/src"
	for_release "$WORK/src"
	rm -f "$WORK"/edge-alpr_*
	step "$BUILD_STEP" sh -c 'cd "$1" && shift && exec "$@"' chdir "$WORK/src" \
		$CLEAN_ENV "$DPKG_BUILDPACKAGE" -us -uc -b
	built
	collect "$WORK"
	exit 0
fi

# Another release or architecture: a chroot of it (a foreign architecture emulated by
# qemu-user-static).
[ "$(id -u)" = 0 ] || { echo "make deb ARCH=$ARCH SUITE=$SUITE: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
if [ "$ARCH" != "$HOST_ARCH" ]; then
	case "$ARCH" in
		arm64) QEMU=qemu-aarch64 ;;
		armhf) QEMU=qemu-arm ;;
		*) echo "make deb: ARCH=$ARCH is not supported (use arm64)" >&2; exit 1 ;;
	esac
	# registered at boot, else here from bookworm's binfmt-support entry or trixie's binfmt.d file
	sh "$ROOT/scripts/package/binfmt.sh" "$QEMU" || { echo "make deb ARCH=$ARCH: cannot run $ARCH binaries" >&2; exit 1; }
fi

TARBALL=$CACHE/$SUITE-$ARCH-build.tar
CHROOT=$WORK/chroot
cleanup() {
	for m in proc dev/pts dev sys; do umount -l "$CHROOT/$m" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
cleanup
rm -rf "$CHROOT"
mkdir -p "$CACHE" "$CHROOT"
if [ -f "$TARBALL" ]; then
	tar -C "$CHROOT" -xf "$TARBALL"
else
	if [ "$ARCH" = "$HOST_ARCH" ]; then took="a few minutes"; else took="several minutes under qemu"; fi
	step "debootstrap $SUITE $ARCH (first time, $took)" $CLEAN_ENV debootstrap --arch="$ARCH" \
		--variant=minbase --include="$(echo $BUILD_DEPS | tr ' ' ,)" "$SUITE" "$CHROOT" "$MIRROR"
	rm -rf "$CHROOT"/var/cache/apt/archives/*.deb
	tar -C "$CHROOT" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
fi
cp /etc/resolv.conf "$CHROOT/etc/resolv.conf"
# pip in the chroot must trust what the host trusts: local CAs (e.g. a TLS-inspecting proxy's,
# as on CI machines) are copied in and added to the chroot's bundle.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
	mkdir -p "$CHROOT/usr/local/share/ca-certificates"
	cp /usr/local/share/ca-certificates/*.crt "$CHROOT/usr/local/share/ca-certificates/"
	$CLEAN_ENV chroot "$CHROOT" update-ca-certificates >/dev/null
fi
mount -t proc proc "$CHROOT/proc"
mount --bind /dev "$CHROOT/dev"
mount --bind /dev/pts "$CHROOT/dev/pts"
mount -t sysfs sysfs "$CHROOT/sys"
copy_tree "$CHROOT/build/src"
for_release "$CHROOT/build/src"
step "$BUILD_STEP" $CLEAN_ENV chroot "$CHROOT" sh -ec 'cd /build/src && dpkg-buildpackage -us -uc -b'
rm -f "$WORK"/edge-alpr_*
cp "$CHROOT"/build/edge-alpr_* "$WORK"/
built
collect "$WORK"
