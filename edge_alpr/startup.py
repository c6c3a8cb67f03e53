"""What ``serve`` and ``run`` do with their command line before they start.

``--host``/``--port`` take the place of the config's ``api.host``/``api.port`` for both (``make
run PORT=8081`` as ``make serve PORT=8081``), and the first line of the log names the config in
use: without ``--config`` the commands read ``/etc/edge-alpr/config.yaml`` when it exists, so on
a machine with the package installed, ``make run`` in a checkout reads the service's config, and
only this line says so.
"""

from __future__ import annotations

import dataclasses

from .config import DEFAULT_PATH, Config, origin
from .errors import ConfigError


def with_address(cfg: Config, command: str, host: str | None, port: int | None) -> Config:
    """``cfg`` with ``--host``/``--port`` over ``api.host``/``api.port`` (None: not given).

    The address's checks stay the server's (a host beyond this machine needs a token), so the
    override passes through them as the config's value would.  ``run`` with the API off has no
    address to take: said, rather than ignored."""
    if host is None and port is None:
        return cfg
    if command == "run" and not cfg.api.enabled:
        given = " ".join(f"--{name} {value}" for name, value in (("host", host), ("port", port))
                         if value is not None)
        raise ConfigError(f"run {given}: the API is off (api.enabled: false in {origin(cfg)}); set "
                          "api.enabled: true there, or leave out --host/--port")
    api = dataclasses.replace(cfg.api, host=cfg.api.host if host is None else host,
                              port=cfg.api.port if port is None else port)
    return dataclasses.replace(cfg, api=api)


def config_line(cfg: Config, given: str | None) -> str:
    """The log's first line: the config file in use (``given``: the ``--config`` argument), or
    the built-in defaults, and why where no ``--config`` chose it."""
    if given is not None:
        return f"config: {cfg.source}"
    if cfg.source == DEFAULT_PATH:
        return f"config: {DEFAULT_PATH} (no --config given: the installed service's; --config FILE reads another)"
    return f"config: {origin(cfg)} (no --config given, and no {DEFAULT_PATH})"
