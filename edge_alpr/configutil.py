"""Helpers for strict config parsing shared by every config section.

Each section's dataclass has a ``from_dict(obj, where)`` that calls these, so that an unknown
key or a bad value is reported with its dotted path and the file it came from.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from .errors import ConfigError

T = TypeVar("T")


def check_keys(obj: Any, allowed: set[str] | frozenset[str], where: str) -> dict[str, Any]:
    """Return ``obj`` as a dict after rejecting unknown keys; ``where`` is like ``file.yaml: mqtt``."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; allowed keys are {', '.join(sorted(allowed))}"
        )
    return dict(obj)


def typed(obj: dict[str, Any], key: str, kind: type[T] | tuple[type, ...], default: T, where: str) -> T:
    """Fetch ``obj[key]`` checking its type (ints are accepted where floats are expected)."""
    value = obj.get(key, default)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"{where}.{key}: expected {kinds[0].__name__}, got a boolean {value!r}")
    if not isinstance(value, kinds):
        raise ConfigError(f"{where}.{key}: expected {kinds[0].__name__}, got {value!r}")
    return cast(T, value)
