"""A config's ``models.directory`` that cannot serve, as the real ``edge-alpr`` process meets it.

A folder that is not there (yet) is a disk mounted after boot: ``serve``, ``run`` and ``read``
exit 1, which the unit retries, and say so with the unit's ``RequiresMountsFor=``.  A folder that
is there but cannot serve (no models, a model that disagrees with its sidecar, unreadable, no
folder) stays so across restarts: exit 78, which the unit does not restart, naming the key and the
config file.  check-config warns of each (it judges the file, not the machine) and exits 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_alpr.api.server import free_port
from edge_alpr.cli import EXIT_CONFIG
from edge_alpr.engine.runtime import BUNDLED

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "edge_alpr" / "samples" / "01_romanian_t37.jpg"
REFUSED = "(edge-alpr run will refuse to start until this is fixed)"
# root reads every file: without these capabilities it meets file modes like any other user
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
          "--inh-caps=-dac_override,-dac_read_search"]


def cli(*args: str, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), sys.executable, "-m", "edge_alpr", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=dict(os.environ))


def config(tmp_path: Path, directory: Path) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\napi: {{port: {free_port()}}}\nmqtt: {{enabled: false}}\n"
                   f"models: {{directory: '{directory}'}}\n")
    return cfg


def errors(out: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in out.stderr and "unexpected error" not in out.stderr, out.stderr[-3000:]
    return [line for line in out.stderr.splitlines() if "error" in line]


def copied_models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(BUNDLED, folder, ignore=shutil.ignore_patterns("*.md"))
    return folder


def test_a_models_folder_not_there_exits_1_for_the_unit_to_retry(tmp_path: Path) -> None:
    folder = tmp_path / "disk" / "models"
    cfg = config(tmp_path, folder)
    # the way back to the bundled models too: not everyone runs the service the hint is for
    fix = "correct the path, or remove models.directory for the bundled models"
    want = [f"edge-alpr: error: {cfg}: models.directory '{folder}' does not exist; {fix} (on a disk mounted at "
            f"boot, add RequiresMountsFor={folder} to the service: systemctl edit edge-alpr)"]
    for command in (["serve"], ["run"], ["read", str(SAMPLE)]):
        out = cli(*command, "--config", str(cfg))
        assert out.returncode == 1, (command, out.stderr[-3000:])
        assert errors(out) == want, (command, out.stderr)
    out = cli("check-config", "--config", str(cfg))
    assert out.returncode == 0 and "config OK" in out.stdout, out.stderr
    assert f"warning: models.directory '{folder}' does not exist; {fix} {REFUSED}" in out.stderr, out.stderr


def test_a_models_folder_without_models_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    cfg = config(tmp_path, folder)
    for command in (["serve"], ["run"], ["read", str(SAMPLE)]):
        out = cli(*command, "--config", str(cfg))
        assert out.returncode == EXIT_CONFIG, (command, out.stderr[-3000:])
        assert errors(out) == [f"edge-alpr: error: {cfg}: models.directory '{folder}' has no detector_v<N>.tflite, "
                               f"reader_v<N>.tflite, vehicle_v<N>.tflite; copy the models with their .json sidecars "
                               f"there (the bundled ones are in {BUNDLED}) or build them with `make models`, or "
                               "remove models.directory for the bundled models"], (command, out.stderr)
    out = cli("check-config", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    assert f"warning: models.directory '{folder}' has no detector_v<N>.tflite" in out.stderr, out.stderr
    assert out.stderr.rstrip().endswith(REFUSED), out.stderr


def test_a_model_replaced_without_its_sidecar_is_a_config_error(tmp_path: Path) -> None:
    folder = copied_models(tmp_path)
    model = next(folder.glob("vehicle_v*.tflite"))
    model.write_bytes(model.read_bytes() + b"\0")  # another build's file beside the old sidecar
    cfg = config(tmp_path, folder)
    out = cli("serve", "--config", str(cfg))
    assert out.returncode == EXIT_CONFIG, out.stderr[-3000:]
    [line] = errors(out)
    assert line.startswith(f"edge-alpr: error: {cfg}: models.directory '{folder}' has {model.name} (sha256 "), line
    assert f"does not match its sidecar {model.stem}.json" in line and "make models" in line, line
    out = cli("check-config", "--config", str(cfg))
    assert out.returncode == 0 and f"does not match its sidecar {model.stem}.json" in out.stderr, out.stderr


def test_a_sidecar_that_disagrees_with_its_interpreter_is_a_config_error(tmp_path: Path) -> None:
    """The sha256 matches, so only loading the model finds it: still the folder's fault, exit 78."""
    folder = copied_models(tmp_path)
    sidecar = next(folder.glob("vehicle_v*.json"))
    meta = json.loads(sidecar.read_text())
    meta["inputs"][0]["shape"] = [1, 7, 7, 3]
    sidecar.write_text(json.dumps(meta))
    cfg = config(tmp_path, folder)
    out = cli("read", str(SAMPLE), "--config", str(cfg))
    assert out.returncode == EXIT_CONFIG, out.stderr[-3000:]
    [line] = errors(out)
    assert line.startswith(f"edge-alpr: error: {cfg}: models.directory '{folder}': {sidecar.stem}: input "), line
    assert "sidecar says" in line and "make models" in line, line


@pytest.fixture
def no_dac() -> list[str]:
    """The command prefix that makes root obey file modes too (nothing for another user)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux) to drop root's file access")
    return NO_DAC


@pytest.fixture
def locked_models(tmp_path: Path) -> Iterator[Path]:
    """A folder of models this process may not list (mode 000)."""
    folder = copied_models(tmp_path)
    folder.chmod(0)
    try:
        yield folder
    finally:
        folder.chmod(0o755)


def test_a_models_folder_out_of_reach_is_a_config_error(tmp_path: Path, locked_models: Path,
                                                        no_dac: list[str]) -> None:
    cfg = config(tmp_path, locked_models)
    out = cli("run", "--config", str(cfg), prefix=no_dac)
    assert out.returncode == EXIT_CONFIG, out.stderr[-3000:]
    [line] = errors(out)
    assert line.startswith(f"edge-alpr: error: {cfg}: models.directory '{locked_models}' cannot be read by user "), line
    assert "read access" in line, line
    out = cli("check-config", "--config", str(cfg), prefix=no_dac)
    assert out.returncode == 0 and f"models.directory '{locked_models}' cannot be read" in out.stderr, out.stderr


def test_a_models_path_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    cfg = config(tmp_path, SAMPLE)
    out = cli("serve", "--config", str(cfg))
    assert out.returncode == EXIT_CONFIG, out.stderr[-3000:]
    assert errors(out) == [f"edge-alpr: error: {cfg}: models.directory '{SAMPLE}' is not a folder; set it to the "
                           "folder of the .tflite models and their .json sidecars, or remove it for the bundled "
                           "models"], out.stderr


def test_a_good_models_folder_serves_and_a_model_put_aside_is_ignored(tmp_path: Path) -> None:
    """A copy named ``reader_vold.tflite`` is no reader version (it ended in a ValueError)."""
    folder = copied_models(tmp_path)
    shutil.copy(next(folder.glob("reader_v*.tflite")), folder / "reader_vold.tflite")
    cfg = config(tmp_path, folder)
    out = cli("check-config", "--config", str(cfg))
    assert out.returncode == 0 and "warning" not in out.stderr, out.stderr
    out = cli("read", str(SAMPLE), "--config", str(cfg))
    assert out.returncode == 0 and "score" in out.stdout, out.stderr[-3000:]
