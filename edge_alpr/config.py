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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .configutil import check_keys, typed
from .delivery.mqtt_config import MqttConfig
from .errors import ConfigError
from .history.config import HistoryConfig
from .recognizer import ModelsConfig
from .stream.config import StreamConfig
from .watchlists import WatchListsConfig

DEFAULT_PATH = "/etc/edge-alpr/config.yaml"
DEFAULT_STATE_DIR = "/var/lib/edge-alpr"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_LINGER_S = 0.1


def _int_at_least(d: dict[str, Any], key: str, default: int, low: int, where: str) -> int:
    value = typed(d, key, int, default, where)
    if value < low:
        raise ConfigError(f"{where}.{key}: must be >= {low}, got {value}")
    return value


def _float_above(d: dict[str, Any], key: str, default: float, low: float, where: str) -> float:
    value = typed(d, key, float, default, where)
    if value <= low:
        raise ConfigError(f"{where}.{key}: must be > {low}, got {value}")
    return value


def _float_at_least(d: dict[str, Any], key: str, default: float, low: float, where: str) -> float:
    value = typed(d, key, float, default, where)
    if value < low:
        raise ConfigError(f"{where}.{key}: must be >= {low}, got {value}")
    return value


@dataclass(frozen=True)
class UploadUrlConfig:
    """``upload_url`` fetching (IP-camera snapshot URLs); off unless enabled, always bounded."""

    enabled: bool = False  # true: the API also fetches the image from a client's upload_url (http or https)
    max_bytes: int = 10 * 1024 * 1024  # largest image fetched from an upload_url (larger: HTTP 413)
    timeout_s: float = 5.0  # time limit of one whole fetch (over it: HTTP 400)

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> UploadUrlConfig:
        d = check_keys(obj, {"enabled", "max_bytes", "timeout_s"}, where)
        return cls(typed(d, "enabled", bool, False, where),
                   _int_at_least(d, "max_bytes", cls.max_bytes, 1, where),
                   _float_above(d, "timeout_s", cls.timeout_s, 0.0, where))


@dataclass(frozen=True)
class ApiConfig:
    """The HTTP server.  Loopback by default; other addresses need a token (see ``serve``)."""

    enabled: bool = True  # false: edge-alpr run serves no HTTP API (edge-alpr serve always serves)
    host: str = "127.0.0.1"  # address to listen on; one that is not loopback needs an API token
    port: int = 8080  # TCP port; 0 = any free port (edge-alpr serve --port overrides it)
    threads: int = 4  # HTTP worker threads: requests served at once
    # environment variable holding the API token (clients send `Authorization: Token <key>`); "" = none
    token_env: str = "EDGE_ALPR_API_TOKEN"
    # systemd credential holding the API token when the variable is unset; "" = none
    token_credential: str = "api_token"
    license_key: str = "edge-alpr-open-source"  # the label GET /info/ reports as license_key; no licence is checked
    max_upload_bytes: int = 10 * 1024 * 1024  # largest request body accepted (larger: HTTP 413)
    # largest image (width x height) decoded (larger: HTTP 413); a decode takes up to 7 bytes a
    # pixel at its peak, so 20 Mpx (a 5472x3648 photo) is ~140 MB
    max_pixels: int = 20_000_000
    # pixels of images decoded or read at once, all requests together (>= max_pixels; over it:
    # HTTP 503 + Retry-After); 24 Mpx (~170 MB at the peak) keeps the service under 300 MB on a
    # 1 GB board: one image at the limit and a camera-size read, or two 12 Mpx photos
    decode_budget_pixels: int = 24_000_000
    header_timeout_s: float = 10.0  # time a client has to send a request's line and headers, in all (else HTTP 408)
    body_timeout_s: float = 60.0  # time a client has to send a request's body, in all (else HTTP 408)
    min_rate: float = 4096.0  # bytes/s a client must keep up after 2 s of headers and of body (else HTTP 408); 0 = off
    rate_limit: float = 0.0  # requests per second over all clients; 0 = off
    rate_burst: int = 10  # requests let through at once before rate_limit applies (used when rate_limit > 0)
    shutdown_timeout_s: float = 1.5  # on stop: time left, in all, to requests in flight and webhook sends
    keepalive_linger_s: float = 0.05  # a worker's wait for a kept-alive connection's next request (<= 0.1; 0 = off)
    upload_url: UploadUrlConfig = field(default_factory=UploadUrlConfig)

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> ApiConfig:
        if isinstance(obj, dict) and "token" in obj:
            raise ConfigError(
                f"{where}.token: tokens are not read from config files; set the environment "
                "variable named by token_env (default EDGE_ALPR_API_TOKEN) or the systemd "
                "credential named by token_credential (default api_token)")
        keys = {f for f in cls.__dataclass_fields__}
        d = check_keys(obj, keys, where)
        port = typed(d, "port", int, cls.port, where)
        if not 0 <= port <= 65535:
            raise ConfigError(f"{where}.port: {port} is not a TCP port (0..65535, 0 = any free)")
        linger = _float_at_least(d, "keepalive_linger_s", cls.keepalive_linger_s, 0.0, where)
        if linger > MAX_LINGER_S:
            raise ConfigError(f"{where}.keepalive_linger_s: {linger} s would hold a worker thread "
                              f"idle; use at most {MAX_LINGER_S} (0 = off)")
        rate = typed(d, "rate_limit", float, 0.0, where)
        if rate < 0:
            raise ConfigError(f"{where}.rate_limit: must be >= 0 (0 = off), got {rate}")
        max_pixels = _int_at_least(d, "max_pixels", cls.max_pixels, 64 * 64, where)
        budget = _int_at_least(d, "decode_budget_pixels", max(cls.decode_budget_pixels, max_pixels),
                               max_pixels, where)
        return cls(
            enabled=typed(d, "enabled", bool, True, where),
            host=typed(d, "host", str, cls.host, where),
            port=port,
            threads=_int_at_least(d, "threads", cls.threads, 1, where),
            token_env=typed(d, "token_env", str, cls.token_env, where),
            token_credential=typed(d, "token_credential", str, cls.token_credential, where),
            license_key=typed(d, "license_key", str, cls.license_key, where),
            max_upload_bytes=_int_at_least(d, "max_upload_bytes", cls.max_upload_bytes, 1024, where),
            max_pixels=max_pixels,
            decode_budget_pixels=budget,
            header_timeout_s=_float_above(d, "header_timeout_s", cls.header_timeout_s, 0.0, where),
            body_timeout_s=_float_above(d, "body_timeout_s", cls.body_timeout_s, 0.0, where),
            min_rate=_float_at_least(d, "min_rate", cls.min_rate, 0.0, where),
            rate_limit=rate,
            rate_burst=_int_at_least(d, "rate_burst", cls.rate_burst, 1, where),
            shutdown_timeout_s=_float_above(d, "shutdown_timeout_s", cls.shutdown_timeout_s, 0.0,
                                            where),
            keepalive_linger_s=linger,
            upload_url=UploadUrlConfig.from_dict(d.get("upload_url"), f"{where}.upload_url"),
        )


