"""What a first user runs into: a mistyped port or region, a port or address that cannot be used, a camera
folder the process cannot read, a run as oneself without a config.  Each is one line naming the
value and the fix, never a traceback.  The real ``edge-alpr`` command as a process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_alpr.api.server import free_port
from edge_alpr.cli import EXIT_CONFIG
from edge_alpr.engine.region_codes import ALL_REGIONS
from edge_alpr.stream.sources.paths import unreadable_fix

ROOT = Path(__file__).resolve().parent.parent
# root reads every file: without these capabilities it meets file modes like any other user
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
          "--inh-caps=-dac_override,-dac_read_search"]


def cli(*args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), sys.executable, "-m", "edge_alpr", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def test_a_port_out_of_range_is_a_usage_error_not_a_traceback() -> None:
    for bad in ("80000", "-1", "http"):
        out = cli("serve", "--port", bad)
        assert out.returncode == 2, (bad, out.stderr[-2000:])
        assert f"argument --port: '{bad}' is not a TCP port: use 1-65535" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


def test_an_unknown_region_names_the_likely_code_and_the_command_that_lists_all(sample_images: list[Path]) -> None:
    """``--regions uk``: the hint and where the list is, not the ~200 codes after it; and that
    command lists every code the validator takes, without a config."""
    out = cli("read", str(sample_images[0]), "--regions", "uk")
    said = [line for line in out.stderr.splitlines() if "unknown region" in line]
    assert out.returncode == 1 and len(said) == 1, out.stderr[-2000:]
    assert "did you mean 'gb'?" in said[0] and "edge-alpr regions" in said[0], said
    assert len(said[0]) < 200 and "us-ca" not in said[0], said
    listed = cli("regions")
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    assert set(listed.stdout.split()) >= ALL_REGIONS, sorted(ALL_REGIONS - set(listed.stdout.split()))


def test_a_port_in_use_says_so_and_an_unknown_host_names_the_host(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = cli("serve", "--port", str(port), "--config", str(cfg))
    assert out.returncode == EXIT_CONFIG, out.stderr[-2000:]
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and f"port {port} is in use" in out.stderr
    assert f"(pid {os.getpid()}, user " in out.stderr, "the process holding the port is named"
    assert "pick another port" in out.stderr
    out = cli("serve", "--host", "no-such-host.invalid", "--port", str(free_port()), "--config", str(cfg),
              env={"EDGE_ALPR_API_TOKEN": "s3cret"})
    assert out.returncode == EXIT_CONFIG, out.stderr[-2000:]
    assert "'no-such-host.invalid' is not an address of this machine" in out.stderr, out.stderr
    assert "pick another port" not in out.stderr and "Traceback" not in out.stderr


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A folder of images inside a folder this process may not enter (mode 000), and the
    command prefix that makes root obey the mode too."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv (util-linux) to drop root's file access")
        prefix = NO_DAC
    images = tmp_path / "locked" / "captures"
    images.mkdir(parents=True)
    shutil.copy(ROOT / "edge_alpr" / "samples" / "01_romanian_t37.jpg", images)
    (tmp_path / "locked").chmod(0)
    try:
        yield images, prefix
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_a_camera_folder_out_of_reach_is_named_with_the_fix(tmp_path: Path, locked: tuple[Path, list[str]]) -> None:
    images, prefix = locked
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\napi: {{port: {free_port()}}}\nmqtt: {{enabled: false}}\n"
                   f"stream:\n  cameras:\n    - {{id: door, source: {{kind: folder, path: '{images}'}}}}\n")
    started = time.monotonic()
    out = cli("run", "--config", str(cfg), prefix=prefix)
    # a config error: no restart reads it (the unit's RestartPreventExitStatus=78), the file is named
    assert out.returncode == EXIT_CONFIG, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "unexpected error" not in out.stderr, out.stderr[-3000:]
    assert f"error: {cfg}: camera door: image folder '{images}' cannot be read by user " in out.stderr, \
        out.stderr[-3000:]
    assert "give " in out.stderr and "read access" in out.stderr
    assert time.monotonic() - started < 60
    # check-config names it before a restart (a warning: a folder may be a disk mounted later)
    out = cli("check-config", "--config", str(cfg), prefix=prefix)
    assert out.returncode == 0 and "config OK" in out.stdout, out.stderr
    assert f"warning: camera door: image folder '{images}' cannot be read" in out.stderr, out.stderr
    assert "(edge-alpr run will refuse to start until this is fixed)" in out.stderr, out.stderr


def test_a_missing_video_file_is_warned_of_and_run_exits_1_for_the_unit_to_retry(tmp_path: Path) -> None:
    """check-config warns (a file may be copied after the config is written); run refuses with
    exit 1, which the unit (Restart=on-failure) retries, since a disk mounted after boot may bring
    it, and says so, with the unit's RequiresMountsFor, before it binds the API or loads a model."""
    cfg = tmp_path / "c.yaml"
    video = tmp_path / "drive.mp4"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\napi: {{port: {free_port()}}}\nmqtt: {{enabled: false}}\n"
                   f"stream:\n  cameras:\n    - {{id: road, source: {{kind: video, path: '{video}'}}}}\n")
    out = cli("check-config", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    assert f"warning: camera road: video file '{video}' does not exist; correct the camera's source.path " \
           "(edge-alpr run will refuse to start until this is fixed)" in out.stderr, out.stderr
    out = cli("run", "--config", str(cfg))
    assert out.returncode == 1, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if "error" in line]
    assert errors == [f"edge-alpr: error: {cfg}: camera road: video file '{video}' does not exist; correct the "
                      f"camera's source.path (on a disk mounted at boot, add RequiresMountsFor={video} to the "
                      "service: systemctl edit edge-alpr)"], out.stderr
    assert "XNNPACK" not in out.stderr and "start failed" not in out.stderr, out.stderr


