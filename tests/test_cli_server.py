"""The command line and the production server as a process: serve, SIGKILL/restart, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

from edge_alpr import __version__
from edge_alpr.api.server import free_port
from edge_alpr.cli import EXIT_CONFIG

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_alpr", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def start_serve(config: Path, port: int, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "serve", "--port", str(port),
                             "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, **(env or {})})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening on http://127.0.0.1:"), (line, proc.stderr and proc.stderr.read())
    return proc


def test_version_and_help() -> None:
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"edge-alpr {__version__}"
    out = cli("--help")
    assert out.returncode == 0
    for needle in ("serve", "run", "read", "examples:", "EDGE_ALPR_API_TOKEN", "/etc/edge-alpr"):
        assert needle in out.stdout
    assert "--regions" in cli("read", "--help").stdout
    assert cli().returncode == 2


def test_serve_refuses_public_bind_without_token(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\n")
    env = {"EDGE_ALPR_API_TOKEN": ""}
    out = cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--config", str(cfg), env=env)
    assert out.returncode == EXIT_CONFIG
    # where the address came from, and the override that keeps it on this machine
    assert "refusing to listen on 0.0.0.0 (api.host, or --host) without an API token" in out.stderr
    assert "or bind to 127.0.0.1 (--host 127.0.0.1)" in out.stderr


def test_bad_config_file_is_one_clear_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("api: {colour: blue}\n")
    out = cli("serve", "--config", str(cfg))
    assert out.returncode == EXIT_CONFIG and "c.yaml: api: unknown key 'colour'" in out.stderr
    assert "Traceback" not in out.stderr


def test_check_config_passes_a_good_file_and_names_the_bad_key(tmp_path: Path) -> None:
    """``check-config``: 0 for a good file, 78 (the status the unit never restarts) for a bad one."""
    good = ROOT / "debian" / "config.yaml"
    out = cli("check-config", "--config", str(good))
    assert out.returncode == 0 and "config OK" in out.stdout, out.stderr
    bad = tmp_path / "c.yaml"
    bad.write_text("api: {colour: blue}\n")
    out = cli("check-config", "--config", str(bad))
    assert out.returncode == EXIT_CONFIG and "unknown key 'colour'" in out.stderr
    bad.write_text("stream:\n  cameras:\n    - {id: gate, source: {kind: folder, path: ''}, regions: [zz]}\n")
    out = cli("check-config", "--config", str(bad))
    assert out.returncode == EXIT_CONFIG
    assert "stream.cameras[0].regions (camera gate): unknown region 'zz'" in out.stderr
    assert "Traceback" not in out.stderr
    bad.write_text("stream:\n  cameras:\n    - {id: gate, source: {kind: folder, path: ''}, regions: [uk]}\n")
    out = cli("check-config", "--config", str(bad))
    assert out.returncode == EXIT_CONFIG, out.stderr
    assert "(camera gate): unknown region 'uk' (did you mean 'gb'? the United Kingdom's code is gb" in out.stderr


def test_check_config_counts_the_cameras_run_will_open(tmp_path: Path) -> None:
    """A disabled stream opens no camera: check-config says so, not how many are listed."""
    out = cli("check-config", "--config", str(ROOT / "debian" / "config.yaml"))  # the .deb's
    assert out.returncode == 0, out.stderr
    assert "; 0 cameras (stream.enabled is false; 1 configured); events: logged only" in out.stdout, out.stdout
    on = tmp_path / "on.yaml"
    on.write_text("stream:\n  cameras:\n    - {id: gate, source: {kind: folder, path: ''}}\n"
                  "    - {id: door, source: {kind: folder, path: ''}}\n")
    out = cli("check-config", "--config", str(on))
    assert out.returncode == 0 and "; 2 cameras: gate, door; events: " in out.stdout, (out.stdout, out.stderr)
    on.write_text("stream: {cameras: []}\n")
    out = cli("check-config", "--config", str(on))
    assert "; 0 cameras (stream.cameras lists none); events: " in out.stdout, (out.stdout, out.stderr)


def test_the_unit_does_not_restart_on_a_config_error() -> None:
    """The systemd unit never restarts on the config exit status, and bounds other restarts."""
    unit = (ROOT / "debian" / "edge-alpr.service").read_text()
    keys = [line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")]
    values: dict[str, list[str]] = {}
    for k, v in keys:
        values.setdefault(k, []).append(v)
    assert str(EXIT_CONFIG) in values["RestartPreventExitStatus"][0].split()
    assert values["ExecStart"][0].split()[:2] == ["/usr/bin/edge-alpr", "run"]  # run itself exits 78
    assert int(values["StartLimitBurst"][0]) <= 10 and int(values["StartLimitIntervalSec"][0]) >= 60


def _unit_values() -> dict[str, str]:
    unit = (ROOT / "debian" / "edge-alpr.service").read_text()
    return dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))


def _locked_out(starts: list[float], interval: float, burst: int) -> bool:
    """systemd's start rate limit (ratelimit_below): a start past ``burst`` within ``interval``
    of the first one counted is refused ("start of the service was attempted too often")."""
    begin, count = None, 0
    for t in starts:
        if begin is None or t > begin + interval:
            begin, count = t, 0
        if count >= burst:
            return True
        count += 1
    return False


def test_the_start_limit_stops_a_crash_loop_but_not_an_admin_fixing_the_config() -> None:
    """Manual restarts count toward the limit: two bad edits then two good ones, a restart after
    each (and the first start), must not lock the unit out; a loop of failing starts must stop."""
    values = _unit_values()
    interval, burst = float(values["StartLimitIntervalSec"]), int(values["StartLimitBurst"])
    restart_s = float(values["RestartSec"].removesuffix("s"))
    for every in (15.0, 20.0, 30.0):  # an edit and a restart every 15-30 s, for 5 minutes
        assert not _locked_out([every * i for i in range(int(300 / every))], interval, burst), every
    for start_s in (1.0, 3.0, 6.0):  # crashing after a start of 1-6 s, restarted RestartSec later
        assert _locked_out([(restart_s + start_s) * i for i in range(100)], interval, burst), start_s


def test_counters_survive_sigkill_and_sigterm_is_graceful(tmp_path: Path, sample_images: list[Path]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nlog_level: WARNING\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = sample_images[0].read_bytes()
    proc = start_serve(cfg, port)
    try:
        for _ in range(3):
            assert requests.post(url + "/v1/plate-reader/", files={"upload": data}).status_code == 201
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc = start_serve(cfg, port)
    try:
        r = requests.post(url + "/v1/plate-reader/", files={"upload": data})
        assert r.json()["usage"]["calls"] == 4
        assert requests.get(url + "/info/").json()["lifetime_calls"] == 4
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        elapsed = time.monotonic() - started
    assert code == 0 and elapsed < 2.0, (code, elapsed)


def test_read_command_json_matches_the_api(api: Any, sample_images: list[Path]) -> None:
    out = cli("read", str(sample_images[0]), str(sample_images[1]), "--regions", "es", "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [Path(d["filename"]).name for d in lines] == [sample_images[0].name, sample_images[1].name]
    for d, image in zip(lines, sample_images[:2]):
        r = requests.post(api.url + "/v1/plate-reader/", files={"upload": image.read_bytes()},
                          data={"regions": "es"})
        assert d["results"] == r.json()["results"]


def test_read_command_prints_the_box_as_corners(sample_images: list[Path]) -> None:
    """Plain text shows the box as ``xmin,ymin-xmax,ymax``, not as a Python dict."""
    image = str(sample_images[0])
    box = json.loads(cli("read", image, "--json").stdout)["results"][0]["box"]
    out = cli("read", image)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert f"  box {box['xmin']},{box['ymin']}-{box['xmax']},{box['ymax']}  (" in first, first
    assert "{" not in out.stdout


def test_read_prints_the_result_alone_unless_verbose(tmp_path: Path, sample_images: list[Path]) -> None:
    """A person running ``read`` wants the plates: no model-loading lines, none of LiteRT's own
    (``INFO: Created TensorFlow Lite XNNPACK delegate``); ``-v`` or ``log_level: DEBUG`` shows
    them, and errors are shown either way."""
    image = str(sample_images[0])
    out = cli("read", image)
    assert out.returncode == 0 and out.stdout.startswith(f"{image}: "), out
    assert out.stderr == "", out.stderr
    out = cli("read", "-v", image)
    assert out.returncode == 0 and out.stdout.startswith(f"{image}: "), out
    assert "INFO edge_alpr.engine.runtime: loaded model" in out.stderr, out.stderr
    assert "Created TensorFlow Lite XNNPACK delegate" in out.stderr, out.stderr
    debug = tmp_path / "debug.yaml"
    debug.write_text("log_level: DEBUG\n")
    assert "loaded model" in cli("read", image, "--config", str(debug)).stderr
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    out = cli("read", str(bad))
    assert out.returncode == 1 and out.stderr.startswith(f"{bad}: error: "), out.stderr


def test_serve_says_its_address_once_where_each_reader_looks(tmp_path: Path) -> None:
    """stdout a pipe: the address is its line, and the log line on stderr says it too (a person
    may read only stderr: ``serve > file``); both on one pipe (``2>&1``): the address once."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nlog_level: INFO\n")
    port = free_port()
    proc = start_serve(cfg, port)
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert err.count(f"http://127.0.0.1:{port}/") == 1 and "edge-alpr API listening on" in err, err
    assert "listening on" not in rest
    port = free_port()
    both = subprocess.Popen([sys.executable, "-m", "edge_alpr", "serve", "--port", str(port), "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    assert both.stdout is not None
    seen = []
    for line in both.stdout:  # until the address (the server is up), then stop it
        seen.append(line)
        if line.startswith("listening on"):
            break
    both.send_signal(signal.SIGTERM)
    out = "".join(seen) + both.communicate(timeout=10)[0]
    assert both.returncode == 0, out
    assert out.count(f"http://127.0.0.1:{port}/") == 1 and "edge-alpr API up (state in " in out, out


def test_read_command_reports_bad_files(tmp_path: Path, sample_images: list[Path]) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    out = cli("read", str(bad), str(empty), str(sample_images[0]))
    assert out.returncode == 1
    assert sample_images[0].name in out.stdout
    for name in (bad, empty):  # each error names its file, and speaks of a file, not of an upload
        said = [line for line in out.stderr.splitlines() if line.startswith(f"{name}: error: ")]
        assert len(said) == 1 and "the file" in said[0], out.stderr
        assert "upload" not in said[0] and "send" not in said[0], said[0]
    out = cli("read", str(sample_images[0]), "--regions", "zz")
    assert out.returncode == 1 and "unknown region 'zz'" in out.stderr
    gone = tmp_path / "gone.jpg"
    out = cli("read", str(gone))
    assert out.returncode == 1 and f"{gone}: error: no such file" in out.stderr
    assert "loaded model" not in out.stderr, "a missing file is named before any model loads"


def test_sigterm_finishes_the_request_in_flight(tmp_path: Path, sample_images: list[Path]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nlog_level: WARNING\n")
    port = free_port()
    proc = start_serve(cfg, port)
    # A slow client: the server is inside this request (reading its body) when SIGTERM comes.
    data = sample_images[0].read_bytes()
    body = (b"--b\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.jpg\"\r\n\r\n"
            + data + b"\r\n--b--\r\n")
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /v1/plate-reader/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                 b"Content-Type: multipart/form-data; boundary=b\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:100])
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    threading.Timer(0.2, lambda: sock.sendall(body[100:])).start()
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    sock.close()
    code = proc.wait(timeout=10)
    assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
    assert code == 0 and time.monotonic() - started < 2.0


def test_sighup_is_not_a_stop(tmp_path: Path) -> None:
    """``kill -HUP`` (an admin asking for a reload) used to end the process silently, which
    systemd takes for a clean stop and does not restart; now it says the config is read at
    start only and keeps serving, and SIGTERM still ends it cleanly."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nlog_level: WARNING\n")
    port = free_port()
    proc = start_serve(cfg, port)
    try:
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert proc.poll() is None, proc.returncode
        assert requests.get(f"http://127.0.0.1:{port}/info/", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
    assert proc.stderr is not None
    said = proc.stderr.read()
    assert code == 0 and said.count("SIGHUP ignored") == 1, (code, said)
    assert "systemctl restart edge-alpr" in said and "check-config" in said, said
