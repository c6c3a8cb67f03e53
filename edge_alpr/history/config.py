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
from typing import Any

from ..configutil import check_keys, typed
from ..errors import ConfigError

MIB = 1024 * 1024
_KEYS = {"enabled", "api_reads", "dir", "max_age_days", "max_bytes", "min_free_bytes",
         "thumbnail_width", "jpeg_quality"}


@dataclass(frozen=True)
class HistoryConfig:
    """What is kept, where, and for how long; see the module docstring."""

    enabled: bool = True  # keep camera events (row, plate crop, scene thumbnail) for GET /v1/events/
    api_reads: bool = False  # also keep each plate read through POST /v1/plate-reader/
    dir: str = ""  # folder of the history; "" = `<state_dir>/history`
    max_age_days: float = 30.0  # events older than this many days are deleted
    max_bytes: int = 2048 * MIB  # rows plus images of all events; the oldest are deleted past it
    min_free_bytes: int = 1024 * MIB  # free space left on its file system: the oldest events are deleted to keep it
    thumbnail_width: int = 320  # scene thumbnail width, in pixels (64..1920)
    jpeg_quality: int = 80  # JPEG quality of the plate crop and thumbnail (30..95)

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> HistoryConfig:
        d = check_keys(obj, _KEYS, where)
        age = typed(d, "max_age_days", float, cls.max_age_days, where)
        if age <= 0:
            raise ConfigError(f"{where}.max_age_days: must be > 0, got {age}")
        max_bytes = typed(d, "max_bytes", int, cls.max_bytes, where)
        if max_bytes < 64 * 1024:
            raise ConfigError(f"{where}.max_bytes: {max_bytes} is too small to hold an event; "
                              "use at least 65536 (the default is 2 GiB)")
        free = typed(d, "min_free_bytes", int, cls.min_free_bytes, where)
        if free < 0:
            raise ConfigError(f"{where}.min_free_bytes: must be >= 0, got {free}")
        width = typed(d, "thumbnail_width", int, cls.thumbnail_width, where)
        if not 64 <= width <= 1920:
            raise ConfigError(f"{where}.thumbnail_width: must be 64..1920 pixels, got {width}")
        quality = typed(d, "jpeg_quality", int, cls.jpeg_quality, where)
        if not 30 <= quality <= 95:
            raise ConfigError(f"{where}.jpeg_quality: must be 30..95, got {quality}")
        return cls(enabled=typed(d, "enabled", bool, cls.enabled, where),
                   api_reads=typed(d, "api_reads", bool, cls.api_reads, where),
                   dir=typed(d, "dir", str, "", where), max_age_days=age, max_bytes=max_bytes,
                   min_free_bytes=free, thumbnail_width=width, jpeg_quality=quality)
