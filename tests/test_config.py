"""The top-level config: embedded defaults, strictness, file loading and secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge_alpr import config
from edge_alpr.errors import ConfigError


def test_defaults_need_no_file() -> None:
    cfg = config.from_dict({})
    assert cfg.api.host == "127.0.0.1" and cfg.api.port == 8080
    assert cfg.api.upload_url.enabled is False
    assert cfg.usage.max_calls == 0 and cfg.webhooks.targets == ()
    assert cfg.state_dir == config.default_state_dir()
    assert cfg.stream.cameras and cfg.mqtt.host == "localhost"


def test_an_unset_state_dir_is_one_this_user_can_create() -> None:
    """Root and the service keep /var/lib/edge-alpr; another user (``make run`` as oneself, with
    no config) gets a folder of their own instead of "cannot create /var/lib/edge-alpr"."""
    assert config.default_state_dir(0, {"HOME": "/root"}) == "/var/lib/edge-alpr"
    assert config.default_state_dir(1000, {"HOME": "/u/al"}) == "/u/al/.local/state/edge-alpr"
    assert config.default_state_dir(1000, {"HOME": "/u/al", "XDG_STATE_HOME": "/xdg"}) == "/xdg/edge-alpr"
    # the unit's StateDirectory= (the system user edge-alpr has no home to write)
    assert config.default_state_dir(998, {"STATE_DIRECTORY": "/var/lib/edge-alpr"}) == "/var/lib/edge-alpr"
    assert config.from_dict({"state_dir": "/srv/alpr"}).state_dir == "/srv/alpr"  # the file wins


def test_load_without_path_uses_defaults_when_no_device_file(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    monkeypatch.setattr(config, "DEFAULT_PATH", str(tmp_path / "absent.yaml"))
    assert config.load(None).source == "<defaults>"
    (tmp_path / "absent.yaml").write_text("api: {port: 9000}\n")
    cfg = config.load(None)
    assert cfg.api.port == 9000 and cfg.source.endswith("absent.yaml")


def test_full_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("""
state_dir: /tmp/x
log_level: debug
api:
  host: 0.0.0.0
  port: 8081
  max_upload_bytes: 2000000
  rate_limit: 5
  upload_url: {enabled: true, max_bytes: 1000000, timeout_s: 2}
usage: {max_calls: 1000}
webhooks:
  targets:
    - http://a.local/hook
    - {url: "https://b.local/x", image: true, id: 7}
  max_failures: 5
outbox: {max_rows: 100, max_age_s: 3600}
mqtt: {host: broker.local, port: 1884}
""")
    cfg = config.load(path)
    assert cfg.log_level == "DEBUG" and cfg.api.rate_limit == 5.0
    assert cfg.api.upload_url.enabled and cfg.api.upload_url.timeout_s == 2.0
    assert [(t.url, t.image, t.id) for t in cfg.webhooks.targets] == [
        ("http://a.local/hook", False, 1), ("https://b.local/x", True, 7)]
    assert cfg.outbox.max_rows == 100 and cfg.mqtt.port == 1884 and cfg.usage.max_calls == 1000


@pytest.mark.parametrize("obj, needle", [
    ({"bogus": 1}, "'bogus'"),
    ({"api": {"prot": 80}}, "'prot'"),
    ({"api": {"port": 70000}}, "api.port"),
    ({"api": {"port": "80"}}, "api.port"),
    ({"api": {"token": "x"}}, "api.token"),
    ({"api": {"keepalive_linger_s": -1}}, "api.keepalive_linger_s"),
    ({"api": {"keepalive_linger_s": 5}}, "api.keepalive_linger_s"),
    ({"api": {"upload_url": {"enable": True}}}, "'enable'"),
    ({"usage": {"max_calls": -1}}, "usage.max_calls"),
    ({"webhooks": {"targets": ["ftp://x"]}}, "targets[0].url"),
    ({"webhooks": {"targets": ["http://a", "http://a"]}}, "twice"),
    ({"webhooks": {"backoff_initial_s": 10, "backoff_max_s": 1}}, "backoff_max_s"),
    ({"log_level": "loud"}, "log_level"),
    ({"mqtt": {"password": "p"}}, "mqtt.password"),
    ({"models": {"nonsense": 1}}, "'nonsense'"),
    ({"stream": {"nonsense": 1}}, "'nonsense'"),
    ([1, 2], "mapping"),
])
def test_strict_errors_name_key_and_file(obj: object, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.from_dict(obj, "site.yaml")
    assert needle in str(err.value) and "site.yaml" in str(err.value)


@pytest.mark.parametrize("obj, message", [
    ({"log_level": "LOUD"}, "site.yaml: log_level: 'LOUD' is not "),
    ({"state_dir": 5}, "site.yaml: state_dir: expected str, got 5"),
    ({"api": {"port": "80"}}, "site.yaml: api.port: expected int"),
])
def test_top_level_keys_read_as_nested_ones(obj: object, message: str) -> None:
    """``file: key: ...`` for a top-level scalar as for a section (not ``file.key``)."""
    with pytest.raises(ConfigError) as err:
        config.from_dict(obj, "site.yaml")
    assert str(err.value).startswith(message), str(err.value)


def test_yaml_syntax_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("api: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML") as raised:
        config.load(bad)
    # each place the parser names is in the file (not PyYAML's "<unicode string>"), with its line
    text = str(raised.value)
    assert "<unicode string>" not in text and f'in "{bad}", line 1, column 6' in text, text
    assert "api: [unclosed" in text, "the line's text and its caret stay"
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.yaml")
    tabbed = tmp_path / "tabbed.yaml"
    tabbed.write_text("api:\n\tport: 8081\n")  # a tab where YAML wants spaces: said in those words
    with pytest.raises(ConfigError, match="tabbed.yaml: not valid YAML") as raised:
        config.load(tabbed)
    assert str(raised.value).endswith("indent with spaces: YAML does not allow a tab there"), str(raised.value)


@pytest.mark.parametrize(("text", "said"), [
    # a key one space too deep, one too shallow, in a list item, under a camera: the two columns
    ("api:\n  host: 127.0.0.1\n   port: 8081\n", "line 3's key starts in column 4, line 2's above it in column 3"),
    ("api:\n    host: 127.0.0.1\n  port: 8081\n", "line 3's key starts in column 3, line 2's above it in column 5"),
    ("stream:\n  cameras:\n    - id: gate\n       max_fps: 5\n", "line 4's key starts in column 8, line 3's above"),
    ("stream:\n  cameras:\n    - id: gate\n   # a note\n   max_fps: 5\n", "line 5's key starts in column 4, line 3's"),
    # the colon forgotten on the line above, or one inside a value
    ("api:\n  port 8081\n  host: x\n", "line 2 has no ':' after its key (key: value)"),
    ("mqtt:\n  device_id: Gate: north\n", "a value holding ': ' is written in quotes"),
])
def test_yaml_indentation_slip_named(tmp_path: Path, text: str, said: str) -> None:
    """PyYAML says "mapping values are not allowed here" or "expected <block end>" with a caret
    at a colon; the error says which lines' indentation disagree, or which colon is the slip."""
    bad = tmp_path / "indented.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match="indented.yaml: not valid YAML") as raised:
        config.load(bad)
    assert said in str(raised.value), str(raised.value)


