"""Strict, I/O-free config of the event history (the ``history`` section).

Shape (YAML)::

    history:
      enabled: true            # camera events are kept (plate crop + scene thumbnail + row)
      api_reads: false         # also each plate read through POST /v1/plate-reader/
      dir: ""                  # default <state_dir>/history
      max_age_days: 30         # older events are deleted
      max_bytes: 2147483648    # images + rows, all events; the oldest go first past it
      min_free_bytes: 1073741824   # free space the history leaves on its file system
      thumbnail_width: 320     # scene thumbnail, pixels
      jpeg_quality: 80

The defaults fit a 16 GB SD card: at about 25 kB an event, 2 GiB hold some 80,000 events, and
the history deletes its own oldest events before the card's free space drops under 1 GiB,
whatever else fills it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..configutil import Section, setting

MIB = 1024 * 1024


@dataclass(frozen=True)
class HistoryConfig(Section):
    """What is kept, where, and for how long; see the module docstring."""

    enabled: bool = True  # keep camera events (row, plate crop, scene thumbnail) for GET /v1/events/
    api_reads: bool = False  # also keep each plate read through POST /v1/plate-reader/
    # folder of the history; "" = `<state_dir>/history`; one serve or run at a time, as state_dir
    dir: str = ""
    # events older than this many days are deleted (a wall-clock step while running ages none: docs/clock.md)
    max_age_days: float = setting(30.0, above=0)
    # rows plus images of all events; the oldest are deleted past it (at least 64 KiB: one event)
    max_bytes: int = setting(2048 * MIB, min=64 * 1024)
    # free space left on its file system: the oldest events are deleted to keep it
    min_free_bytes: int = setting(1024 * MIB, min=0)
    thumbnail_width: int = setting(320, min=64, max=1920)  # scene thumbnail width, in pixels
    jpeg_quality: int = setting(80, min=30, max=95)  # JPEG quality of the plate crop and thumbnail