def test_a_missing_camera_folder_is_named_with_the_command_that_makes_it(tmp_path: Path) -> None:
    """A first folder camera (an upload drop box) usually fails because its folder is not made
    yet: run and check-config give the mkdir to type, not only the unit's RequiresMountsFor."""
    inbox = tmp_path / "my inbox"  # a space: the command shown must be one a shell takes as it is
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\napi: {{port: {free_port()}}}\nmqtt: {{enabled: false}}\n"
                   f"stream:\n  cameras:\n    - {{id: inbox, source: {{kind: folder, path: '{inbox}'}}}}\n")
    for command in ("check-config", "run"):
        out = cli(command, "--config", str(cfg))
        assert out.returncode == (0 if command == "check-config" else 1), out.stderr[-3000:]
        assert "Traceback" not in out.stderr
        said = [line for line in out.stderr.splitlines() if "does not exist" in line]
        assert len(said) == 1, out.stderr[-3000:]
        assert f"create it (mkdir -p '{inbox}') or correct the camera's source.path" in said[0], said
        assert ("RequiresMountsFor=" in said[0]) == (command == "run"), said
    subprocess.run(["sh", "-c", f"mkdir -p '{inbox}'"], check=True)  # the command as shown, by a shell
    out = cli("check-config", "--config", str(cfg))
    assert out.returncode == 0 and "warning" not in out.stderr, out.stderr


