"""The top-level config: strict YAML with embedded defaults, in three layers.

``load(path)`` reads a file (the only I/O), ``parse(text, where)`` turns YAML into plain data,
``from_dict(obj, where)`` validates it into frozen dataclasses.  Tests use ``from_dict`` and
need no files.  Every key is optional (the embedded defaults below make ``edge-alpr run`` work
with no file at all), but an unknown key or a bad value is a ``ConfigError`` naming the key
and the file.  On a device the file is ``/etc/edge-alpr/config.yaml``.

Secrets never come from the file: the API token is read from the environment variable named
by ``api.token_env`` (default ``EDGE_ALPR_API_TOKEN``) or from the systemd credential
``$CREDENTIALS_DIRECTORY/<api.token_credential>`` (default ``api_token``) by
``resolve_secret``; the MQTT password likewise (see ``delivery/mqtt_config.py``).

Example::

    state_dir: /var/lib/edge-alpr
    api: {host: 0.0.0.0, port: 8080, threads: 4, max_upload_bytes: 10485760}
    usage: {max_calls: 0}            # 0 = unlimited
    webhooks:
      targets: [{url: "http://192.168.1.10:8081/hook", image: true}]
    models: {threads: 2}
    stream: {cameras: [{id: gate, source: {kind: opencv, url: "rtsp://cam/stream"}}]}
    mqtt: {host: broker.local}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .configutil import Section, parse_section, setting
from .configutil import resolve_secret as resolve_secret  # where the API and MQTT read their secrets
from .configyaml import parse as parse  # the file's YAML to plain data, its errors placed and hidden
from .delivery.mqtt_config import MqttConfig
from .delivery.webhooks_config import WebhooksConfig as WebhooksConfig
from .delivery.webhooks_config import WebhookTarget as WebhookTarget
from .errors import ConfigError, InputError
from .history.config import HistoryConfig
from .models_config import ModelsConfig
from .stream.config import StreamConfig
from .watchlists_config import WatchListsConfig

DEFAULT_PATH = "/etc/edge-alpr/config.yaml"
DEFAULTS = "<defaults>"  # the source of a config read from no file
# the largest config file read: the bound keeps a --config naming /dev/zero or a log of gigabytes
# from filling the memory.  32 watch lists of 10,000 plates with 80-character labels can be more
# (some 35 MB written as YAML flow mappings): the message says where such lists go instead
MAX_CONFIG_BYTES = 32 * 1024 * 1024
DEFAULT_STATE_DIR = "/var/lib/edge-alpr"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_LINGER_S = 0.1


@dataclass(frozen=True)
class UploadUrlConfig(Section):
    """``upload_url`` fetching (IP-camera snapshot URLs); off unless enabled, always bounded.

    At most half of ``api.threads`` fetch at once, so that other requests are still answered while
    image servers are slow; a fetch over that is answered 429 with ``Retry-After``.  So fetching
    needs ``api.threads`` >= 2 (a ``ConfigError`` otherwise): with one worker, a single slow image
    server held it for ``timeout_s`` and every other request (``/info/``, uploads) waited.
    A URL with a user name or password in it (``http://user:pass@host/``) is refused with a 400:
    credentials are not sent (give a snapshot URL without a login, or send the image as upload)."""

    # true: the API also fetches the image from a client's upload_url (http or https; one with
    # user:password@ in it: HTTP 400); at most half of api.threads fetch at once (more: HTTP 429),
    # so it needs api.threads >= 2
    enabled: bool = False
    # largest image fetched from an upload_url (larger: HTTP 413)
    max_bytes: int = setting(10 * 1024 * 1024, min=1)
    timeout_s: float = setting(5.0, above=0)  # time limit of one whole fetch (over it: HTTP 400)


@dataclass(frozen=True)
class ApiConfig(Section):
    """The HTTP server.  Loopback by default; other addresses need a token (see ``serve``)."""

    enabled: bool = True  # false: edge-alpr run serves no HTTP API (edge-alpr serve always serves)
    # address to listen on; one that is not loopback needs an API token (--host of serve and run overrides it)
    host: str = "127.0.0.1"
    port: int = setting(8080, min=0, max=65535)  # TCP port; 0 = any free port (--port of serve and run overrides it)
    threads: int = setting(4, min=1)  # HTTP worker threads: requests served at once
    # environment variable holding the API token (clients send `Authorization: Token <key>`); "" = none
    token_env: str = "EDGE_ALPR_API_TOKEN"
    # systemd credential holding the API token when the variable is unset; "" = none
    token_credential: str = "api_token"
    license_key: str = "edge-alpr-open-source"  # the label GET /info/ reports as license_key; no licence is checked
    # largest request body accepted (larger: HTTP 413)
    max_upload_bytes: int = setting(10 * 1024 * 1024, min=1024)
    # largest image (width x height) decoded (larger: HTTP 413); a decode takes up to 8 bytes a
    # pixel at its peak, so 20 Mpx (a 5472x3648 photo) is ~150 MB
    max_pixels: int = setting(20_000_000, min=64 * 64)
    # pixels of images decoded or read at once, all requests together (>= max_pixels, which it
    # follows when unset; over it: HTTP 503 + Retry-After); 24 Mpx keeps the service under 300 MB
    # on a 1 GB board: one image at the limit and a camera-size read, or two 12 Mpx photos (images
    # over 4 Mpx are decoded one at a time, so the peak is ~150 MB of images)
    decode_budget_pixels: int = 24_000_000
    # time a client has to send a request's line and headers, in all (else HTTP 408)
    header_timeout_s: float = setting(10.0, above=0)
    body_timeout_s: float = setting(60.0, above=0)  # time a client has to send a request's body, in all (else HTTP 408)
    # bytes/s a client must keep up after 2 s of headers and of body (else HTTP 408); 0 = off
    min_rate: float = setting(4096.0, min=0)
    # time a client has to take one response, at least (longer at send_min_rate: see below); past it,
    # or 10 s without taking a byte, the connection is reset. What a client's socket does not take at
    # once is queued (4 x max_upload_bytes for all clients): no worker waits for a slow reader; with
    # the queue full, clients that took nothing for 1 s are reset to make room, where that frees
    # enough (a response larger than the queue is sent by its worker instead)
    send_timeout_s: float = setting(60.0, above=0)
    # bytes/s a client taking a large response must keep up: it gets 2 s plus the bytes sent so far
    # at this rate, when that is longer than send_timeout_s; 0 = send_timeout_s in all
    send_min_rate: float = setting(16384.0, min=0)
    rate_limit: float = setting(0.0, min=0)  # requests per second over all clients; 0 = off
    # requests let through at once before rate_limit applies (used when rate_limit > 0)
    rate_burst: int = setting(10, min=1)
    # on stop: time left, in all, to requests in flight and webhook sends
    shutdown_timeout_s: float = setting(1.5, above=0)
    # a worker's wait for a kept-alive connection's next request, holding the worker idle; 0 = off
    keepalive_linger_s: float = setting(0.05, min=0, max=MAX_LINGER_S)
    # open connections one client address may hold; more are closed at once (one warning) so that
    # a client cannot take every file descriptor; behind a reverse proxy all clients share its
    # address: raise it there; 0 = no cap
    max_connections_per_client: int = setting(64, min=0)
    # host names a server without a token also answers (besides localhost, IP addresses and this
    # machine's name), e.g. a reverse proxy's; other Host headers get 403 (a DNS-rebinding guard)
    allowed_hosts: tuple[str, ...] = ()
    upload_url: UploadUrlConfig = field(default_factory=UploadUrlConfig)

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> ApiConfig:
        if isinstance(obj, dict) and "token" in obj:
            raise ConfigError(
                f"{where}.token: tokens are not read from config files; set the environment "
                "variable named by token_env (default EDGE_ALPR_API_TOKEN) or the systemd "
                "credential named by token_credential (default api_token)")
        cfg = parse_section(cls, obj, where)
        if not isinstance(obj, dict) or "decode_budget_pixels" not in obj:
            cfg = replace(cfg, decode_budget_pixels=max(cfg.decode_budget_pixels, cfg.max_pixels))
        if cfg.decode_budget_pixels < cfg.max_pixels:
            raise ConfigError(f"{where}.decode_budget_pixels: must be >= max_pixels ({cfg.max_pixels}), "
                              f"got {cfg.decode_budget_pixels}")
        if cfg.upload_url.enabled and cfg.threads < 2:
            raise ConfigError(f"{where}.upload_url.enabled: true needs api.threads >= 2, got {cfg.threads}: "
                              "at most half the workers fetch an upload_url, so that a slow image server "
                              "cannot hold the only worker while every other request waits; set "
                              "api.threads to 2 or more, or api.upload_url.enabled to false")
        return cfg


@dataclass(frozen=True)
class UsageConfig(Section):
    """Monthly quota; ``max_calls: 0`` means unlimited (responses then say 2**31 - 1: see ``usage``)."""

    # API recognitions per calendar month (UTC), HTTP 403 past it; 0 = unlimited; camera events count, never refused
    max_calls: int = setting(0, min=0)


@dataclass(frozen=True)
class OutboxConfig(Section):
    """Bounds of the on-disk delivery queue shared by MQTT and webhooks.  ``max_bytes`` bounds
    the queued payloads plus images (oldest dropped first, counted in ``dropped``; one larger
    than it is refused): see ``delivery/outbox.py``."""

    # queued deliveries (one per event and sink), all sinks together; the oldest go first
    max_rows: int = setting(10_000, min=1)
    # seconds a delivery may wait, counted while the service runs (a wall-clock step drops none): docs/clock.md
    max_age_s: float = setting(7 * 86400.0, above=0)
    # queued payloads plus images, all sinks; the oldest go first
    max_bytes: int = setting(256 * 1024 * 1024, min=1024 * 1024)


@dataclass(frozen=True)
class Config:
    """Everything; each section is parsed by the module that uses it."""

    # folder of the usage counters, outbox and watch lists (and history, crops by default); unset: the
    # unit's $STATE_DIRECTORY under systemd, this one as root, else ~/.local/state/edge-alpr ($XDG_STATE_HOME);
    # one serve or run at a time: a second one on it exits 1 naming the first (edge-alpr.lock)
    state_dir: str = setting(DEFAULT_STATE_DIR, nonempty=True)
    # the least severe messages logged; the log goes to stderr
    log_level: str = setting("INFO", choices=LOG_LEVELS, any_case=True)
    api: ApiConfig = field(default_factory=ApiConfig)
    usage: UsageConfig = field(default_factory=UsageConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    watchlists: WatchListsConfig = field(default_factory=WatchListsConfig)
    source: str = DEFAULTS
    # whether the file set state_dir (its errors then name the file), or it is default_state_dir()'s
    state_dir_set: bool = False

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)


def default_state_dir(euid: int | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The state folder when the config sets none.

    Under systemd the unit's ``StateDirectory`` (``$STATE_DIRECTORY``, its first entry); for
    root ``/var/lib/edge-alpr``; for any other user, who cannot create that folder, their own
    ``$XDG_STATE_HOME/edge-alpr`` (``~/.local/state/edge-alpr``), so that ``make run`` works as
    oneself without a config file.
    """
    env = os.environ if environ is None else environ
    unit = env.get("STATE_DIRECTORY", "").split(":")[0]
    if unit:
        return unit
    if (os.geteuid() if euid is None else euid) == 0:
        return DEFAULT_STATE_DIR
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    return str(Path(base) / "edge-alpr")


def from_dict(obj: Any, where: str = "<config>") -> Config:
    """Validate plain data (as from YAML) into a ``Config``; ``where`` names the file."""
    given = isinstance(obj, dict) and "state_dir" in obj
    cfg = parse_section(Config, obj, where, sep=": ", source=where, state_dir_set=given)
    return cfg if given else replace(cfg, state_dir=default_state_dir())


def origin(cfg: Config) -> str:
    """Where ``cfg``'s settings came from, as the start-up line and the errors say it."""
    return "built-in defaults" if cfg.source == DEFAULTS else cfg.source


def load(path: str | Path | None = None) -> Config:
    """Read ``path``; with ``None`` use ``/etc/edge-alpr/config.yaml`` if it exists, else defaults."""
    if path is None:
        if not Path(DEFAULT_PATH).is_file():
            return from_dict({}, DEFAULTS)
        path = DEFAULT_PATH
    try:
        with open(path, "rb") as f:  # at most one byte over the limit: /dev/zero or a log ends here
            data = f.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: the config file is over {MAX_CONFIG_BYTES} bytes, the most read; "
                              "check --config names the YAML config.  Watch lists of more plates than that "
                              "holds: keep some in the file and send the others to the API (PUT "
                              "/v1/watchlists/<name>/), which keeps them in the state folder")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config file ({e}); check --config") from e
    return from_dict(parse(text, str(path)), str(path))


def camera_regions(cfg: Config, camera_id: str, regions: Any) -> tuple[str, ...]:
    """A camera's ``regions`` as normalised region codes; an unknown code is a ``ConfigError``.

    ``run`` and ``check-config`` both check the cameras with it.  The region tables are imported
    here, when the check runs, so that loading the config does not compile them.
    """
    from .engine.regions import validate_regions

    try:
        return validate_regions(list(regions))
    except InputError as e:
        index = next((i for i, cam in enumerate(cfg.stream.cameras) if cam.id == camera_id), None)
        where = f"stream.cameras[{index}].regions" if index is not None else "stream camera regions"
        raise ConfigError(f"{cfg.source}: {where} (camera {camera_id}): {e}") from e
