#!/bin/bash -e
# pi-gen sub-stage, host side: put the edge-alpr .deb into the image's root filesystem.
# Copy edge-alpr_<version>+<release>_arm64.deb (make deb ARCH=arm64 [SUITE=trixie]) of the
# image's Debian release into files/ next to this script, or set EDGE_ALPR_DEB in pi-gen's
# config to its path.  With builds of several releases in files/, EDGE_ALPR_DEB must say which.
if [ -z "${EDGE_ALPR_DEB:-}" ] && [ "$(ls files/edge-alpr_*_arm64.deb 2>/dev/null | wc -l)" -gt 1 ]; then
	echo "99-edge-alpr: several edge-alpr_*_arm64.deb in $(pwd)/files: set EDGE_ALPR_DEB to the one of this image's release" >&2
	exit 1
fi
DEB=${EDGE_ALPR_DEB:-$(ls files/edge-alpr_*_arm64.deb 2>/dev/null | head -n1)}
if [ -z "${DEB}" ] || [ ! -f "${DEB}" ]; then
	echo "99-edge-alpr: no edge-alpr_*_arm64.deb in $(pwd)/files (or EDGE_ALPR_DEB)" >&2
	exit 1
fi
install -m 644 "${DEB}" "${ROOTFS_DIR}/tmp/edge-alpr.deb"
# Optional: a site config replaces the packaged conffile (dpkg keeps it as the admin's version).
if [ -f files/config.yaml ]; then
	install -d "${ROOTFS_DIR}/etc/edge-alpr"
	install -m 644 files/config.yaml "${ROOTFS_DIR}/etc/edge-alpr/config.yaml"
fi
