"""Process lifecycle shared by ``serve`` and ``run``: SIGTERM/SIGINT set a stop event.

SIGHUP (an admin's habit to ask a daemon to reload, ``kill -HUP``) is answered with a warning and
otherwise ignored: the config is read at start only.  Its default action ended the process
without a word, and systemd counts death by SIGHUP as a clean stop, so ``Restart=on-failure``
left the device dark until someone started it again.

Loops wait on that event with timeouts, so systemd's SIGTERM ends the process cleanly.  The
first signal also arms a last resort: if the process is still alive ``FORCED_EXIT_S`` later
(a thread stuck in a network call, a part that a failed start left running), it dies by that
signal, like a process without a handler.  Nothing committed is lost: the outbox and the usage
counters are SQLite (WAL) and the MQTT broker's last will says ``offline``.  A second signal
ends it at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

from PIL import Image

from .config import Config
from .statedir import writable_folder

log = logging.getLogger(__name__)

# Memory reuse for a long-running process (see keep_frame_memory).  A 1280x720 frame is 3.7 MB
# inside Pillow and 2.8 MB as a numpy array; a 1920x1080 one twice that.
_PILLOW_CACHED_BLOCKS = 4  # of Pillow's 16 MB blocks: room for the frames of one request
_MALLOC_MMAP_THRESHOLD = 8 * 1024 * 1024  # below this, buffers come from the reused heap
_MALLOC_TRIM_THRESHOLD = 16 * 1024 * 1024  # free heap kept before returning it to the kernel
_MALLOC_ARENA_MAX = 1  # one heap for all threads, so the kept memory is kept once
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # mallopt names in malloc.h


FORCED_EXIT_S = 1.8  # after SIGTERM/SIGINT: inside systemd's 2 s stop budget


def stop_on_signals(forced_exit_s: float = FORCED_EXIT_S) -> threading.Event:
    """An event that SIGTERM and SIGINT set (installed in the main thread).

    The process ends ``forced_exit_s`` after the first signal whatever still runs (see the
    module docstring); a second signal ends it at once.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        # From now on the default action: a second signal ends the process at once.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        timer = threading.Timer(forced_exit_s, _die_by, (signum, forced_exit_s))
        timer.name, timer.daemon = "forced-exit", True
        timer.start()
        # last: a log line can block (a full pipe, a stuck journal), and all of the above is armed
        log.info("signal %d: shutting down", signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, _on_hangup)
    return stop


HANGUP_SAID = ("SIGHUP ignored: edge-alpr reads its config at start only; to apply an edit run "
               "edge-alpr check-config, then restart the service (systemctl restart edge-alpr)")


def _on_hangup(signum: int, frame: FrameType | None) -> None:
    """See the module docstring: keep running, and say how an edit is applied."""
    log.warning("%s", HANGUP_SAID)


LAST_WORDS_S = 0.1  # how long the forced exit waits for its log line (which may never get out)


def _die_by(signum: int, after_s: float) -> None:
    """End the process by ``signum`` with its default action (so systemd sees a clean stop).

    The line saying which threads still ran is written from a thread of its own and waited for
    ``LAST_WORDS_S`` only: where the log cannot be written (a full pipe, a stuck journal: often
    why the process did not stop) waiting for it would keep the process alive for ever.
    """
    try:
        names = sorted(t.name for t in threading.enumerate()
                       if t.is_alive() and t is not threading.current_thread())
        said = threading.Thread(target=_last_words, args=(signum, after_s, names), name="last-words", daemon=True)
        said.start()
        said.join(LAST_WORDS_S)
    finally:  # whatever logging does on the way out
        os.kill(os.getpid(), signum)  # the default action is installed: this ends the process
        os._exit(128 + signum)  # only if the signal was blocked or ignored after all


def _last_words(signum: int, after_s: float, names: list[str]) -> None:
    log.error("still running %.1f s after signal %d (threads: %s); exiting now", after_s, signum, ", ".join(names))
    for handler in logging.getLogger().handlers:
        handler.flush()


def make_state_dir(cfg: Config) -> Path:
    """Create ``cfg``'s state folder (counters, outbox) or raise a ``ConfigError`` naming the
    fix, and the config file when the value came from one, also when it or a file in it is not
    writable by this user (``statedir.py``)."""
    return writable_folder(cfg.state_path, "state_dir", cfg.source if cfg.state_dir_set else "")


def keep_frame_memory() -> None:
    """Let each request or frame reuse the last one's image buffers instead of new pages.

    Why: by default Pillow frees its image blocks at once and glibc hands buffers of a few MB
    straight back to the kernel, so every decoded frame pays ~700 fresh page faults per
    buffer.  Measured on the 2-core build machine, that made JPEG decoding inside the HTTP
    server twice as slow as in a tight loop (4.8 ms against 2.3 ms per 1280x720 frame).
    The cost is RSS kept for reuse: up to 4 of Pillow's blocks (each at most 16 MB; one
    720p frame fills one) and up to 16 MB of free heap, so about 20-35 MB for 720p-1080p
    frames and 80 MB at worst, bounded and not growing (measured: 127 MB RSS after 1000
    requests).  One malloc arena for all threads keeps that from multiplying by the thread
    count; each model serialises its own runs anyway.  Call it before threads start.
    Where the C library is not glibc (no ``mallopt``), only Pillow's cache is set.
    """
    Image.core.set_blocks_max(_PILLOW_CACHED_BLOCKS)
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        log.debug("no glibc mallopt here; leaving malloc's defaults")
        return
    mallopt(_M_ARENA_MAX, _MALLOC_ARENA_MAX)
    mallopt(_M_MMAP_THRESHOLD, _MALLOC_MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _MALLOC_TRIM_THRESHOLD)
