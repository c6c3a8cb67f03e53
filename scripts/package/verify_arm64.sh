#!/bin/bash
# Verify the arm64 .deb on an emulated arm64 Debian system (not in default CI: about
# 10 minutes on a 2-core amd64 machine, most of it qemu).  Run as root from the checkout:
#
#   make deb-arm64-verify            # or: bash scripts/package/verify_arm64.sh [path/to/edge-alpr_*_arm64.deb]
#
# The release is SUITE (default: this machine's, e.g. bookworm or trixie): the package is built
# for it and booted on it.
# 1. builds dist/edge-alpr_<version>+<release>_arm64.deb (e.g. 0.1.0+deb12 for bookworm) with
#    `make deb ARCH=arm64 SUITE=...` unless one is given;
# 2. makes a clean arm64 minbase tree of SUITE (+ systemd to boot it) with debootstrap through
#    qemu-user-static/binfmt_misc, cached as a tarball in $CACHE (default ~/.cache/edge-alpr);
# 3. installs the package's Depends from the mirror, then the .deb, in a chroot (image path);
# 4. boots the tree with `systemd-nspawn -b` (private network), waits for edge-alpr.service to be
#    active (READY=1), POSTs a bundled sample image to /v1/plate-reader/ and compares the plate
#    with the dataset label (same rule as the tests: same length, at most one wrong character
#    among those the label shows);
# 5. prints the timings, powers the container off.  Exit status 0 only if the plate was read.
# SUITE=trixie cannot boot under qemu-user (with this host's qemu 7.2 and with qemu 10.0): systemd
# 257 starts every unit through systemd-executor, which exits 1 under user-mode emulation (journald,
# dbus and the rest fail alike; systemd/systemd#31219).  So for trixie (or BOOT=run) step 4 runs
# the unit's ExecStart itself in the chroot, as the unit's user, on a free loopback port of this
# machine, and then stops it with SIGTERM: the packaged interpreter, wheels and models on arm64
# are what it checks (the unit under systemd 257 is checked on amd64 by `make test-deb
# SUITE=trixie`; the whole on arm64 hardware or in a qemu-system-aarch64 VM).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-alpr}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')}
[ -n "$SUITE" ] || { echo "verify_arm64: /etc/os-release names no VERSION_CODENAME: set SUITE (e.g. SUITE=trixie)" >&2; exit 1; }
SAMPLE=${SAMPLE:-01_romanian_t37.jpg}
BOOT=${BOOT:-$([ "$SUITE" = trixie ] && echo run || echo nspawn)}  # nspawn: systemd-nspawn -b; run: ExecStart in a chroot
case "$BOOT" in nspawn|run) ;; *) echo "verify_arm64: BOOT=$BOOT: use nspawn or run" >&2; exit 1 ;; esac
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
T0=$(date +%s)
say() { echo "[verify_arm64 +$(( $(date +%s) - T0 ))s] $*"; }

[ "$(id -u)" = 0 ] || { echo "verify_arm64: needs root (debootstrap, chroot, systemd-nspawn)" >&2; exit 1; }
for tool in debootstrap systemd-nspawn nsenter curl python3; do
	command -v "$tool" >/dev/null || { echo "verify_arm64: $tool missing (make install as root installs it)" >&2; exit 1; }
done
# binfmt-support or systemd-binfmt registers the handler at boot; where nothing did (a container,
# a machine not rebooted since the install) it is registered here, as debian/build-deb.sh does
sh "$ROOT/scripts/package/binfmt.sh" qemu-aarch64 || { echo "verify_arm64: cannot run arm64 binaries" >&2; exit 1; }

DEB=${1:-}
if [ -z "$DEB" ]; then
	say "make deb ARCH=arm64 SUITE=$SUITE"
	make -C "$ROOT" deb ARCH=arm64 SUITE="$SUITE"
	DEB=$(ls -t "$ROOT"/dist/edge-alpr_*+"$(sh "$ROOT/debian/release-changelog.sh" --tag "$SUITE")"_arm64.deb | head -n1)
fi
say "package: $DEB ($(du -h "$DEB" | cut -f1))"