@dataclass(frozen=True)
class UsageConfig:
    """Monthly quota; ``max_calls: 0`` means unlimited (responses then say 2**31 - 1: see ``usage``)."""

    # API recognitions per calendar month (UTC), HTTP 403 past it; 0 = unlimited; camera events count, never refused
    max_calls: int = 0

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> UsageConfig:
        d = check_keys(obj, {"max_calls"}, where)
        return cls(_int_at_least(d, "max_calls", 0, 0, where))


@dataclass(frozen=True)
class WebhookTarget:
    """One receiver of ``image.done``; ``image: true`` also sends the image (multipart)."""

    url: str  # http:// or https:// URL the events are POSTed to; each URL listed once
    image: bool = False  # true: sent as multipart with the image (an API read's upload, a camera event's frame)
    id: int = 0  # sent as hook.id; unset = the target's position in the list (1, 2, ...)

    @classmethod
    def from_dict(cls, obj: Any, where: str, index: int) -> WebhookTarget:
        if isinstance(obj, str):
            obj = {"url": obj}
        d = check_keys(obj, {"url", "image", "id"}, where)
        url = typed(d, "url", str, "", where)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.url: {url!r} must be an http:// or https:// URL")
        return cls(url, typed(d, "image", bool, False, where), typed(d, "id", int, index + 1, where))


@dataclass(frozen=True)
class WebhooksConfig:
    """Targets plus retry policy; a target failing ``max_failures`` times in a row is disabled."""

    targets: tuple[WebhookTarget, ...] = ()
    timeout_s: float = 10.0  # time limit of one POST (over it: a failure, retried)
    backoff_initial_s: float = 1.0  # wait before retrying a failed delivery; doubles with each failure in a row
    backoff_max_s: float = 300.0  # longest wait between retries
    # failures in a row that disable a target until a restart (its events stay queued); 0 = never
    max_failures: int = 50

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> WebhooksConfig:
        d = check_keys(obj, {"targets", "timeout_s", "backoff_initial_s", "backoff_max_s",
                             "max_failures"}, where)
        raw = typed(d, "targets", list, [], where)
        targets = tuple(WebhookTarget.from_dict(t, f"{where}.targets[{i}]", i)
                        for i, t in enumerate(raw))
        urls = [t.url for t in targets]
        if len(set(urls)) != len(urls):
            raise ConfigError(f"{where}.targets: a URL is listed twice; list each target once")
        initial = _float_above(d, "backoff_initial_s", cls.backoff_initial_s, 0.0, where)
        maximum = _float_above(d, "backoff_max_s", cls.backoff_max_s, 0.0, where)
        if maximum < initial:
            raise ConfigError(f"{where}.backoff_max_s: must be >= backoff_initial_s ({initial})")
        return cls(targets, _float_above(d, "timeout_s", cls.timeout_s, 0.0, where), initial,
                   maximum, _int_at_least(d, "max_failures", cls.max_failures, 0, where))


