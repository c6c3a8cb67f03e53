"""The files a camera reads (a video file, an image folder), checked before it opens them.

A path this user cannot reach must not look like a missing one, nor end in a traceback: the
usual case is a folder under ``/home`` given to the service, which runs as the system user
``edge-alpr`` with ``ProtectHome=yes`` (``/home``, ``/root`` and ``/run/user`` are out of its
sight), or a folder of one's own read by another user.  ``check-config`` runs the same check.

A path that fails here is a ``ConfigError``: the camera cannot start as configured, and no
restart changes that (``run`` exits 78, which the unit does not restart), unlike a camera or
stream that fails once opened (a ``CameraError``: a restart may help).  A folder on a network
share whose server is away now (``share.SHARE_DOWN``: a stale mount at boot) is neither: its camera
starts, reconnecting, and reads the folder once the share is back.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from ...errors import CameraError, ConfigError
from ...names import user_name
from .share import SHARE_DOWN, describe

PROTECTED_HOMES = ("/home", "/root", "/run/user")  # what ProtectHome=yes hides from the unit


def check_readable(path: Path, what: str, camera_id: str, folder: bool,
                   environ: Mapping[str, str] | None = None) -> str | None:
    """Raise ``ConfigError`` naming the camera, the path and the fix unless this user can read
    ``path`` (list it, for a ``folder``).  A path on a share whose server is away now: a video
    file is a ``CameraError`` (the service exits 1 and is started again); a folder's camera
    starts reconnecting, and what is wrong is returned, for ``check-config`` to say."""
    user = user_name(os.geteuid())
    try:
        st_ok = path.is_dir() if folder else path.is_file()
    except PermissionError as e:
        raise ConfigError(_unreadable(path, what, camera_id, user, e.strerror or str(e), environ)) from e
    except OSError as e:
        where = f"camera {camera_id}: {what} {str(path)!r}"
        if e.errno not in SHARE_DOWN:
            raise ConfigError(f"{where} cannot be looked at ({describe(e)})") from e
        away = f"{where} cannot be reached now ({describe(e)}: its share or disk is away)"
        if folder:
            return f"{away}; the camera waits, reconnecting, until it is back"
        raise CameraError(f"{away}; the service exits and is started again until it is back") from e
    if not st_ok:
        if path.exists():
            raise ConfigError(f"camera {camera_id}: {what} {str(path)!r} is not a "
                              f"{'folder' if folder else 'file'}")
        raise ConfigError(f"camera {camera_id}: {what} {str(path)!r} does not exist; {missing_fix(path, folder)}")
    if not os.access(path, os.R_OK | (os.X_OK if folder else 0)):
        raise ConfigError(_unreadable(path, what, camera_id, user, "Permission denied", environ))
    return None


def missing_fix(path: Path, folder: bool) -> str:
    """What to do about a camera path that is not there: a first user's drop-box folder is
    usually just not made yet (the ``mkdir -p`` to type, with the folder as this process finds
    it), a video file's path mistyped.  Where ``mkdir -p`` would fail, what is in its way is
    said instead: a symbolic link to nothing, or a file where a folder of the path should be.

    A relative path is taken from the working directory of the process: wherever check-config
    is run by hand, and ``/`` for the service (the unit sets no ``WorkingDirectory``), so the
    two may look in different places, and an absolute path is the fix."""
    here = path.absolute()
    blocker = next(p for p in (here, *here.parents) if os.path.lexists(p))  # "/" at least
    fix = "correct the camera's source.path"
    if blocker.is_symlink() and not blocker.exists():
        return (f"{_name(blocker, here)} is a symbolic link to {os.readlink(blocker)!r}, which is missing: "
                f"correct the link or the camera's source.path")
    if blocker != here and not blocker.is_dir():
        return f"{_name(blocker, here)} is a file, not a folder: {fix}"
    if folder:
        fix = f"create it (mkdir -p {shlex.quote(str(here))}) or {fix}"
    if path.is_absolute():
        return fix
    service = Path("/") / path
    where = ("/, here as for the service" if here == service else
             f"here {here}, but {service} for the service, which systemd runs from /")
    return f"{fix}; a relative path is taken from the working directory ({where}): give an absolute path"


def _name(found: Path, path: Path) -> str:
    """``found``, the path itself or a folder above it, as the message names it."""
    return "it" if found == path else repr(str(found))


def _unreadable(path: Path, what: str, camera_id: str, user: str, why: str,
                environ: Mapping[str, str] | None) -> str:
    return f"camera {camera_id}: {what} {str(path)!r} cannot be read by user {user} ({why}); " \
        + unreadable_fix(path, user, environ)


def unreadable_fix(path: Path, user: str, environ: Mapping[str, str] | None = None,
                   whose: str = "the camera's files") -> str:
    """The fix for a path ``user`` cannot read: under the systemd unit (``$INVOCATION_ID``) a
    home folder is hidden whatever its mode, so the files (``whose``) must move; elsewhere, a mode."""
    env = os.environ if environ is None else environ
    if env.get("INVOCATION_ID") and hidden_from_service(path):
        return (f"the service cannot see {', '.join(PROTECTED_HOMES)} (ProtectHome=yes in edge-alpr.service): "
                f"keep {whose} elsewhere, e.g. /srv/{path.name}, readable by {user}")
    return f"give {user} read access to it and to each folder above it (chmod o+rx, or a group {user} is in)"


def hidden_from_service(path: Path) -> bool:
    """Whether ``path`` lies in a folder ``ProtectHome=yes`` hides from the unit."""
    absolute = str(path.absolute())
    return any(absolute == h or absolute.startswith(h + "/") for h in PROTECTED_HOMES)
