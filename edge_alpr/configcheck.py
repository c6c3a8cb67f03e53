"""``edge-alpr check-config``, and the camera files ``run`` checks before it opens anything.

(The models folder, ``models.directory``, is checked the same way by ``models_folder.py``.)

A camera whose video file or image folder cannot be read (missing, not a file or folder, out of
this user's reach) can never start as configured: ``run`` refuses it as a config error (exit 78:
systemd does not restart it in a loop, ``RestartPreventExitStatus=78``), naming the file that
configured it.  ``check-config`` says the same thing as a warning, not an error: it judges the
file, while a path is the machine's state at that moment (a disk mounted later, a clip copied
after the config), and it often runs as another user than the service (root, in the package's
postinst), who sees other files.

Nothing here imports the service or the engine: admins run check-config after each edit and
postinst on each upgrade, so it must stay quick on a Raspberry Pi.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from .config import DEFAULT_PATH, Config, camera_regions, origin
from .credentials import (
    hide_credentials,
    is_loopback,
    open_bind_fix,
    read_api_token,
    service_token_warning,
    token_warning,
)
from .entry import say
from .errors import CameraError, ConfigError, EdgeAlprError
from .models_folder import models_directory_warnings
from .statedir import nearly_full_warning
from .unit_paths import mounts_advice

REFUSED = "edge-alpr run will refuse to start until this is fixed"


def check(cfg: Config) -> int:
    """What ``service.build`` checks before it opens anything, printed; always 0 (an error is
    raised as a ``ConfigError``, which the CLI turns into exit 78)."""
    # every listed camera is checked, in use or not, so enabling the stream later cannot fail
    for cam in cfg.stream.cameras:
        camera_regions(cfg, cam.id, cam.regions)
    token = read_api_token(cfg.api.token_env, cfg.api.token_credential)
    weak = token_warning(token)
    if token is None and Path(cfg.source).is_file():  # not here: the unit's LoadCredential file?
        weak = service_token_warning(Path(cfg.source), cfg.api.token_credential)
    models = models_directory_warnings(cfg, cfg.source == DEFAULT_PATH)
    full = nearly_full_warning(cfg.state_path)
    warnings = [*camera_file_warnings(cfg), *(f"{w} ({REFUSED})" for w in models), *([weak] if weak else []),
                *([full] if full else [])]
    warnings += readable_secret_warnings(cfg)
    ha_prefix = cfg.mqtt.ha_prefix_warning()
    warnings += [ha_prefix] if ha_prefix else []
    if token is None and not is_loopback(cfg.api.host) and not _service_credential(cfg):
        # a warning: the service may get the token where this shell does not (its Environment=)
        warnings.append(f"api.host {cfg.api.host} is reachable from the network and no API token is set here: "
                        "edge-alpr run and serve will refuse to listen on it without one: "
                        + open_bind_fix(cfg.api.token_env))
    for warning in warnings:
        say(f"edge-alpr: warning: {hide_credentials(warning)}")
    print(f"edge-alpr: config OK ({cfg.source}; {cameras_line(cfg)}; events: {events_line(cfg)})")
    return 0


def _service_credential(cfg: Config) -> bool:
    """Whether the API token credential file the service would load exists beside the config."""
    path = Path(cfg.source).parent / cfg.api.token_credential
    return bool(cfg.api.token_credential) and Path(cfg.source).is_file() and path.exists()


def camera_files(cfg: Config) -> list[tuple[str, str, Path, EdgeAlprError | None]]:
    """The video files and image folders of the cameras in use: (camera id, what, path, the
    error its source would raise now, e.g. ``camera ID: video file '...' does not exist``, or
    None where this user can read it).  A ``CameraError`` is a path on a share that is away now:
    its camera waits (a folder) or the service starts again until it is back (a video file)."""
    from .stream.source_config import FolderSourceConfig, VideoSourceConfig
    from .stream.sources.paths import check_readable

    found: list[tuple[str, str, Path, EdgeAlprError | None]] = []
    for cam in cfg.stream.in_use:
        src = cam.source
        if isinstance(src, FolderSourceConfig) and src.path:  # "": the bundled samples
            what, folder = "image folder", True
        elif isinstance(src, VideoSourceConfig):
            what, folder = "video file", False
        else:
            continue
        path = Path(src.path)
        try:
            away = check_readable(path, what, cam.id, folder)
        except (ConfigError, CameraError) as e:
            found.append((cam.id, what, path, e))
            continue
        found.append((cam.id, what, path, None if away is None else CameraError(away)))
    return found


def check_camera_files(cfg: Config) -> None:
    """Raise the first camera file this user cannot read as a ``ConfigError`` naming the config
    file (``run``, before the API binds, a camera opens or a model loads).

    A path that does not exist (yet) is a ``CameraError`` instead: the service exits 1 and is
    started again, so a disk mounted a little after boot is found; a path that is there but is
    no file or folder, or unreadable, is a config error (exit 78, not restarted)."""
    for _, what, path, error in camera_files(cfg):
        if error is None or (isinstance(error, CameraError) and what == "image folder"):
            continue  # a folder on a share that is away: its camera starts, reconnecting
        if isinstance(error, CameraError):
            raise CameraError(f"{origin(cfg)}: {error}") from error
        if not _exists(path):
            raise CameraError(f"{origin(cfg)}: {error}{mounts_advice(path)}") from error
        raise ConfigError(f"{origin(cfg)}: {error}") from error


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a folder above it cannot be searched: there, but unreadable
        return True


def camera_file_warnings(cfg: Config) -> list[str]:
    """The camera files ``run`` would refuse now, as check-config's warnings, and in the
    service's config the paths the service cannot see although this user can (a home folder,
    hidden by the unit's ``ProtectHome=yes``)."""
    from .stream.sources.paths import hidden_from_service, unreadable_fix

    warnings = []
    for camera_id, what, path, error in camera_files(cfg):
        if isinstance(error, CameraError):
            warnings.append(str(error))
        elif error is not None:
            warnings.append(f"{error} ({REFUSED})")
        elif hidden_from_service(path) and cfg.source == DEFAULT_PATH:  # the service's config: it runs as edge-alpr
            warnings.append(f"camera {camera_id}: {what} {str(path)!r}: "
                            + unreadable_fix(path, "edge-alpr", {"INVOCATION_ID": "check-config"}))
    return warnings


