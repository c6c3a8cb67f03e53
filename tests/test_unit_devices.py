"""The unit lets the service open its cameras whenever their driver was loaded.

``DeviceAllow=char-<group>`` is resolved against /proc/devices when the unit starts, and a group
that no loaded driver has registered by then is left out of the allow list for the life of that
start (systemd.resource-control(5), DeviceAllow=; its remedy: ``Wants=``/``After=`` the group's
``modprobe@<module>.service``).  At boot udev loads camera drivers in parallel with the services,
and a USB camera can be plugged in later: without its group's module loaded first, the camera is
refused (EPERM on /dev/video0) until someone restarts the service.

Checked on the unit file: the camera groups cannot be tried in the package test's container
(its kernel has no V4L2, and systemd-nspawn gives the container's systemd no device controller).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "debian" / "edge-alpr.service"
# /proc/devices group -> the kernel module that registers it (Linux drivers/media: v4l2-dev.c's
# VIDEO_NAME "video4linux" in videodev.ko, mc-devnode.c's MEDIA_NAME "media" in mc.ko)
MODULES = {"video4linux": "videodev", "media": "mc"}
# Every group a camera's devices belong to, as /proc/devices names it: the two above, and
# "dma_heap" (drivers/dma-buf/dma-heap.c's DEVNAME, built in where it exists: libcamera's buffers).
# V4L2 sub-devices (/dev/v4l-subdev*) are video4linux's (v4l2-dev.c registers them under its
# major): a name no driver registers allows nothing and only misleads whoever reads the unit.
CAMERA_GROUPS = {*MODULES, "dma_heap"}


def unit_values(text: str, key: str) -> list[str]:
    """Every value of ``key`` in the unit (space-separated lists split), in order."""
    return [v for line in re.findall(rf"^{key}=(.*)$", text, re.M) for v in line.split()]


def test_each_camera_group_s_module_is_loaded_before_the_unit_starts() -> None:
    text = UNIT.read_text()
    groups = [v.removeprefix("char-") for v in unit_values(text, "DeviceAllow") if v.startswith("char-")]
    assert "video4linux" in groups, "the unit no longer allows /dev/video*: cameras cannot be opened"
    wants, after = set(unit_values(text, "Wants")), set(unit_values(text, "After"))
    for group in groups:
        if group in MODULES:
            loader = f"modprobe@{MODULES[group]}.service"
            assert loader in wants and loader in after, \
                f"DeviceAllow=char-{group}: add Wants={loader} and After={loader} to the unit's [Unit]"


def test_unit_values_reads_lists_and_repeats() -> None:
    text = "[Unit]\nWants=a.service b.service\nAfter=c.target\nWants=d.service\n"
    assert unit_values(text, "Wants") == ["a.service", "b.service", "d.service"]
    assert unit_values(text, "After") == ["c.target"]


def test_each_camera_group_is_one_the_kernel_registers() -> None:
    groups = [v.removeprefix("char-") for v in unit_values(UNIT.read_text(), "DeviceAllow") if v.startswith("char-")]
    unknown = [g for g in groups if g not in CAMERA_GROUPS]
    assert not unknown, f"DeviceAllow=char-{unknown[0]}: no driver registers this group in /proc/devices"
