"""The error hierarchy.

Every error the service raises on purpose is an ``EdgeAlprError``; the HTTP layer maps
``InputError`` to 4xx responses, the CLI prints the message and exits non-zero.  Messages name
the bad value and the fix, so they can be shown to users unchanged.
"""

from pathlib import Path


class EdgeAlprError(Exception):
    """Base class of all deliberate edge-alpr errors."""


class ConfigError(EdgeAlprError):
    """A configuration file or value is invalid."""


class ModelError(EdgeAlprError):
    """A model file or its sidecar is missing, corrupt or inconsistent."""


class InputError(EdgeAlprError):
    """A request or image supplied by a caller is invalid (maps to HTTP 4xx)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class CameraError(EdgeAlprError):
    """A camera or frame source cannot be opened or has failed."""


class StateError(EdgeAlprError):
    """The state folder cannot take a write (its file system is full, or another process holds
    a database of it locked, or holds the folder itself: another edge-alpr on it): what was asked
    is not done (the API answers 503; ``run`` exits 1, which the unit retries), nothing already
    stored is lost."""


class Throttled(InputError):
    """Too many attempts from this client: answered 429 with ``Retry-After`` (whole seconds)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, status=429)
        self.retry_after_s = retry_after_s


class DatabaseLocked(StateError):
    """Another process (a backup tool, a ``sqlite3`` shell, a second edge-alpr) holds a database of
    the state folder locked: the message names the file and the holder.  Raised at start (exit 1:
    the lock goes, the unit's retry starts it) and by the outbox's reads while it lasts (its
    delivery workers wait for it); writes of events and counts are not lost to it."""


class DiskFull(StateError):
    """The file system under a state folder is too full for its state files to open at a start
    (``statedir.opening_state``): not a config error, since room comes back without an edit (logs
    rotated, a file deleted).  ``run`` and ``serve`` exit 75 (EX_TEMPFAIL), which the unit
    restarts (``state_room.py``); ``folder``, ``setting`` and ``free`` (bytes free then, None where
    unknown) say where to watch for room."""

    def __init__(self, message: str, folder: Path, setting: str, free: int | None) -> None:
        super().__init__(message)
        self.folder = folder
        self.setting = setting
        self.free = free


class NotConnected(EdgeAlprError):
    """A sink cannot deliver now because its connection is down (an MQTT broker that is not
    there), which the connection warns of itself, once per outage, with the cause and the fix:
    the delivery worker logs its own failures of it at debug level, so one cause is one warning."""


class EventTooLarge(EdgeAlprError):
    """A sink's receiver cannot take an event because of its size (an MQTT broker's packet size
    limit): sending it again cannot help, so its delivery worker sets it aside in the outbox
    (kept, retried at the next start) and goes on with the events after it.  The message names
    the event, its ``size`` in bytes, the receiver's ``limit`` where known, and the fix."""

    def __init__(self, message: str, size: int, limit: int | None = None) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit
