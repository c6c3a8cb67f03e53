"""Strict, I/O-free config for webhook delivery (the ``webhooks`` section).

It lives beside the code that delivers (``webhooks.py``) so that ``delivery`` never imports the
top-level ``config``; ``config`` re-exports both classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..configutil import Section, rules, setting
from ..credentials import hide_credentials
from ..errors import ConfigError
from ..url_reading import url_problem

URL_SCHEMA = {"type": "string", "pattern": "^https?://"}


@dataclass(frozen=True)
class WebhookTarget(Section):
    """One receiver of ``image.done``; ``image: true`` also sends the image (multipart)."""

    # http:// or https:// URL the events are POSTed to; each URL listed once; a user:password@ in it is
    # sent as Basic authentication
    url: str = field(metadata=rules(schema=URL_SCHEMA))
    image: bool = False  # true: sent as multipart with the image (an API read's upload, a camera event's frame)
    id: int = 0  # sent as hook.id; unset = the target's position in the list (1, 2, ...)

    def check(self, where: str) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.url: {hide_credentials(self.url)!r} must be an http:// or https:// URL")
        if problem := url_problem(self.url):
            raise ConfigError(f"{where}.url: {hide_credentials(self.url)!r} cannot be read: {problem}")


def _targets(raw: Any, where: str) -> tuple[WebhookTarget, ...]:
    """``targets``: each a URL or a mapping; ``id`` defaults to the position, from 1."""
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of URLs or mappings, got {hide_credentials(repr(raw))}")
    items = [{"url": t} if isinstance(t, str) else t for t in raw]
    targets = tuple(WebhookTarget.from_dict({"id": i + 1, **t} if isinstance(t, dict) else t, f"{where}[{i}]")
                    for i, t in enumerate(items))
    urls = [t.url for t in targets]
    if len(set(urls)) != len(urls):
        raise ConfigError(f"{where}: a URL is listed twice; list each target once")
    return targets


@dataclass(frozen=True)
class WebhooksConfig(Section):
    """Targets plus retry policy; a target failing ``max_failures`` times in a row is disabled."""

    targets: tuple[WebhookTarget, ...] = setting((), parse=_targets, schema={
        "type": "array", "items": {"anyOf": [URL_SCHEMA, {"$ref": "#/$defs/WebhookTarget"}]}})
    timeout_s: float = setting(10.0, above=0)  # time limit of one POST (over it: a failure, retried)
    # wait before retrying a failed delivery; doubles with each failure in a row
    backoff_initial_s: float = setting(1.0, above=0)
    backoff_max_s: float = setting(300.0, above=0)  # longest wait between retries (>= backoff_initial_s)
    # failures in a row that disable a target until a restart (its events stay queued); 0 = never
    max_failures: int = setting(50, min=0)

    def check(self, where: str) -> None:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ConfigError(f"{where}.backoff_max_s: must be >= backoff_initial_s ({self.backoff_initial_s})")