def test_a_video_path_that_is_a_folder_is_a_config_error(tmp_path: Path) -> None:
    """There, but no file: no restart brings it, so run exits 78 and the unit leaves it failed."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\napi: {{port: {free_port()}}}\nmqtt: {{enabled: false}}\n"
                   f"stream:\n  cameras:\n    - {{id: road, source: {{kind: video, path: '{tmp_path}'}}}}\n")
    out = cli("run", "--config", str(cfg))
    assert out.returncode == EXIT_CONFIG, out.stderr[-3000:]
    assert f"camera road: video file '{tmp_path}' is not a file" in out.stderr, out.stderr


def test_the_service_is_told_to_keep_camera_files_out_of_home_folders() -> None:
    """The unit runs with ProtectHome=yes: no chmod makes /home/pi/captures visible to it."""
    in_home = Path("/home") / "pi" / "captures"  # never read: the rule is on the name
    unit = unreadable_fix(in_home, "edge-alpr", {"INVOCATION_ID": "1"})
    assert "ProtectHome=yes" in unit and "/srv/captures" in unit
    assert "chmod" in unreadable_fix(in_home, "alice", {})
    assert "ProtectHome" not in unreadable_fix(Path("/srv/captures"), "edge-alpr", {"INVOCATION_ID": "1"})


def test_without_a_state_dir_serve_keeps_its_state_where_it_may(tmp_path: Path) -> None:
    """No state_dir in the file: the unit's $STATE_DIRECTORY (or, for a user other than root,
    ~/.local/state/edge-alpr: tests/test_config.py), never a folder this user cannot create."""
    cfg = tmp_path / "empty.yaml"
    cfg.write_text("# nothing set\n")
    proc = subprocess.Popen([sys.executable, "-m", "edge_alpr", "serve", "--port", str(free_port()),
                             "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "STATE_DIRECTORY": str(tmp_path / "unit-state")})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), (line, proc.stderr and proc.stderr.read())
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert (tmp_path / "unit-state" / "usage.sqlite").is_file()


def test_run_help_teaches_a_config_that_loads(tmp_path: Path) -> None:
    """`edge-alpr run --help` shows a config with each kind of camera and a broker: one that
    check-config accepts as it stands (its regions, its keys)."""
    from edge_alpr.cli_args import RUN_EXAMPLE

    out = cli("run", "--help")
    assert out.returncode == 0 and "check-config --config my.yaml" in out.stdout
    for kind in ("opencv", "folder", "video"):
        assert f"source: {{kind: {kind}, " in out.stdout, out.stdout
    assert "docs/config.md" in out.stdout and "mqtt: {host: " in out.stdout
    (tmp_path / "my.yaml").write_text(RUN_EXAMPLE)
    out = cli("check-config", "--config", str(tmp_path / "my.yaml"))
    assert out.returncode == 0 and "3 cameras: gate, inbox, clip" in out.stdout, out.stderr
    assert "redaction =" in cli("read", "--help").stdout


def test_the_examples_call_the_api_at_the_address_serve_prints() -> None:
    """The README's HTTP API examples and ``edge-alpr --help`` address the API as ``serve`` says
    it listens (http://127.0.0.1:PORT/, tested above): ``localhost`` needs /etc/hosts, which a minimal root
    (debootstrap, many containers) lacks, and Python's requests then fails to resolve it."""
    import re

    block = (ROOT / "README.md").read_text().split("## The HTTP API", 1)[1].split("```", 2)[1]
    said = {"README's HTTP API": block, "edge-alpr --help": cli("--help").stdout}
    for where, text in said.items():
        hosts = re.findall(r"https?://([^/:\s\"']+)", text)
        assert hosts and set(hosts) == {"127.0.0.1"}, (where, hosts)


def test_read_help_names_a_bundled_picture_to_try_that_reads_as_it_says() -> None:
    """A first user has no car.jpg at hand: ``read --help`` names a sample that this install
    carries (in a checkout or the .deb's venv), and the command as shown reads the plate its
    comment gives, the one the sample's label (read by eye) has."""
    import json
    import shlex

    lines = [line for line in cli("read", "--help").stdout.splitlines() if "# a bundled sample: " in line]
    assert len(lines) == 1, lines
    command, plate = lines[0].split("# a bundled sample: ")
    words = shlex.split(command)
    assert words[:2] == ["edge-alpr", "read"], words
    picture = Path(words[2])
    assert picture.is_absolute() and picture.is_file(), picture  # copied into any folder, it works
    labels = json.loads((picture.parent / "labels.json").read_text())
    assert plate.strip() == labels[picture.name]["plates"][0]["text"].lower()
    out = cli(*words[1:])
    assert out.returncode == 0 and out.stdout.split(":", 1)[1].split()[0] == plate.strip(), out


def test_read_takes_its_files_after_regions_too() -> None:
    """``--regions`` takes several codes, so in ``edge-alpr read --regions gb car.jpg`` it took the
    file too and argparse said IMAGE was missing, though it was given: a word that is a file name
    (a ``.`` or ``/``) is an image wherever it stands; with no image at all, the usage error stays."""
    import json

    samples = ROOT / "edge_alpr" / "samples"
    labels = json.loads((samples / "labels.json").read_text())
    first, second = sorted(labels)[:2]
    out = cli("read", "--regions", "gb", "ro", f"edge_alpr/samples/{first}", f"edge_alpr/samples/{second}")
    assert out.returncode == 0, out.stderr[-3000:]
    read = dict(line.split(": ", 1) for line in out.stdout.splitlines())
    assert [read[f"edge_alpr/samples/{n}"].split()[0] for n in (first, second)] == \
        [labels[n]["plates"][0]["text"].lower() for n in (first, second)], out.stdout
    out = cli("read", "--regions", "gb", "no-such.jpg")
    assert out.returncode == 1 and "no-such.jpg: error: no such file" in out.stderr, out.stderr
    assert "unknown region" not in out.stderr
    out = cli("read", "--regions", "gb")
    assert out.returncode == 2 and "the following arguments are required: IMAGE" in out.stderr, out.stderr
    assert out.stderr.startswith("usage: edge-alpr read "), out.stderr
