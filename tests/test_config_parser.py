"""The field-driven parser (``configutil``): every error names the key, its path and the file,
and says what was expected and what was found."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge_alpr import config
from edge_alpr.api.server import free_port
from edge_alpr.cli import EXIT_CONFIG
from edge_alpr.config import Config
from edge_alpr.configutil import SCALARS, Section, limits_of, parse_section, section_types, setting
from edge_alpr.errors import ConfigError
from edge_alpr.watchlists import WatchListsConfig
from tests.test_cli_server import cli


@dataclass(frozen=True)
class Sample(Section):
    port: int = setting(80, min=1, max=65535)
    ratio: float = setting(0.5, min=0.0, below=1.0)
    name: str = setting("x", nonempty=True)
    level: str = setting("INFO", choices=("DEBUG", "INFO"), any_case=True)
    tags: tuple[str, ...] = ()
    on: bool = True

    def check(self, where: str) -> None:
        if self.name == "bad":
            raise ConfigError(f"{where}.name: 'bad' is refused")


@pytest.mark.parametrize("obj, message", [
    ({"prot": 1}, "f.yaml: s: unknown key 'prot' (did you mean 'port'?); allowed keys are level, name, on, port, "
                  "ratio, tags"),
    ({"colour": 1}, "f.yaml: s: unknown key 'colour'; allowed keys are level, name, on, port, ratio, tags"),
    ({"port": "80"}, "f.yaml: s.port: expected int, got '80'"),
    ({"port": True}, "f.yaml: s.port: expected int, got a boolean True"),
    ({"port": 1.5}, "f.yaml: s.port: expected int, got 1.5"),
    ({"port": 0}, "f.yaml: s.port: must be in 1..65535, got 0"),
    ({"ratio": 1}, "f.yaml: s.ratio: must be in [0, 1), got 1.0"),
    ({"name": ""}, "f.yaml: s.name: must not be empty"),
    ({"level": "loud"}, "f.yaml: s.level: 'loud' is not DEBUG or INFO"),
    ({"tags": "a"}, "f.yaml: s.tags: expected a list of str, got 'a'"),
    ({"tags": ["a", 1]}, "f.yaml: s.tags[1]: expected str, got 1"),
    ({"name": "bad"}, "f.yaml: s.name: 'bad' is refused"),
    ([1], "f.yaml: s: expected a mapping, got list"),
])
def test_errors_name_the_key_the_rule_and_the_value(obj: Any, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        Sample.from_dict(obj, "f.yaml: s")
    assert str(e.value) == message


def test_defaults_come_from_the_fields_and_values_are_normalised() -> None:
    assert Sample.from_dict(None, "s") == Sample.from_dict({}, "s") == Sample()
    got = Sample.from_dict({"ratio": 0, "level": "debug", "tags": ["a", "b"]}, "s")
    assert (got.ratio, got.level, got.tags) == (0.0, "DEBUG", ("a", "b")) and isinstance(got.ratio, float)


def test_required_keys_and_given_fields() -> None:
    @dataclass(frozen=True)
    class Target:
        url: str
        source: str = "<none>"

    with pytest.raises(ConfigError, match="f.yaml: the key 'url' is required"):
        parse_section(Target, {}, "f.yaml")
    assert parse_section(Target, {"url": "u"}, "f.yaml", source="f.yaml") == Target("u", "f.yaml")
    with pytest.raises(ConfigError, match="unknown key 'source'"):
        parse_section(Target, {"url": "u", "source": "x"}, "f.yaml", source="f.yaml")


def test_a_camera_must_name_its_id_though_the_embedded_camera_has_one() -> None:
    assert config.from_dict({}).stream.cameras[0].id == "sample"
    with pytest.raises(ConfigError, match=r"f.yaml: stream.cameras\[0\]: the key 'id' is required"):
        config.from_dict({"stream": {"cameras": [{"max_fps": 2}]}}, "f.yaml")


def test_a_camera_must_say_where_its_frames_come_from() -> None:
    """A listed camera without ``source`` read the bundled sample images: a forgotten or
    misplaced source made its events sample plates under the camera's name, config OK."""
    assert config.from_dict({}).stream.cameras[0].source.path == ""  # the built-in camera: the samples
    with pytest.raises(ConfigError, match=r"f.yaml: stream.cameras\[0\]: the key 'source' is required"):
        config.from_dict({"stream": {"cameras": [{"id": "gate", "max_fps": 5}]}}, "f.yaml")
    samples = config.from_dict({"stream": {"cameras": [{"id": "demo", "source": {"kind": "folder"}}]}}, "f.yaml")
    assert samples.stream.cameras[0].source.path == ""  # still one line away


