"""Image-folder source (the video-file source is in ``video.py``).

Timestamps come from the files themselves (their mtime), so a file read again (the bundled
samples, or ``remember: false``) gives the same timestamps and hence the same event ids, which
lets consumers drop the duplicates.  Files read before a restart, or before the folder's share
dropped and came back, are remembered (``ledger.py``) and not read again; the folder going away
is ``share.py``.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from ...errors import InputError
from ...statedir import NOFILE_FIX
from ...types import Frame
from ..source_config import FolderSourceConfig
from . import FrameSource, SourceEnded, sample_dir
from .ledger import ReadLedger, partial_name
from .ledger_rows import Signature
from .listing import Marks, Patterns, key, say_skipped, signature
from .paths import check_readable
from .pictures import PictureError, not_to_open, read_picture
from .share import SHARE_DOWN, ShareWatch
from .video import VideoFileSource

__all__ = ["FolderSource", "VideoFileSource"]

log = logging.getLogger(__name__)

EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE})  # out of file descriptors: no file's fault


class FolderSource(FrameSource):
    """Images in a folder, in name order, then each new file as it appears (polling).

    A file is read once: gone and back unchanged (a share that dropped) it is not read again;
    uploaded again under its name with another size or mtime it is a new picture.  Files are
    decoded by ``imaging.decode`` (the API's decoder: formats, EXIF orientation, ``max_pixels``
    checked from the header).  A file that cannot be
    read is retried while it was written within two polls (a copy in progress), then skipped
    with one log line and counted in the camera's errors, and read again once it changes (a
    copy that stalled, then finished).  Only regular files are opened: a FIFO named
    ``x.jpg`` would block the capture thread for ever.  Out of file descriptors (``EMFILE``:
    many API clients, say) no file is to blame: what could not be opened, and a scan that
    could not list the folder, are tried again at the next scan, with one warning an episode.
    Nor is a file to blame for a share's I/O error (``share.SHARE_DOWN``): the camera is then
    reconnecting, as for a folder that cannot be listed or a mount point no longer mounted.

    An upload drop box (``docs/cameras.md``): a file is read once its size and mtime are the
    same at two scans in a row (an FTP/SMB upload still growing is not read half-written);
    hidden names and partial-upload names (``ledger.partial_name``) are never read.  Files whose
    events were committed are remembered (``ledger.py``; with a ``state_dir``, across restarts):
    those there unchanged at the next start, or back after the share dropped, are skipped, said
    once."""

    file_times = True

    def __init__(self, cfg: FolderSourceConfig, camera_id: str, stop: threading.Event | None = None,
                 state_dir: Path | None = None):
        super().__init__(camera_id, stop)
        self.cfg = cfg
        self.path = Path(cfg.path) if cfg.path else sample_dir()
        check_readable(self.path, "image folder", camera_id, folder=True)
        # the bundled samples are a demonstration: read at every start
        kept = state_dir if state_dir is not None and cfg.path and cfg.remember else None
        self._ledger = ReadLedger(kept, camera_id, self.path.resolve(), cfg.forget_after_days * 86400,
                                  cfg.remember_max_files)
        self._share = ShareWatch(self.path, camera_id, self._ledger.present_before, self._ledger.mount)
        self._patterns = Patterns(self.path, cfg.patterns, camera_id)
        self._first_scan = True
        self._lock = threading.Lock()  # _taken: the camera loop calls done()
        self._taken: dict[int, tuple[str, Signature]] = {}  # frames read, not yet done
        self._settling: dict[str, Signature] = {}  # new files seen at the last scan, as they were
        self._done = Marks()  # names read or skipped: read again once changed
        self._idle = False  # the last scan queued nothing: waiting (not after each file read)
        self._queue: list[Path] = []
        self._last_scan = float("-inf")
        self._last_frame = float("-inf")
        self._starved = False  # out of file descriptors since the last file read

    def _scan(self) -> None:
        try:
            self._list()
        finally:
            self._last_scan = time.monotonic()

    def _list(self) -> None:
        unmounted = self._share.unmounted()
        if unmounted is not None:
            self._lost(unmounted)
            return
        try:
            found = self._patterns.scan(self._done, self._queue, self._settling)
        except OSError as e:
            if e.errno in EXHAUSTED:
                self._starve(self.path, e)
            else:
                self._lost(e)
            return
        empty = self._share.empty(found.matched)
        if empty is not None:  # files there before this start gone: a share not mounted, perhaps
            if not self.may_be_fine:  # or a drop box emptied while stopped: counted once, not failed
                self._lost(empty)  # rows not marked missing (a restart must still know them present)
                self.may_be_fine = True
            return
        if self._share.back():
            self.failing_since, self.may_be_fine = None, False
        self._share.listed(found.matched)
        self._ledger.listed_on(self._share.mount() if found.matched else None)  # see ShareWatch.empty
        ready = self._settled(found.due)
        self._queue.extend(ready)
        self._idle = not ready
        if not self._queue:
            self._fed()  # the folder listed, and nothing left to open: the episode is over
        # Only the names still there are kept in the marks (a camera uploading for months into a
        # folder emptied behind it must not grow them by one name per picture); the files read
        # are the ledger's, which a scan of an empty share does not make forget them.
        self._done.keep(found.names)
        self._ledger.scanned(found.names)

    def _settled(self, new: list[Path]) -> list[Path]:
        """Of files not read yet: those to read now.  Skipped: partial-upload names, files read
        before this start (said once), and files that changed since the last scan (or were not
        there), which wait for the next one (``_settling``, only these: a file seen mid-upload
        that then matches its mark again, re-uploaded unchanged with its mtime kept by FTP MFMT
        or ``cp -p``, is not due, and kept there the camera waited for it for ever)."""
        ready, skipped = [], 0
        settling: dict[str, Signature] = {}
        for path in new:
            if partial_name(path.name):
                continue
            try:
                st = path.stat()
            except OSError:  # gone, or cannot be read: _decode says which
                ready.append(path)
                continue
            sig, name = (st.st_size, st.st_mtime_ns), key(self.path, path)
            if self._ledger.has(name, sig):
                self._done.mark(name, sig)
                skipped += 1
            elif self._settling.get(name) == sig or not self.cfg.path:  # samples: no upload
                ready.append(path)
            else:
                settling[name] = sig
        if skipped:
            say_skipped(self.camera_id, skipped, self.path, self._ledger.path if self._first_scan else None)
        self._first_scan = False
        self._settling = settling
        return ready

    def done(self, index: int) -> None:
        """Frames up to ``index`` are finished with (their events committed): their files are
        recorded as read (then ``finished`` says so); kept for the next call when that write fails."""
        with self._lock:
            finished = {i: f for i, f in self._taken.items() if i <= index}
            for i in finished:
                del self._taken[i]
        if finished and not self._ledger.add(finished.values()):
            with self._lock:
                self._taken.update(finished)
        super().done(index)

    def waiting(self) -> str:
        """Once a scan found nothing left to read now (all read, before this start too, or none
        there, or new files still being copied in): what the camera waits for, with how many
        files were read.  "" while it reads, until a scan after the last file read finds nothing
        new (a camera uploading a file a poll is streaming, not waiting between its files), is
        out of descriptors, fails, or will end (``watch: false``).  Called from other threads
        (each health look): reads each attribute once, and counts nothing."""
        if self._last_scan == float("-inf") or not self._idle or self._queue or self._starved \
                or not self.cfg.watch or self.failing_since is not None:
            return ""
        copying, read = len(self._settling), self._done.read
        if copying:
            return f"waiting for {copying} new file{'' if copying == 1 else 's'} to be written in full " \
                   f"({read} in the folder already read)"
        return f"waiting for new files ({read} in the folder already read)" if read else \
            "waiting for files (none in the folder)"

    def read_before(self) -> float | None:
        return self._ledger.read_before

    def read(self, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        while not self.stop.is_set():
            pace = self._last_frame + self.cfg.interval - time.monotonic()
            if self._queue and pace <= 0:
                frame = self._load(self._queue.pop(0))
                if frame is not None:
                    self._last_frame = time.monotonic()
                    return frame
                continue
            if not self._queue:
                if (self._last_scan > float("-inf") and not self.cfg.watch and not self._starved
                        and not self._settling):
                    raise SourceEnded
                due = self._last_scan + self.cfg.poll_interval - time.monotonic()
                if due <= 0:
                    self._scan()
                    continue
                pace = due
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.stop.wait(min(pace, left))
        return None

    def _load(self, path: Path) -> Frame | None:
        """Decode one file; see the class docstring for files that cannot be read."""
        frame = self._decode(path)
        if frame is not False:  # any outcome but running out of descriptors ends that episode
            self._fed()
        return frame or None

    def _decode(self, path: Path) -> Frame | None | Literal[False]:
        """``_load``'s work: the frame, None for a file not read (now or ever), or False when the
        process is out of descriptors."""
        try:
            st = path.stat()
        except FileNotFoundError:  # gone, or a link to nothing: tried again if it comes back
            self._done.mark(key(self.path, path), (-1, -1))
            return None
        except OSError as e:
            if e.errno in SHARE_DOWN:
                self._lost(e)
                return None
            return self._skip(path, None, str(e))
        if (why := not_to_open(st, self.cfg.max_pixels)) is not None:
            return self._skip(path, st, why)
        try:
            rgb, st = read_picture(path, self.cfg.max_pixels)  # st: what was read, were it replaced since
        except (InputError, OSError) as e:
            st = e.st if isinstance(e, PictureError) else st
            if isinstance(e, FileNotFoundError):  # moved or deleted since the scan (a cleanup script)
                log.debug("camera %s: %s gone before it was read", self.camera_id, path)
                self._done.mark(key(self.path, path), (-1, -1))  # tried again if it comes back
                return None
            if isinstance(e, OSError) and e.errno in EXHAUSTED:
                self._starve(path, e)
                return False
            if isinstance(e, OSError) and e.errno in SHARE_DOWN:  # the share, not the file
                self._lost(e)
                return None
            if 0 <= time.time() - st.st_mtime < 2 * self.cfg.poll_interval:  # ahead: dated once written
                return None  # probably still being written: picked up again by the next scan
            return self._skip(path, st, str(e))
        self._done.mark(key(self.path, path), (st.st_size, st.st_mtime_ns))
        ts = datetime.fromtimestamp(st.st_mtime, timezone.utc)
        frame = Frame(rgb, self.camera_id, ts, self._next_index())
        with self._lock:
            self._taken[frame.index] = (key(self.path, path), (st.st_size, st.st_mtime_ns))
        return frame

    def _fed(self) -> None:
        """A file opened (or the folder listed with none left to open): no longer starved."""
        if self._starved:
            self._starved = False
            log.info("camera %s: reading files again (file descriptors free)", self.camera_id)

    def _starve(self, path: Path, error: OSError) -> None:
        """Out of descriptors: nothing is marked read or bad, and the files queued wait for the
        next scan (each would fail the same way now); one warning an episode."""
        self._queue.clear()
        if self._starved:
            return
        self._starved = True
        self.errors += 1
        self.last_error = f"cannot open {key(self.path, path)}: {error.strerror}"
        log.warning("camera %s: cannot open %s (%s): out of file descriptors; %s; the folder is read "
                    "again at the next scan", self.camera_id, path, error.strerror or error, NOFILE_FIX)

    def _lost(self, error: OSError | str) -> None:
        """The folder cannot be read (deleted, moved, unmounted, its share down, its permissions
        changed): the camera is failing, not crashed, and the folder is listed again at each
        scan; one warning an episode (``share.py``), as a camera that is down (a traceback per
        retry said nothing more).  Nothing queued is marked: it is found again once back."""
        self._queue.clear()
        self.may_be_fine = False
        self.failed(self._share.lost(error))

    def _skip(self, path: Path, st: os.stat_result | None, why: str) -> Frame | None:
        log.warning("camera %s: skipping %s: %s (read again if it changes)", self.camera_id, path, why)
        self.errors += 1
        self.last_error = f"skipped {key(self.path, path)}: {why}"
        self._done.mark(key(self.path, path), signature(st) if st is not None else (-1, -1, -1))
        return None

    def close(self) -> None:
        self._queue.clear()

