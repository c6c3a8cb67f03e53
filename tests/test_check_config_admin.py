"""What ``check-config`` tells an admin before ``run`` would fail: real commands, real files.

Why tested: a config with ``api: {host: 0.0.0.0}`` and no token passed ``check-config``
(``config OK``, exit 0) and then ``run`` refused it (exit 78, "refusing to listen on 0.0.0.0
without an API token"): the check that exists to be run after each edit said nothing.  And a
short form of a key (``models: {dir: ...}``) was refused without the key it stands for, which
``did you mean`` names for a misspelling.
"""

from __future__ import annotations

from pathlib import Path

from test_cli_server import cli

from edge_alpr.api.server import free_port
from edge_alpr.cli import EXIT_CONFIG

OPEN = "api: {host: 0.0.0.0}\n"
WARNING = ("edge-alpr: warning: api.host 0.0.0.0 is reachable from the network and no API token is set here: "
           "edge-alpr run and serve will refuse to listen on it without one: anyone on the network could use "
           "it. Set EDGE_ALPR_API_TOKEN to a random secret")


def write(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nstream: {{enabled: false}}\nmqtt: {{enabled: false}}\n{text}")
    return cfg


def test_an_address_run_would_refuse_is_warned_of(tmp_path: Path) -> None:
    cfg = write(tmp_path, OPEN)
    out = cli("check-config", "--config", str(cfg), env={"EDGE_ALPR_API_TOKEN": ""})
    assert out.returncode == 0 and WARNING in out.stderr, out.stderr
    # the warning tells the truth: run, as it stands, refuses
    refused = cli("run", "--config", str(cfg), "--port", str(free_port()), env={"EDGE_ALPR_API_TOKEN": ""})
    assert refused.returncode == EXIT_CONFIG and "refusing to listen on 0.0.0.0" in refused.stderr, refused.stderr
    # none where the service has a token: in the environment, or as the unit's credential file
    token = {"EDGE_ALPR_API_TOKEN": "kQ3v9Xw2LmB7pRt5ZyN8cHd4"}
    assert "warning" not in cli("check-config", "--config", str(cfg), env=token).stderr
    (tmp_path / "api_token").write_text(token["EDGE_ALPR_API_TOKEN"])  # the unit's LoadCredential file
    out = cli("check-config", "--config", str(cfg), env={"EDGE_ALPR_API_TOKEN": ""})
    assert out.returncode == 0 and "warning" not in out.stderr, out.stderr
    loopback = write(tmp_path, "api: {host: 127.0.0.1}\n")
    assert "warning" not in cli("check-config", "--config", str(loopback), env={"EDGE_ALPR_API_TOKEN": ""}).stderr


def test_a_short_form_of_a_key_names_the_key(tmp_path: Path) -> None:
    out = cli("check-config", "--config", str(write(tmp_path, "models: {dir: /srv/models}\n")))
    assert out.returncode == EXIT_CONFIG
    assert "models: unknown key 'dir' (did you mean 'directory'?); allowed keys are" in out.stderr, out.stderr
    out = cli("check-config", "--config", str(write(tmp_path, "api: {max: 5}\n")))  # max_upload_bytes, max_pixels...
    assert out.returncode == EXIT_CONFIG and "unknown key 'max'; allowed keys" in out.stderr, out.stderr


def test_a_password_in_a_file_every_user_reads_is_warned_of(tmp_path: Path) -> None:
    """A camera's password can only be written in its url, in the config file; the package's
    file is 0644, so every user of the machine could read it: said, with the fix, until only
    the file's owner (and group) can read it.  The password itself is never printed."""
    cfg = write(tmp_path, "webhooks: {targets: ['https://example.org/hook?token=Zq8sPw3x']}\n"
                          "stream:\n  enabled: false\n  cameras:\n"
                          "    - {id: gate, source: {kind: opencv, url: 'rtsp://admin:hunter2@192.168.1.20/s1'}}\n"
                          "    - {id: yard, source: {kind: opencv, url: 'rtsp://viewer@192.168.1.21/s1'}}\n")
    cfg.write_text(cfg.read_text().replace("stream: {enabled: false}\n", ""))
    cfg.chmod(0o644)
    out = cli("check-config", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    said = (f"edge-alpr: warning: {cfg} holds a password or token (camera gate's url, webhook target 1's url) "
            f"and every user of this machine can read it (mode 0644): chmod o-r {cfg}")
    assert said in out.stderr and "hunter2" not in out.stderr and "Zq8sPw3x" not in out.stderr, out.stderr
    cfg.chmod(0o640)
    out = cli("check-config", "--config", str(cfg))
    assert out.returncode == 0 and "warning" not in out.stderr, out.stderr
    # a user name alone, as the package's example camera has it, is no secret
    cfg.write_text(cfg.read_text().replace("admin:hunter2@", "").replace("?token=Zq8sPw3x", ""))
    cfg.chmod(0o644)
    out = cli("check-config", "--config", str(cfg))
    assert out.returncode == 0 and "warning" not in out.stderr, out.stderr


def test_where_the_events_go_is_said(tmp_path: Path) -> None:
    """An ``mqtt`` section that names no broker is valid and publishes to this machine: the OK
    line says where run sends the events, as run's start-up line does."""
    out = cli("check-config", "--config", str(write(tmp_path, "").with_name("c.yaml")))
    assert out.stdout.rstrip().endswith("; events: logged only (mqtt.enabled is false, no webhooks.targets))"), \
        out.stdout
    nobroker = tmp_path / "n.yaml"
    nobroker.write_text(f"state_dir: {tmp_path / 'state'}\nmqtt:\n  port: 1884\n  username: gate\n"
                        "webhooks: {targets: [http://192.168.1.10:8081/hook]}\n")
    out = cli("check-config", "--config", str(nobroker))
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip().endswith(
        "; events: MQTT localhost:1884 (mqtt.host: this machine) and 1 webhook target)"), out.stdout
    nobroker.write_text(f"state_dir: {tmp_path / 'state'}\nmqtt: {{host: 192.168.1.5}}\n")
    out = cli("check-config", "--config", str(nobroker))
    assert out.stdout.rstrip().endswith("; events: MQTT 192.168.1.5:1883)"), out.stdout
