"""Per-camera health: what ``/info/`` (``cameras``), the retained MQTT
``<prefix>/<device>/<camera>/health`` message and Home Assistant's connectivity and fps
entities say about each camera.

Why a state and not only counters: a camera that cannot open retries for ever (that is the
point of reconnecting), so "the process is online" says nothing about it.  States:

* ``starting``: no frame yet and no failure yet (the first open is in progress);
* ``streaming``: frames arrive;
* ``waiting``: the source is open, nothing failed, and it has nothing to read: a folder camera
  whose files are all read (before a restart too) or that is empty, until a new file comes
  (``FrameSource.waiting`` says what for); "starting" said it was still opening, and
  "streaming" that frames arrived;
* ``reconnecting``: the source cannot open or stopped delivering, and retries with backoff;
* ``failed``: reconnecting for the camera's ``failed_after_s`` or more (still retrying; not a
  failure that may be none, ``FrameSource.may_be_fine``: a folder camera's drop box emptied while
  edge-alpr was stopped, till its first new file), or a camera
  thread hung past its deadline (the watchdog then stops) or ended without being asked to;
* ``ended``: a finite source (a video file, a folder) has no more frames;
* ``stopped``: the service is stopping.

``view`` says what a camera's frames show: ``ok``, or ``dark``, ``bright`` or ``frozen`` once that
has lasted the camera's ``view_alert_s`` (``view.py``); the state stays ``streaming`` meanwhile.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from .loop import CameraLoop

STATES = ("starting", "streaming", "waiting", "reconnecting", "failed", "ended", "stopped")
CONNECTED = ("streaming", "waiting")  # the source is there: Home Assistant's connectivity is on


def camera_state(loop: CameraLoop, now: float | None = None) -> str:
    """One of ``STATES`` (see the module docstring); ``now`` is the monotonic clock."""
    now = time.monotonic() if now is None else now
    if loop.stats.ended:
        return "ended"
    if loop.stop_event.is_set():
        return "stopped"
    # a capture thread done because its file or folder ended is not a failure: the recognition
    # thread is still on the frames it left in the buffer (then ``stats.ended``: ``ended``)
    capture_died = loop.capture.finished and not loop.buffer.ended
    if loop.finished or capture_died or loop.overdue(now) or loop.capture.overdue(now):
        return "failed"
    failing_since = loop.source.failing_since
    if failing_since is not None:
        late = now - failing_since >= loop.camera.failed_after_s and not loop.source.may_be_fine
        return "failed" if late else "reconnecting"
    if loop.source.waiting():
        return "waiting"
    return "streaming" if loop.stats.last_frame_at is not None else "starting"


def camera_health(loop: CameraLoop) -> dict[str, Any]:
    """The camera's state and counters as JSON-ready values (the MQTT ``health`` body)."""
    stats, source = loop.stats, loop.source
    crashes = loop.crashes + loop.capture.crashes
    # a folder camera restarted with nothing new: when it read its newest file, before the restart
    last, behind = stats.last_frame_at or source.read_before(), source.behind()
    return {
        "camera_id": loop.camera.id,
        "state": camera_state(loop),
        "view": loop.view_check.view,  # ok, dark, bright or frozen (view.py)
        "fps_in": round(stats.read_rate.rate(), 2),
        "fps_processed": round(stats.processed_rate.rate(), 2),
        "frames_read": stats.frames_read,
        "frames_processed": stats.frames_processed,
        "frames_dropped": stats.frames_dropped,
        "plates_unsure": loop.tracker.unsure,  # followed, best read under events.min_score: no event
        "lag_s": round(stats.lag_s, 3),
        "behind_s": None if behind is None else round(behind, 2),  # an RTSP stream read late (stamps.py)
        "last_frame_at": None if last is None else _iso(last),
        "errors": stats.errors + source.errors,  # frames not recognised + failures to open or read
        "crashes": crashes,
        **last_error(loop),
    }


def last_error(loop: CameraLoop) -> dict[str, str | None]:
    """``last_error`` and ``last_error_at`` (ISO 8601 UTC): while the source fails, its reason;
    else the newest of the source's reason and the camera threads' last crash, kept once frames
    flow again.  Why a time: kept without one, a reason from hours ago read as the camera's
    problem now (cleared, a camera that keeps dropping would show nothing of why)."""
    source, now, mono = loop.source, time.time(), time.monotonic()
    said: list[tuple[float, str]] = []
    if source.last_error is not None:
        said.append((source.last_error_at or now, source.last_error))
    if source.failing_since is None:
        said += [(now - (mono - w.crashed_at), w.last_error) for w in (loop, loop.capture)
                 if w.last_error is not None and w.crashed_at is not None]
    if not said:
        return {"last_error": None, "last_error_at": None}
    at, reason = max(said)
    return {"last_error": reason, "last_error_at": _iso(at)}


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
