"""Run ``edge-alpr`` with its wall clock stepped by the seconds written in a file, as time sync
steps a Raspberry Pi's clock that booted without network time.

    python tests/stepped_clock.py OFFSET_FILE run --config FILE

Why a launcher: stepping the host's clock needs root and disturbs everything else on it, and
libfaketime moves the monotonic clock with the wall clock (or breaks ``time.sleep`` in Python
3.11 when told not to), which no real step does.  Here ``time.time`` (what the service's wall
clock is read with) adds the file's offset, re-read every 50 ms, and so does ``datetime.now`` in
the OpenCV camera source (what stamps a live camera's frames); the monotonic clock, the sockets,
SQLite and the models are the real ones.  The patch is made before the rest of ``edge_alpr`` is
imported, so the defaults bound at import (``clock=time.time``) are the stepped clock too.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

_real_time = time.time
_offset = [0.0]


def _stepped() -> float:
    return _real_time() + _offset[0]


class _SteppedDatetime(datetime):
    """``datetime`` whose ``now`` is the stepped clock's (a live camera's frame stamps)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return datetime.now(tz) + timedelta(seconds=_offset[0])


def _follow(path: Path) -> None:
    """Keep ``_offset`` at the file's value (a missing or half-written file keeps the last)."""
    while True:
        try:
            _offset[0] = float(path.read_text() or "0")
        except (OSError, ValueError):
            pass
        time.sleep(0.05)


if __name__ == "__main__":
    offset_file = Path(sys.argv[1])
    time.time = _stepped
    _offset[0] = float(offset_file.read_text() or "0")  # stepped from the first frame on
    threading.Thread(target=_follow, args=(offset_file,), name="stepped-clock", daemon=True).start()
    import edge_alpr.stream.sources.opencv as opencv_source

    opencv_source.datetime = _SteppedDatetime  # type: ignore[misc]
    from edge_alpr.cli import main

    sys.exit(main(sys.argv[2:]))
