#!/bin/sh
# Make sure binfmt_misc runs QEMU's handler for a foreign architecture with the F flag (the
# interpreter opened at registration, so it works inside a chroot that lacks it):
#   scripts/package/binfmt.sh qemu-aarch64      (debian/build-deb.sh ARCH=arm64, verify_arm64.sh)
# Already registered (at boot, by binfmt-support or systemd-binfmt): nothing to do.  Else it is
# registered here from what the installed qemu ships, as those two would at the next boot:
#   - bookworm: qemu-user-static's binfmt-support entry, through update-binfmts --enable;
#   - trixie: qemu-user-static is a transitional package whose qemu-user-binfmt ships the
#     handler only for systemd-binfmt (/usr/lib/binfmt.d/qemu-aarch64.conf, flags OPF), which
#     update-binfmts does not know: in a container or a chroot no systemd-binfmt ran, so the line
#     is written to binfmt_misc's register file here.
# Exits 1 naming the packages when neither is installed.
# BINFMT_MISC (default /proc/sys/fs/binfmt_misc, mounted here if it is not) and BINFMT_D
# (default /usr/lib/binfmt.d) name other places, for a test in its own user namespace.
set -eu
qemu=${1:?usage: binfmt.sh qemu-aarch64}
misc=${BINFMT_MISC:-/proc/sys/fs/binfmt_misc}
confd=${BINFMT_D:-/usr/lib/binfmt.d}

ready() { grep -q '^flags:.*F' "$misc/$qemu" 2>/dev/null; }

[ -e "$misc/register" ] || mount -t binfmt_misc binfmt_misc "$misc"
ready && exit 0
if command -v update-binfmts >/dev/null 2>&1; then
	update-binfmts --enable "$qemu" >/dev/null 2>&1 || true
	ready && exit 0
fi
if [ -f "$confd/$qemu.conf" ]; then
	# a handler of that name without the F flag is replaced: only one of a name can be there
	[ -e "$misc/$qemu" ] && echo -1 > "$misc/$qemu"
	grep -v '^[#;]' "$confd/$qemu.conf" | grep . > "$misc/register" || true
	ready && exit 0
	echo "binfmt_misc refused $confd/$qemu.conf's handler (its interpreter: $(sed -n 's/.*:\(\/[^:]*\):[A-Z]*$/\1/p' "$confd/$qemu.conf"))" >&2
fi
echo "no $qemu binfmt_misc handler with the F flag: apt-get install qemu-user-static" \
	"(bookworm: also binfmt-support; trixie: it brings qemu-user-binfmt)" >&2
exit 1