def test_secret_from_env_then_credentials(tmp_path: Path) -> None:
    assert config.resolve_secret("TOKEN", "api_token", {}) is None
    assert config.resolve_secret("TOKEN", "api_token", {"TOKEN": "env"}) == "env"
    (tmp_path / "api_token").write_text("from-systemd\n")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert config.resolve_secret("TOKEN", "api_token", env) == "from-systemd"
    assert config.resolve_secret("TOKEN", "api_token", {**env, "TOKEN": "env"}) == "env"
    assert config.resolve_secret("TOKEN", "other", env) is None


def test_readme_config_example_is_valid() -> None:
    """The YAML shown in the README must load as it is (docs that drift are bugs)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = config.from_dict(yaml.safe_load(block), "README.md")
    assert cfg.stream.cameras[0].motion.threshold > 0
    assert cfg.webhooks.targets



HEAVY = ("numpy", "PIL", "sqlite3")
# Run in a fresh interpreter: what `import edge_alpr.config`, then `edge-alpr check-config`,
# pulled into sys.modules (this test process has them all loaded already).
IMPORTS_PROBE = """
import contextlib, io, json, sys
heavy = lambda: sorted(m for m in sys.modules if m.split(".")[0] in {heavy_names})
import edge_alpr.config
after_config = heavy()
from edge_alpr.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    rc = main(["check-config", "--config", sys.argv[1]])
print(json.dumps({{"config": after_config, "check_config": heavy(), "rc": rc}}))
"""


def test_config_and_check_config_load_no_numpy_pillow_or_sqlite(tmp_path: Path) -> None:
    # check-config runs in the postinst of every upgrade and by hand before a restart: on a
    # Raspberry Pi numpy, Pillow and SQLite would add seconds to a check that needs none of them
    path = tmp_path / "config.yaml"
    path.write_text("watchlists: {deny: {plates: [AB123CD]}}\n"
                    "stream: {cameras: [{id: gate, source: {kind: opencv, url: rtsp://cam/s},"
                    " regions: [es], motion: {threshold: 10}}]}\n")
    probe = IMPORTS_PROBE.format(heavy_names=set(HEAVY))
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True,
                         timeout=60, check=True)
    loaded = json.loads(out.stdout)
    assert loaded == {"config": [], "check_config": [], "rc": 0}, out.stderr


def test_section_packages_never_import_the_top_level_config() -> None:
    # the top-level config gathers the sections of api/, stream/, delivery/ and history/; a
    # section package importing it back would make a cycle that only a late import can dodge
    import ast

    root = Path(__file__).resolve().parent.parent / "edge_alpr"
    offenders = []
    for package in ("delivery", "stream", "history", "engine"):
        for path in sorted((root / package).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module == "config":
                    offenders.append(f"{package}/{path.name}:{node.lineno}")
                if isinstance(node, ast.ImportFrom) and node.module == "edge_alpr.config":
                    offenders.append(f"{package}/{path.name}:{node.lineno}")
    assert offenders == []
