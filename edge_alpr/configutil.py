"""Strict config parsing shared by every config section, driven by the dataclasses themselves.

A section is a frozen dataclass deriving from ``Section``.  ``Section.from_dict(obj, where)``
reads it field by field: a key's type is the field's annotation, its default the field's
default, and its limits are declared once beside it with ``setting(default, min=..., ...)``;
the configuration reference and its JSON schema (``configref.py``) read the same declarations.
A section's ``check(where)`` holds the rules between its fields.  An unknown key, a value of
the wrong type or out of its range is a ``ConfigError`` naming the key, its dotted path and the
file (``where`` is like ``file.yaml: mqtt``).  Nothing here reads a file except
``read_secret``, which reads a secret at start-up.

Why not a validation library: pydantic 2 was measured against this module (x86): +46 ms to
import, +109 ms with models of this size validated once (a Raspberry Pi 4 is some 10-15x
slower: over a second at every start) and 9.1 MiB installed, to replace ~230 lines that also
produce the reference's range column and the editors' schema.  Importing ``edge_alpr.config``
loads PyYAML and the config modules only, no engine, numpy or Pillow.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from .errors import ConfigError
from .names import shown

T = TypeVar("T")
S = TypeVar("S", bound="Section")
SCALARS: tuple[type, ...] = (bool, int, float, str)


@dataclasses.dataclass(frozen=True)
class Limits:
    """What a setting's value may be, beyond its type (``None``: no such bound)."""

    min: float | None = None  # value >= min
    max: float | None = None  # value <= max
    above: float | None = None  # value > above
    below: float | None = None  # value < below
    choices: tuple[Any, ...] = ()  # the value is one of these
    any_case: bool = False  # a string choice matches in any case and is stored as the choice spells it
    nonempty: bool = False  # a string, or a list and each of its strings, must not be empty
    required: bool = False  # a file must give the key, though the dataclass has a default
    error: str = ""  # the message of an out-of-range value, instead of "must be <range>"

    def rule(self, integer: bool = False) -> str:
        """The range as text, e.g. ``0..65535`` (``integer``), ``[0, 0.9)``, ``>= 1``; "" for none."""
        low = f"[{num(self.min)}" if self.min is not None else f"({num(self.above)}" if self.above is not None else ""
        high = f"{num(self.max)}]" if self.max is not None else f"{num(self.below)})" if self.below is not None else ""
        if low and high:
            whole = integer and low[0] == "[" and high[-1] == "]"
            return f"{low[1:]}..{high[:-1]}" if whole else f"{low}, {high}"
        if low:
            return (">= " if low[0] == "[" else "> ") + low[1:]
        if high:
            return ("<= " if high[-1] == "]" else "< ") + high[:-1]
        return ""

    def check(self, value: Any, where: str) -> Any:
        """``value`` within the limits (a choice spelled as declared), else a ``ConfigError``."""
        if self.choices:
            if self.any_case and isinstance(value, str):
                value = next((c for c in self.choices if str(c).upper() == value.upper()), value)
            if value not in self.choices:
                raise ConfigError(f"{where}: {shown(value)} is not {either(self.choices)}")
        if self.nonempty and isinstance(value, tuple) and not (value and all(value)):
            raise ConfigError(f"{where}: expected a non-empty list of non-empty strings, got {shown(list(value))}")
        if self.nonempty and not value:
            raise ConfigError(f"{where}: must not be empty")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not (
                (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
                and (self.above is None or value > self.above) and (self.below is None or value < self.below)):
            rule = self.rule(isinstance(value, int))
            text = self.error or f"must be {'' if rule[0] in '<>' else 'in '}{rule}"
            raise ConfigError(f"{where}: {text}, got {shown(value)}")
        return value


def num(x: float | None) -> str:
    """A bound as written: ``0`` not ``0.0``, ``1048576`` not ``1.04858e+06``."""
    return str(int(x)) if x is not None and float(x).is_integer() else repr(x)


def either(choices: tuple[Any, ...]) -> str:
    """``a, b or c``."""
    names = [str(c) for c in choices]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def setting(default: T, *, min: float | None = None, max: float | None = None, above: float | None = None,
            below: float | None = None, choices: tuple[Any, ...] = (), any_case: bool = False,
            nonempty: bool = False, required: bool = False, error: str = "",
            parse: Callable[[Any, str], Any] | None = None, schema: dict[str, Any] | None = None) -> T:
    """A dataclass field with its default and its limits, declared once (see ``Limits``).

    ``parse(value, where)`` replaces the type-driven parsing for a value that needs its own
    (a polygon, a list of sections); ``schema`` is then that value's JSON schema, for ``configref``.
    """
    meta = rules(min=min, max=max, above=above, below=below, choices=choices, any_case=any_case,
                 nonempty=nonempty, required=required, error=error, parse=parse, schema=schema)
    return cast(T, dataclasses.field(default=default, metadata=meta))


def rules(*, parse: Callable[[Any, str], Any] | None = None, schema: dict[str, Any] | None = None,
          **limits: Any) -> dict[str, Any]:
    """The metadata of a field without a default: ``field(metadata=rules(nonempty=True))``."""
    return {"limits": Limits(**limits), "parse": parse, "schema": schema}


def limits_of(f: dataclasses.Field[Any]) -> Limits:
    found = f.metadata.get("limits")
    return found if isinstance(found, Limits) else Limits()


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    """A dataclass's field types, resolved once."""
    return typing.get_type_hints(cls)


def section_types(t: Any) -> list[type]:
    """The dataclasses a field holds: itself, its list items, or each member of a union."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if dataclasses.is_dataclass(t):
        return [cast(type, t)]
    if origin is tuple and args and dataclasses.is_dataclass(args[0]):
        return [cast(type, args[0])]
    if origin in (typing.Union, types.UnionType):
        return [cast(type, a) for a in args if dataclasses.is_dataclass(a)]
    return []


def check_keys(obj: Any, allowed: set[str] | frozenset[str], where: str,
               below: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """Return ``obj`` as a dict after rejecting unknown keys; ``where`` is like ``file.yaml: mqtt``.
    ``below`` maps the keys of this section's sections to where they go (``cameras``:
    ``[stream.cameras]``): an unknown key that is one of them says so."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(allowed), key=str)
    if unknown:
        import difflib  # only on this error path: check-config's import time stays small

        near = difflib.get_close_matches(str(unknown[0]), [str(k) for k in allowed], n=1, cutoff=0.6)
        # a short form difflib finds too far (``dir`` for ``directory``): the one key it begins
        started = [str(k) for k in allowed if len(str(unknown[0])) >= 3 and str(k).startswith(str(unknown[0]))]
        near = near or (started if len(started) == 1 else [])
        homes = (below or {}).get(str(unknown[0]), [])
        hint = (f" (did you mean {near[0]!r}?)" if near
                else f" (did you mean {' or '.join(homes)}?)" if homes else "")
        raise ConfigError(
            f"{where}: unknown key {shown(unknown[0])}{hint}; allowed keys are {', '.join(sorted(allowed))}"
        )
    return dict(obj)