def readable_secret_warnings(cfg: Config) -> list[str]:
    """A config file every user of the machine can read (the package's is 0644) that holds a
    password or token in a camera's or a webhook target's URL, with the commands that make it
    readable only by root and the service.  Why: such a URL has no other place to go (the API
    token and the MQTT password do: a credential), and nothing else says that it is exposed."""
    path = Path(cfg.source)
    try:
        mode = path.stat().st_mode & 0o777 if path.is_file() else 0
    except OSError:
        return []
    if not mode & 0o004:
        return []
    holders = [f"camera {cam.id}'s url" for cam in cfg.stream.cameras
               if _has_secret(getattr(cam.source, "url", ""))]
    holders += [f"webhook target {t.id}'s url" for t in cfg.webhooks.targets if _has_secret(t.url)]
    if not holders:
        return []
    fix = (f"chgrp edge-alpr {path} && chmod 640 {path} (the service's group reads it)" if cfg.source == DEFAULT_PATH
           else f"chmod o-r {path} (the user that runs edge-alpr must still read it)")
    return [f"{path} holds a password or token ({', '.join(holders)}) and every user of this machine "
            f"can read it (mode {mode:04o}): {fix}"]


def _has_secret(url: str) -> bool:
    """Whether ``url`` holds a user's password or a secret query value or path (what the log hides)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.password:
        return True
    bare = url.replace(f"{parts.username}@", "", 1) if parts.username else url  # a user name alone is no secret
    return hide_credentials(bare) != bare


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def events_line(cfg: Config) -> str:
    """Where ``run`` sends the camera events, as its start-up line says it.  Why: ``mqtt`` is on
    by default with the broker on this machine, so a section that names no ``host`` (only a port,
    a user) is valid and publishes to localhost; said here, it is seen before the service starts."""
    sinks = []
    if cfg.mqtt.enabled:
        here = " (mqtt.host: this machine)" if cfg.mqtt.host in LOCAL_HOSTS else ""
        sinks.append(f"MQTT {cfg.mqtt.host}:{cfg.mqtt.port}{here}")
    if cfg.webhooks.targets:
        count = len(cfg.webhooks.targets)
        sinks.append(f"{count} webhook target{'' if count == 1 else 's'}")
    return " and ".join(sinks) or "logged only (mqtt.enabled is false, no webhooks.targets)"


def cameras_line(cfg: Config) -> str:
    """The cameras ``run`` will open, as the service's start-up line counts them: a disabled
    stream opens none, however many are listed."""
    used = cfg.stream.in_use
    if not used:
        return f"0 cameras ({cfg.stream.why_none()})"
    return f"{len(used)} camera{'' if len(used) == 1 else 's'}: {', '.join(c.id for c in used)}"