WORK=$(mktemp -d /var/tmp/edge-alpr-arm64.XXXXXX)
ROOTFS=$WORK/rootfs
NSPAWN_PID=
LEADER=
inside() { nsenter -t "$LEADER" -m -u -i -n -p -r -w /bin/sh -c "$1"; }
cleanup() {
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		# Power off from inside: under qemu-user the real-time signal systemd-nspawn sends to the
		# container's init on SIGTERM is mistranslated (the container enters rescue mode).
		[ -n "${LEADER:-}" ] && inside "systemctl poweroff --no-block" >/dev/null 2>&1 || true
		for _ in $(seq 120); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
		# a second SIGTERM makes systemd-nspawn terminate the container at once
		kill -TERM "$NSPAWN_PID" 2>/dev/null && sleep 1 && kill -TERM "$NSPAWN_PID" 2>/dev/null || true
		wait "$NSPAWN_PID" 2>/dev/null || true
	fi
	if [ -n "${RUN_PID:-}" ] && kill -0 "$RUN_PID" 2>/dev/null; then kill -KILL "$RUN_PID" 2>/dev/null || true; fi
	for m in proc sys; do umount -l "$ROOTFS/$m" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

TARBALL=$CACHE/$SUITE-arm64-minbase-systemd.tar
mkdir -p "$CACHE" "$ROOTFS"
if [ -f "$TARBALL" ]; then
	tar -C "$ROOTFS" --numeric-owner -xf "$TARBALL"
else
	say "debootstrap $SUITE arm64 minbase (first time; cached afterwards)"
	debootstrap --arch=arm64 --variant=minbase --include=systemd,systemd-sysv,dbus "$SUITE" "$ROOTFS" "$MIRROR"
	rm -f "$ROOTFS"/var/cache/apt/archives/*.deb
	tar -C "$ROOTFS" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
fi

say "install Depends and the .deb in a chroot"
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
mount -t proc proc "$ROOTFS/proc"
mount -t sysfs sysfs "$ROOTFS/sys"
DEPS=$(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*//; s/ //g' | grep -v '^$' | sort -u)
chroot "$ROOTFS" apt-get update -qq
# shellcheck disable=SC2086
chroot "$ROOTFS" apt-get install -y -qq --no-install-recommends $DEPS
cp "$DEB" "$ROOTFS/root/edge-alpr.deb"
chroot "$ROOTFS" apt-get install -y -qq --no-install-recommends /root/edge-alpr.deb
umount -l "$ROOTFS/proc" "$ROOTFS/sys"
# Emulation only.  Under qemu-user the arm64 process sees the x86_64 host's /proc/cpuinfo next
# to /sys/devices/system/cpu; the cpuinfo library inside the TFLite runtimes parses the two as
# an arm64 machine and dereferences NULL (SIGSEGV at model load; found with strace).  Hiding the
# sysfs CPU tree makes it fall back as it does in a plain chroot.  Real arm64 hardware has an
# arm64 /proc/cpuinfo and runs the unit as shipped, without this drop-in.
mkdir -p "$ROOTFS/etc/systemd/system/edge-alpr.service.d"
cat >"$ROOTFS/etc/systemd/system/edge-alpr.service.d/qemu-user.conf" <<'UNIT'
[Service]
InaccessiblePaths=-/sys/devices/system/cpu
UNIT

if [ "$BOOT" = run ]; then
	# The unit's command, user and environment, without systemd (see the header); no /sys, as in a
	# plain chroot, for the cpuinfo reason above.
	EXEC=$(sed -n 's/^ExecStart=//p' "$ROOTFS/lib/systemd/system/edge-alpr.service" "$ROOTFS/usr/lib/systemd/system/edge-alpr.service" 2>/dev/null | head -n1)
	RUN_USER=$(sed -n 's/^User=//p' "$ROOTFS/lib/systemd/system/edge-alpr.service" "$ROOTFS/usr/lib/systemd/system/edge-alpr.service" 2>/dev/null | head -n1)
	[ -n "$EXEC" ] && [ -n "$RUN_USER" ] || { echo "verify_arm64: no ExecStart/User in the package's edge-alpr.service" >&2; exit 1; }
	PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mount -t proc proc "$ROOTFS/proc"
	# the unit's user exists in the tree, not on this machine: its numeric ids, and StateDirectory=
	RUN_IDS="$(chroot "$ROOTFS" id -u "$RUN_USER"):$(chroot "$ROOTFS" id -g "$RUN_USER")"
	install -d -o "${RUN_IDS%:*}" -g "${RUN_IDS#*:}" -m 0750 "$ROOTFS/var/lib/edge-alpr"
	say "run '$EXEC --port $PORT' as $RUN_USER in a chroot (BOOT=run)"
	T_BOOT=$(date +%s)
	# shellcheck disable=SC2086
	chroot --userspec="$RUN_IDS" "$ROOTFS" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
		PYTHONDONTWRITEBYTECODE=1 HOME=/var/lib/edge-alpr $EXEC --port "$PORT" >"$WORK/run.log" 2>&1 &
	RUN_PID=$!
	UP=
	for _ in $(seq 600); do
		curl -sf --max-time 5 "http://127.0.0.1:$PORT/info/" >/dev/null 2>&1 && { UP=1; break; }
		kill -0 "$RUN_PID" 2>/dev/null || break
		sleep 1
	done
	[ -n "$UP" ] || { tail -n 30 "$WORK/run.log"; echo "verify_arm64: edge-alpr did not answer /info/ (log above)" >&2; exit 1; }
	say "edge-alpr answers /info/ $(( $(date +%s) - T_BOOT ))s after start (emulated)"
	ANSWER=$(curl -sS --max-time 120 -F "upload=@$ROOT/edge_alpr/samples/$SAMPLE" "http://127.0.0.1:$PORT/v1/plate-reader/")
else
	say "boot with systemd-nspawn -b"
	systemd-nspawn -q -D "$ROOTFS" --register=no --keep-unit --private-network \
		--machine="edge-alpr-arm64-$$" -b </dev/null >"$WORK/boot.log" 2>&1 &
	NSPAWN_PID=$!
	for _ in $(seq 300); do
		LEADER=$(awk -v p="$NSPAWN_PID" '$1=="PPid:" && $2==p {print FILENAME}' /proc/[0-9]*/status 2>/dev/null \
			| sed -n 's|/proc/\([0-9]*\)/status|\1|p' | head -n1)
		[ -n "$LEADER" ] && [ "$(cat "/proc/$LEADER/comm" 2>/dev/null)" = systemd ] && break
		LEADER=
		sleep 0.2
	done
	[ -n "$LEADER" ] || { cat "$WORK/boot.log"; echo "verify_arm64: the container did not start" >&2; exit 1; }
	T_BOOT=$(date +%s)
	STATE=
	for _ in $(seq 600); do
		STATE=$(inside "systemctl is-active edge-alpr.service" 2>/dev/null || true)
		case "$STATE" in active|failed) break ;; esac
		# Restart=on-failure hides a failure as "activating": a restart already means it failed.
		RESTARTS=$(inside "systemctl show -p NRestarts --value edge-alpr.service" 2>/dev/null || true)
		case "$RESTARTS" in ''|0) ;; *[!0-9]*) ;; *) STATE="restarting ($RESTARTS restarts)"; break ;; esac
		sleep 1
	done
	inside "systemctl status edge-alpr.service --no-pager -l -n 20" || true
	[ "$STATE" = active ] || { echo "verify_arm64: edge-alpr.service is $STATE" >&2; exit 1; }
	STARTUP=$(inside "systemctl show edge-alpr.service -p ExecMainStartTimestampMonotonic -p ActiveEnterTimestampMonotonic" \
		| awk -F= '/ExecMain/{s=$2} /ActiveEnter/{a=$2} END{printf "%.1f", (a-s)/1e6}')
	say "edge-alpr.service active $(( $(date +%s) - T_BOOT ))s after boot; start-up to READY ${STARTUP}s (emulated)"

	ANSWER=$(nsenter -t "$LEADER" -n curl -sS --max-time 120 -F "upload=@$ROOT/edge_alpr/samples/$SAMPLE" \
		http://127.0.0.1:8080/v1/plate-reader/)
fi
python3 - "$ROOT/edge_alpr/samples/labels.json" "$SAMPLE" "$ANSWER" <<'EOF'
import json, sys
label = json.load(open(sys.argv[1]))[sys.argv[2]]["plates"][0]["text"].upper()
plates = [r["plate"].upper() for r in json.loads(sys.argv[3])["results"]]
ok = [p for p in plates if len(p) == len(label) and
      sum(1 for r, e in zip(p, label) if e != "?" and r != e) <= 1]
print(f"label {label}, read {plates}: {'OK' if ok else 'WRONG'}")
sys.exit(0 if ok else 1)
EOF
if [ "$BOOT" = run ]; then
	STOP=$(date +%s%N)
	kill -TERM "$RUN_PID"
	for _ in $(seq 100); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$RUN_PID" 2>/dev/null && { echo "verify_arm64: edge-alpr still running 10 s after SIGTERM" >&2; exit 1; }
	wait "$RUN_PID" || { tail -n 20 "$WORK/run.log"; echo "verify_arm64: edge-alpr exited non-zero after SIGTERM" >&2; exit 1; }
	say "stopped by SIGTERM in $(( ($(date +%s%N) - STOP) / 1000000 )) ms (emulated)"
	say "done: the arm64 package runs and reads a plate"
else
	say "done: the arm64 package boots and reads a plate"
fi
