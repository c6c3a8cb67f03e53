"""A weak API token is warned about (check-config, and once at start) while the service still
starts, naming the place the token was read (the variable, or the systemd credential file) and
never the token itself; and the help's and the docs' examples make a strong one."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from edge_alpr import config
from edge_alpr.credentials import MAKE_TOKEN, read_api_token, token_warning, weak_token
from tests.test_cli_server import ROOT, cli


@pytest.mark.parametrize(("token", "weak"), [
    ("s3cret", True), ("0123456789abcde", True), ("ab" * 12, True), ("0000000011111111", True),
    ("kX9-vQ2_mT7pL4wZ", False), ("correct horse battery staple", False),
])
def test_weak_tokens_are_named(token: str, weak: bool) -> None:
    assert bool(weak_token(token)) is weak


def test_check_config_warns_of_a_weak_token_and_passes(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\n")
    out = cli("check-config", "--config", str(cfg), env={"EDGE_ALPR_API_TOKEN": "s3cret"})
    assert out.returncode == 0, out.stderr
    assert "set EDGE_ALPR_API_TOKEN to" in out.stderr and "weak" in out.stderr and MAKE_TOKEN in out.stderr
    assert "credential" not in out.stderr, "the token came from the environment only"
    strong = subprocess.run(["python3", "-c", "import secrets; print(secrets.token_urlsafe(24))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    out = cli("check-config", "--config", str(cfg), env={"EDGE_ALPR_API_TOKEN": strong})
    assert out.returncode == 0 and "weak" not in out.stderr, out.stderr


def test_check_config_judges_the_token_file_the_service_loads(tmp_path: Path) -> None:
    # by hand or in postinst there is no CREDENTIALS_DIRECTORY: the token is in the file that
    # the LoadCredential=api_token:/etc/edge-alpr/api_token drop-in names, beside the config
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\n")
    unset = {"EDGE_ALPR_API_TOKEN": "", "CREDENTIALS_DIRECTORY": ""}
    (tmp_path / "api_token").write_text("s3cret\n")
    out = cli("check-config", "--config", str(cfg), env=unset)
    assert out.returncode == 0 and "weak" in out.stderr and str(tmp_path / "api_token") in out.stderr, out.stderr
    assert "s3cret" not in out.stderr and MAKE_TOKEN in out.stderr
    (tmp_path / "api_token").write_text("kX9-vQ2_mT7pL4wZ-r8Yb\n")
    out = cli("check-config", "--config", str(cfg), env=unset)
    assert out.returncode == 0 and "warning" not in out.stderr, out.stderr
    if os.geteuid() != 0:  # root reads any file
        (tmp_path / "api_token").chmod(0)
        out = cli("check-config", "--config", str(cfg), env=unset)
        assert out.returncode == 0 and "not readable" in out.stderr and "as root" in out.stderr, out.stderr


def test_a_weak_token_is_warned_of_once_at_start_and_still_works(api_factory: Any,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge_alpr")
    server = api_factory(token="s3cret")
    assert requests.get(server.url + "/info/", headers={"Authorization": "Token s3cret"}).status_code == 200
    weak = [r for r in caplog.records if "weak" in r.getMessage()]
    assert len(weak) == 1 and weak[0].levelno == logging.WARNING, caplog.text
    assert "set EDGE_ALPR_API_TOKEN to" in weak[0].getMessage() and MAKE_TOKEN in weak[0].getMessage()
    assert "credential" not in weak[0].getMessage(), "the token came from the environment only"
    caplog.clear()
    api_factory({"state_dir": str(server.state_dir.parent / "other")}, token="kX9-vQ2_mT7pL4wZ")
    assert not [r for r in caplog.records if "weak" in r.getMessage()], caplog.text


def _credential(tmp_path: Path, token: str) -> dict[str, str]:
    """An environment as systemd gives the service a LoadCredential= token, and no variable."""
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "api_token").write_text(token + "\n")
    return {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds"), "EDGE_ALPR_API_TOKEN": ""}


def test_the_warning_names_the_place_the_token_was_read(tmp_path: Path) -> None:
    from_env = token_warning(read_api_token("MY_TOKEN", "api_token", {"MY_TOKEN": "s3cret"}))
    assert "MY_TOKEN" in from_env and "set MY_TOKEN to" in from_env and "credential" not in from_env
    environ = {**_credential(tmp_path, "s3cret"), "MY_TOKEN": ""}
    from_file = token_warning(read_api_token("MY_TOKEN", "api_token", environ))
    assert str(tmp_path / "creds" / "api_token") in from_file and "LoadCredential=api_token:" in from_file
    assert "MY_TOKEN" not in from_file and "s3cret" not in from_file and MAKE_TOKEN in from_file
    # both set: the variable wins, and only it is named
    both = token_warning(read_api_token("MY_TOKEN", "api_token", {**environ, "MY_TOKEN": "0123"}))
    assert "MY_TOKEN" in both and "4 characters" in both and "credential" not in both
    assert token_warning(read_api_token("MY_TOKEN", "api_token", {"MY_TOKEN": "kX9-vQ2_mT7pL4wZ"})) == ""
    assert token_warning(None) == ""


def test_the_service_names_its_credential_file_when_that_token_is_weak(
        tmp_path: Path, recognizer: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from edge_alpr.api.server import build

    for name, value in _credential(tmp_path, "s3cret").items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.INFO, logger="edge_alpr")
    runtime = build(config.from_dict({"state_dir": str(tmp_path / "state"), "api": {"port": 0},
                                      "mqtt": {"enabled": False}, "stream": {"enabled": False}}, "<test>"),
                    recognizer=recognizer)
    try:
        url = f"http://127.0.0.1:{runtime.server.port}/info/"
        assert requests.get(url, headers={"Authorization": "Token s3cret"}, timeout=10).status_code == 200
    finally:
        runtime.close()
    [weak] = [r.getMessage() for r in caplog.records if "weak" in r.getMessage()]
    assert str(tmp_path / "creds" / "api_token") in weak and "LoadCredential=api_token:" in weak, weak
    assert "EDGE_ALPR_API_TOKEN" not in weak, weak


def test_check_config_names_the_credential_file_it_read(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\n")
    out = cli("check-config", "--config", str(cfg), env=_credential(tmp_path, "s3cret"))
    assert out.returncode == 0 and "weak" in out.stderr, out.stderr
    assert str(tmp_path / "creds" / "api_token") in out.stderr and "EDGE_ALPR_API_TOKEN" not in out.stderr, out.stderr


# a token in an example: `EDGE_ALPR_API_TOKEN=...` or `Token ...` (a header) followed by its value
_EXAMPLE_TOKEN = re.compile(r"(?:EDGE_ALPR_API_TOKEN=|Authorization: Token )([^\s'\"\\]+)")


def test_examples_show_no_weak_token() -> None:
    """A value in an example is a placeholder (``<key>``, ``...``, ``$VAR``, ``$(...)``) or
    strong: a reader copies what the help shows."""
    texts = {f"edge-alpr {' '.join(args)} --help": cli(*args, "--help").stdout
             for args in ((), ("serve",), ("run",), ("check-config",))}
    for doc in ("README.md", "debian/README.Debian", "debian/config.yaml", *map(str, Path(ROOT, "docs").glob("*.md"))):
        texts[doc] = Path(ROOT, doc).read_text(encoding="utf-8")
    found = {(where, value) for where, text in texts.items() for value in _EXAMPLE_TOKEN.findall(text)}
    assert any(where.startswith("edge-alpr") for where, _ in found)  # the help shows one
    weak = {(w, v) for w, v in found if not v.startswith(("<", "$", "...")) and weak_token(v)}
    assert not weak, weak