def typed(obj: dict[str, Any], key: str, kind: type[T] | tuple[type, ...], default: T, where: str) -> T:
    """Fetch ``obj[key]`` checking its type (ints are accepted where floats are expected)."""
    return cast(T, scalar(obj.get(key, default), kind, f"{where}.{key}"))


def scalar(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    """``value`` checked to be of ``kind`` (an int where a float is expected becomes a float)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"{where}: expected {kinds[0].__name__}, got a boolean {value!r}")
    if not isinstance(value, kinds):
        raise ConfigError(f"{where}: expected {kinds[0].__name__}, got {shown(value)}")
    return value


def value_of(t: Any, raw: Any, where: str) -> Any:
    """A raw YAML value as the annotation ``t`` says: a scalar, a list of scalars, a section."""
    if t in SCALARS:
        return scalar(raw, t, where)
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis and args[0] in SCALARS:
        if not isinstance(raw, list):
            raise ConfigError(f"{where}: expected a list of {args[0].__name__}, got {shown(raw)}")
        return tuple(scalar(v, args[0], f"{where}[{i}]") for i, v in enumerate(raw))
    if dataclasses.is_dataclass(t):
        parse = getattr(t, "from_dict", None)
        return parse(raw, where) if parse else parse_section(cast(type, t), raw, where)
    raise TypeError(f"{where}: a {t} setting needs parse= in its setting()")


def parse_section(cls: type[T], obj: Any, where: str, *, sep: str = ".", ignore: frozenset[str] = frozenset(),
                  **given: Any) -> T:
    """Build the dataclass ``cls`` from the mapping ``obj``, checking every key against its field.

    A key missing from ``obj`` takes the field's default; ``ignore`` names keys accepted but not
    fields (a camera source's ``kind``); ``given`` fills fields that no file sets.  A key's path
    is ``<where><sep><key>``, a scalar's as a section's: the top level (``sep=": "``) names
    ``file: log_level`` as it names ``file: api``, and a section's keys read ``file: api.port``.
    """
    fields = [f for f in dataclasses.fields(cast(Any, cls)) if f.name not in given]
    kinds, values = hints(cast(type, cls)), {}
    d = check_keys(obj, {f.name for f in fields} | ignore, where, _keys_below(fields, kinds))
    for f in fields:
        limits = limits_of(f)
        at = f"{where}{sep}{f.name}"
        if f.name not in d:
            if limits.required or (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING):
                raise ConfigError(f"{where}: the key {f.name!r} is required")
            continue
        parse = f.metadata.get("parse")
        value = parse(d[f.name], at) if parse else value_of(kinds[f.name], d[f.name], at)
        values[f.name] = limits.check(value, at)
    cfg = cls(**values, **given)
    check = getattr(cfg, "check", None)
    if check is not None:
        check(where)
    return cfg


def _keys_below(fields: list[dataclasses.Field[Any]], kinds: dict[str, Any]) -> dict[str, list[str]]:
    """The keys of the sections among ``fields`` (one level down), each with where it goes."""
    below: dict[str, list[str]] = {}
    for f in fields:
        for section in section_types(kinds[f.name]):
            for sub in dataclasses.fields(cast(Any, section)):
                home = f"{f.name}[].{sub.name}" if typing.get_origin(kinds[f.name]) is tuple else f"{f.name}.{sub.name}"
                if home not in below.setdefault(sub.name, []):
                    below[sub.name].append(home)
    return below


class Section:
    """Base of a config section (a frozen dataclass): ``from_dict`` parses it from its fields."""

    @classmethod
    def from_dict(cls: type[S], obj: Any, where: str) -> S:
        return parse_section(cls, obj, where)

    def check(self, where: str) -> None:
        """Rules between fields, once each field is parsed and in range: raise ``ConfigError``."""


class Secret(typing.NamedTuple):
    """A secret and where it was read: ``file`` is ``None`` for the environment variable ``env``.

    Why: what is said about a secret (a weak API token) names the one place to change it, not
    both places it might have come from."""

    value: str
    env: str
    file: Path | None


def read_secret(env_name: str, credential: str, environ: Mapping[str, str] | None = None) -> Secret | None:
    """A secret from ``$env_name`` or else ``$CREDENTIALS_DIRECTORY/credential``, with where it was
    found; ``None`` if unset."""
    env = os.environ if environ is None else environ
    if env_name and env.get(env_name):
        return Secret(env[env_name], env_name, None)
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and credential:
        cred = Path(cred_dir) / credential
        try:
            value = cred.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{cred}: cannot read the credential ({e})") from e
        return Secret(value, env_name, cred) if value else None
    return None


def resolve_secret(env_name: str, credential: str,
                   environ: Mapping[str, str] | None = None) -> str | None:
    """A secret from ``$env_name`` or ``$CREDENTIALS_DIRECTORY/credential``; ``None`` if unset."""
    found = read_secret(env_name, credential, environ)
    return found.value if found else None
