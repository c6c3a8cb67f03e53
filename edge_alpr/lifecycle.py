"""Process lifecycle shared by ``serve`` and ``run``: SIGTERM/SIGINT set a stop event.

Loops wait on that event with timeouts, so systemd's SIGTERM ends the process cleanly.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from .errors import ConfigError

log = logging.getLogger(__name__)


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM and SIGINT set (installed in the main thread)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def make_state_dir(path: Path) -> Path:
    """Create the state folder (counters, outbox) or raise a ``ConfigError`` naming the fix."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"state_dir {path}: cannot create it ({e}); set state_dir in the "
                          "config to a writable folder") from e
    return path
