"""Which V4L2 device a camera means, and why it may not open: words for the log and ``last_error``.

Why: a USB camera's number is not its name.  Unplugged and plugged back while the old device
is still held (the service keeps retrying it), it comes back as ``/dev/video2``; two cameras
swap numbers from one boot to the next; a UVC camera also makes a metadata node beside its
capture node (``/dev/video1``), which opens but gives no frame.  udev keeps names that do not
move, ``/dev/v4l/by-id/usb-<maker>_<model>_<serial>-video-index0`` (the capture node is
``index0``), and ``device_path`` takes one.  When a device does not open, the hint says what is
there now, so the fix can be read off the log.
"""

from __future__ import annotations

import os
from pathlib import Path

BY_ID = Path("/dev/v4l/by-id")


def device_node(device: int, device_path: str) -> str:
    """The path the camera opens: its ``device_path``, else ``/dev/video<device>``."""
    return device_path or f"/dev/video{device}"


def capture_names(by_id: Path = BY_ID) -> list[str]:
    """The stable names of the capture nodes here (``...-video-index0``), sorted; none where udev
    made none (no USB camera plugged in, or a container without udev)."""
    try:
        return sorted(str(p) for p in by_id.iterdir() if p.name.endswith("-video-index0"))
    except OSError:
        return []


def open_hint(node: str, numbered: bool, user: str, by_id: Path = BY_ID) -> str:
    """Why the V4L2 device ``node`` may not have opened, with what to do; ``numbered``: the
    camera names it by number (``device``), not by a ``device_path``."""
    names = capture_names(by_id)
    here = f"USB cameras here by a name that does not change: {', '.join(names)}" if names else \
        f"no USB camera is listed in {by_id}"
    if not os.path.lexists(node):
        return f"no such device {node} (unplugged?); {here}"
    if not os.path.exists(node):
        return f"{node} points at a device that is gone (unplugged?); {here}"
    if not os.access(node, os.R_OK | os.W_OK):
        return (f"user {user} may not open {node}: add it to the group that owns it (usually video: "
                f"sudo usermod -aG video {user}, then log in again)")
    if not numbered:
        return f"{node} is there but gave no video (busy in another program, or not a capture node); {here}"
    return (f"{node} is there but gave no video (busy in another program, or a metadata node: a USB camera's "
            f"capture node is usually the lower number); a USB camera's number can change after a replug "
            f"or reboot: name it by device_path instead; {here}")