def test_a_source_kind_that_is_not_a_string_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"source.kind: \[\] is not a source kind"):
        config.from_dict({"stream": {"cameras": [{"id": "a", "source": {"kind": []}}]}}, "f.yaml")


def test_a_wrong_source_kind_says_which_kind_reads_an_rtsp_camera() -> None:
    """``kind: rtsp`` is the likely guess for an IP camera: the message names opencv with url."""
    with pytest.raises(ConfigError, match=r"'rtsp' is not a source kind; use one of video \(a video file: path\), "
                       r"folder \(images in a folder: path\), opencv \(an rtsp:// or http:// stream: url"):
        config.from_dict({"stream": {"cameras": [{"id": "a", "source": {"kind": "rtsp", "url": "rtsp://x/"}}]}})


def test_the_decode_budget_follows_a_larger_max_pixels_unless_set() -> None:
    assert config.from_dict({"api": {"max_pixels": 30_000_000}}).api.decode_budget_pixels == 30_000_000
    assert config.from_dict({"api": {"max_pixels": 1_000_000}}).api.decode_budget_pixels == 24_000_000
    with pytest.raises(ConfigError, match=r"decode_budget_pixels: must be >= max_pixels \(30000000\), got 2"):
        config.from_dict({"api": {"max_pixels": 30_000_000, "decode_budget_pixels": 20_000_000}})


def test_upload_url_fetching_needs_two_api_threads(tmp_path: Path) -> None:
    """At most half the workers fetch an upload_url; with one worker a slow image server held it
    for the fetch's whole ``timeout_s`` (``/info/`` waited 3.7 s of 4), so that config is refused,
    by the loader and so by ``serve`` (and ``check-config``), naming both keys and the fix."""
    with pytest.raises(ConfigError, match=r"api\.upload_url\.enabled: true needs api\.threads >= 2, got 1: .*"
                       r"set api\.threads to 2 or more, or api\.upload_url\.enabled to false"):
        config.from_dict({"api": {"threads": 1, "upload_url": {"enabled": True}}})
    assert config.from_dict({"api": {"threads": 1}}).api.threads == 1  # no fetching: one worker is fine
    assert config.from_dict({"api": {"threads": 2, "upload_url": {"enabled": True}}}).api.upload_url.enabled
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\napi: {{threads: 1, upload_url: {{enabled: true}}}}\n")
    out = cli("serve", "--port", str(free_port()), "--config", str(cfg), timeout=60)
    assert out.returncode == EXIT_CONFIG, (out.returncode, out.stderr)
    assert "api.upload_url.enabled: true needs api.threads >= 2, got 1" in out.stderr, out.stderr


def all_fields(cls: type = Config) -> list[tuple[type, dataclasses.Field[Any], Any]]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls) if cls is not WatchListsConfig else ():
        out.append((cls, f, hints[f.name]))
        for sub in section_types(hints[f.name]):
            out += all_fields(sub)
    return out


def test_every_setting_has_a_parser() -> None:
    """A field's type is one the parser reads (a scalar, a list of scalars, a section), else it has its own."""
    for cls, f, t in all_fields():
        origin, args = typing.get_origin(t), typing.get_args(t)
        known = t in SCALARS or section_types(t) or (origin is tuple and args[0] in SCALARS)
        assert known or f.metadata.get("parse"), f"{cls.__name__}.{f.name}: {t} needs parse= in its setting()"


def test_every_default_is_within_its_own_limits() -> None:
    for cls, f, _ in all_fields():
        if f.default is not dataclasses.MISSING:
            limits_of(f).check(f.default, f"{cls.__name__}.{f.name}")


@pytest.mark.parametrize(("data", "said"), [
    ({"cameras": [{"id": "gate"}]}, "unknown key 'cameras' (did you mean stream.cameras?)"),
    ({"host": "0.0.0.0"}, "unknown key 'host' (did you mean api.host or mqtt.host?)"),
    ({"stream": {"source": {"kind": "folder"}}}, "stream: unknown key 'source' (did you mean cameras[].source?)"),
    ({"stream": {"cameras": [{"id": "a", "prot": 1}]}}, "unknown key 'prot'; allowed"),  # no guess: none
])
def test_a_key_one_section_too_high_names_where_it_goes(data: dict[str, Any], said: str) -> None:
    """A newcomer's `cameras:` at the top level was only "unknown key 'cameras'" and the list of
    top-level keys: a key that belongs in a section below says which."""
    with pytest.raises(ConfigError) as e:
        config.from_dict(data, "my.yaml")
    assert said in str(e.value), str(e.value)
