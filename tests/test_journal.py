"""Under systemd the service's stderr is the journal, which files every line at priority 6 (info)
unless it starts with ``<N>``: a config error must reach ``journalctl -p err``.  The real CLI
process, its stderr a file that $JOURNAL_STREAM names as journald names its socket."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from edge_alpr.cli import EXIT_CONFIG
from edge_alpr.systemd import priority_prefix

ROOT = Path(__file__).resolve().parent.parent
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")  # logging's asctime


def run_as_in_the_journal(tmp_path: Path, *args: str, journal: bool = True) -> tuple[int, list[str]]:
    log = tmp_path / "stderr.log"
    with open(log, "w") as err:
        st = os.fstat(err.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}" if journal else ""}
        code = subprocess.run([sys.executable, "-m", "edge_alpr", *args], stdout=subprocess.DEVNULL,
                              stderr=err, cwd=ROOT, env=env, timeout=120).returncode
    return code, log.read_text().splitlines()


def test_a_config_error_is_one_line_at_error_priority(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("log_level: LOUD\n")
    code, lines = run_as_in_the_journal(tmp_path, "run", "--config", str(cfg))
    assert code == EXIT_CONFIG
    assert lines == [f"<3>edge-alpr: error: {cfg}: log_level: 'LOUD' is not "
                     "DEBUG, INFO, WARNING or ERROR"], lines
    code, lines = run_as_in_the_journal(tmp_path, "run", "--config", str(cfg), journal=False)
    assert code == EXIT_CONFIG and lines[0].startswith("edge-alpr: error: "), lines


def run_on_a_taken_port(tmp_path: Path, journal: bool = True) -> tuple[int, int, list[str]]:
    """``run`` with the API's port in use: it logs the config it reads, then fails on a config
    error before the models load; (the port, the exit code, the lines of stderr)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = tmp_path / "c.yaml"
        # MQTT off: a broker on this machine's 1883 with another edge-alpr of the same device_id
        # made it exit 1 on the device id, not 78 on the port (a second test run beside this one)
        cfg.write_text(f"state_dir: {tmp_path / 'state'}\napi: {{port: {port}}}\nstream: {{enabled: false}}\n"
                       "mqtt: {enabled: false}\n")
        code, lines = run_as_in_the_journal(tmp_path, "run", "--config", str(cfg), journal=journal)
    return port, code, lines


def test_log_lines_carry_their_level_and_the_error_is_said_once(tmp_path: Path) -> None:
    port, code, lines = run_on_a_taken_port(tmp_path)
    assert code == EXIT_CONFIG, lines
    ours = [line for line in lines if " edge_alpr" in line or "edge-alpr:" in line]  # not LiteRT's own
    assert ours and all(line[:3] in ("<6>", "<4>", "<3>") for line in ours), lines
    assert any(line.startswith("<6>INFO edge_alpr") for line in ours), lines
    errors = [line for line in lines if line.startswith("<3>")]
    assert len(errors) == 1 and errors[0].startswith(f"<3>edge-alpr: error: cannot listen on 127.0.0.1:{port} ("), lines
    assert sum(f"127.0.0.1:{port}" in line for line in lines) == 1, lines
    assert "api.port" in errors[0], errors  # run takes its port from the config: the fix names that key


def test_in_the_journal_the_time_is_journald_s_alone(tmp_path: Path) -> None:
    """journald stamps every line it receives: a time of ours would be a second one on each
    line of ``journalctl``.  Outside the journal (a terminal, a file) the lines keep theirs."""
    _, code, lines = run_on_a_taken_port(tmp_path)
    ours = [line for line in lines if " edge_alpr" in line]
    assert code == EXIT_CONFIG and ours, lines
    assert not [line for line in ours if STAMP.search(line)], lines
    _, code, lines = run_on_a_taken_port(tmp_path, journal=False)
    ours = [line for line in lines if " edge_alpr" in line]
    assert code == EXIT_CONFIG and ours, lines
    assert all(STAMP.match(line) for line in ours), lines


def test_priorities_follow_the_levels() -> None:
    assert [priority_prefix(level) for level in (logging.DEBUG, logging.INFO, logging.WARNING,
                                                 logging.ERROR, logging.CRITICAL)] == \
        ["<7>", "<6>", "<4>", "<3>", "<2>"]


def test_every_line_of_a_multi_line_config_error_is_at_error_priority(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("api: {port: [1, 2}\n")  # a YAML syntax error: the parser's message spans lines
    code, lines = run_as_in_the_journal(tmp_path, "check-config", "--config", str(cfg))
    assert code == EXIT_CONFIG and len(lines) > 1, lines
    assert all(line.startswith("<3>") for line in lines), lines
    assert lines[0].startswith("<3>edge-alpr: error: ") and str(cfg) in lines[0], lines


def test_an_unexpected_error_is_logged_once_with_its_traceback(
        tmp_path: Path, monkeypatch, caplog) -> None:
    from edge_alpr import cli, configcheck

    def broken(cfg):  # a bug in a command, as the service's own code could have one
        raise RuntimeError("boom")

    monkeypatch.setattr(configcheck, "check", broken)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path}\n")
    with caplog.at_level(logging.ERROR, logger="edge_alpr"):
        assert cli.main(["check-config", "--config", str(cfg)]) == 1
    records = [r for r in caplog.records if r.name == "edge_alpr"]
    assert len(records) == 1 and records[0].levelno == logging.ERROR, records
    assert records[0].exc_info and "boom" in str(records[0].exc_info[1])