@dataclass(frozen=True)
class OutboxConfig:
    """Bounds of the on-disk delivery queue shared by MQTT and webhooks.  ``max_bytes`` bounds
    the queued payloads plus images (oldest dropped first, counted in ``dropped``; one larger
    than it is refused): see ``delivery/outbox.py``."""

    max_rows: int = 10_000  # queued deliveries (one per event and sink), all sinks together; the oldest go first
    max_age_s: float = 7 * 86400.0  # queued deliveries older than this are dropped
    max_bytes: int = 256 * 1024 * 1024  # queued payloads plus images, all sinks; the oldest go first (at least 1 MiB)

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> OutboxConfig:
        d = check_keys(obj, {"max_rows", "max_age_s", "max_bytes"}, where)
        return cls(_int_at_least(d, "max_rows", cls.max_rows, 1, where),
                   _float_above(d, "max_age_s", cls.max_age_s, 0.0, where),
                   _int_at_least(d, "max_bytes", cls.max_bytes, 1024 * 1024, where))


@dataclass(frozen=True)
class Config:
    """Everything; each section is parsed by the module that uses it."""

    # folder of the usage counters, outbox and watch lists (and history, crops by default)
    state_dir: str = DEFAULT_STATE_DIR
    log_level: str = "INFO"  # DEBUG | INFO | WARNING | ERROR (any case); the log goes to stderr
    api: ApiConfig = field(default_factory=ApiConfig)
    usage: UsageConfig = field(default_factory=UsageConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    watchlists: WatchListsConfig = field(default_factory=WatchListsConfig)
    source: str = "<defaults>"

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)


def from_dict(obj: Any, where: str = "<config>") -> Config:
    """Validate plain data (as from YAML) into a ``Config``; ``where`` names the file."""
    d = check_keys(obj, {"state_dir", "log_level", "api", "usage", "webhooks", "outbox", "models",
                         "stream", "mqtt", "history", "watchlists"}, where)
    level = typed(d, "log_level", str, "INFO", where).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{where}.log_level: {level!r} is not one of {', '.join(LOG_LEVELS)}")
    state_dir = typed(d, "state_dir", str, DEFAULT_STATE_DIR, where)
    if not state_dir:
        raise ConfigError(f"{where}.state_dir: must not be empty (e.g. {DEFAULT_STATE_DIR})")
    return Config(
        state_dir=state_dir,
        log_level=level,
        api=ApiConfig.from_dict(d.get("api"), f"{where}: api"),
        usage=UsageConfig.from_dict(d.get("usage"), f"{where}: usage"),
        webhooks=WebhooksConfig.from_dict(d.get("webhooks"), f"{where}: webhooks"),
        outbox=OutboxConfig.from_dict(d.get("outbox"), f"{where}: outbox"),
        models=ModelsConfig.from_dict(d.get("models"), f"{where}: models"),
        stream=StreamConfig.from_dict(d.get("stream"), f"{where}: stream"),
        mqtt=MqttConfig.from_dict(d.get("mqtt"), f"{where}: mqtt"),
        history=HistoryConfig.from_dict(d.get("history"), f"{where}: history"),
        watchlists=WatchListsConfig.from_dict(d.get("watchlists"), f"{where}: watchlists"),
        source=where,
    )


def parse(text: str, where: str = "<config>") -> Any:
    """YAML text to plain data; a syntax error names the file and line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML: {e}") from e


def load(path: str | Path | None = None) -> Config:
    """Read ``path``; with ``None`` use ``/etc/edge-alpr/config.yaml`` if it exists, else defaults."""
    if path is None:
        if not Path(DEFAULT_PATH).is_file():
            return from_dict({}, "<defaults>")
        path = DEFAULT_PATH
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config file ({e}); check --config") from e
    return from_dict(parse(text, str(path)), str(path))


def resolve_secret(env_name: str, credential: str,
                   environ: Mapping[str, str] | None = None) -> str | None:
    """A secret from ``$env_name`` or ``$CREDENTIALS_DIRECTORY/credential``; ``None`` if unset."""
    env = os.environ if environ is None else environ
    if env_name and env.get(env_name):
        return env[env_name]
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and credential:
        cred = Path(cred_dir) / credential
        try:
            return cred.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{cred}: cannot read the credential ({e})") from e
    return None
