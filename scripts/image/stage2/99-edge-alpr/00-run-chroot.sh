#!/bin/bash -e
# pi-gen sub-stage, inside the image (arm64 chroot): install edge-alpr with apt so its Depends
# come from the Raspberry Pi OS / Debian archives.  No systemd runs here: the postinst creates
# the edge-alpr user (systemd-sysusers), byte-compiles the venv and enables the unit, which
# starts on the device's first boot.  picamera2 (00-packages-nr) is seen by the venv through
# its system site-packages.
# --force-confold keeps a config.yaml placed by 00-run.sh instead of the packaged one.
apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold /tmp/edge-alpr.deb
rm -f /tmp/edge-alpr.deb
systemctl enable edge-alpr.service
