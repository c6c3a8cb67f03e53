"""A camera path that is not there, as check-config (and run) says it: the ``mkdir -p`` to type
for a folder names it as an absolute path, so that it works wherever it is typed, and a relative
``source.path`` is said to be taken from the working directory, which for the service is ``/``;
where ``mkdir -p`` cannot help (a symbolic link to nothing, a file where a folder of the path
should be), what is in the way is said instead.  The real ``edge-alpr`` command as a process."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def config(tmp_path: Path, folder: str) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nmqtt: {{enabled: false}}\n"
                   f"stream:\n  cameras:\n    - {{id: inbox, source: {{kind: folder, path: '{folder}'}}}}\n")
    return cfg


def warnings(cfg: Path, cwd: Path) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "edge_alpr", "check-config", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=60, cwd=cwd,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    return [line for line in out.stderr.splitlines() if "warning" in line]


def test_a_relative_folder_gets_the_mkdir_of_its_absolute_path_and_the_services_place(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    cfg = config(tmp_path, "drop box")
    said = warnings(cfg, tmp_path / "work")
    assert len(said) == 1 and "image folder 'drop box' does not exist" in said[0], said
    command = re.search(r"\(mkdir -p (.*?)\) or correct", said[0])
    assert command, said
    assert f"but {Path('/drop box')} for the service" in said[0] and "give an absolute path" in said[0], said
    # the command as shown, typed in another folder, makes the one check-config looks for
    subprocess.run(["sh", "-c", f"mkdir -p {command.group(1)}"], check=True, cwd=tmp_path)
    assert (tmp_path / "work" / "drop box").is_dir()
    assert warnings(cfg, tmp_path / "work") == []


def test_a_relative_folder_checked_from_the_root_is_where_the_service_looks(tmp_path: Path) -> None:
    name = f"edge-alpr-no-such-{uuid.uuid4().hex}"
    said = warnings(config(tmp_path, name), Path("/"))
    assert len(said) == 1 and f"(mkdir -p {shlex.quote('/' + name)})" in said[0], said
    assert "(/, here as for the service)" in said[0], said


def test_a_symbolic_link_to_nothing_is_said_and_no_mkdir_offered(tmp_path: Path) -> None:
    link = tmp_path / "inbox"
    link.symlink_to(tmp_path / "gone")
    said = warnings(config(tmp_path, str(link)), tmp_path)
    assert len(said) == 1 and f"it is a symbolic link to '{tmp_path / 'gone'}', which is missing" in said[0], said
    assert "mkdir" not in said[0], said


def test_a_file_where_a_folder_of_the_path_should_be_is_said_and_no_mkdir_offered(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("x\n")
    said = warnings(config(tmp_path, str(tmp_path / "notes" / "inbox")), tmp_path)
    assert len(said) == 1 and f"'{tmp_path / 'notes'}' is a file, not a folder" in said[0], said
    assert "mkdir" not in said[0], said


def run_error(tmp_path: Path, video: str, cwd: Path) -> str:
    """``run``'s error line for a config whose one camera is the video file ``video``."""
    cfg = tmp_path / "v.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\napi: {{port: 0}}\nmqtt: {{enabled: false}}\n"
                   f"stream:\n  cameras:\n    - {{id: road, source: {{kind: video, path: '{video}'}}}}\n")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    out = subprocess.run([sys.executable, "-m", "edge_alpr", "run", "--config", str(cfg)], capture_output=True,
                         text=True, timeout=60, cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)})
    errors = [line for line in out.stderr.splitlines() if "error:" in line]
    assert out.returncode == 1 and len(errors) == 1, out.stderr[-3000:]
    return errors[0]


def mounts_for(said: str) -> str:
    """The value of ``RequiresMountsFor=`` in ``said``, as systemd reads it: one word, unquoted
    (quotes and backslashes, as shlex does for these), then ``%%`` as ``%``."""
    value = re.search(r"RequiresMountsFor=(.*) to the service: systemctl edit edge-alpr\)$", said)
    assert value, said
    words = shlex.split(value.group(1))
    assert len(words) == 1, words
    return words[0].replace("%%", "%")


def test_a_relative_video_path_gets_the_mount_of_its_absolute_path(tmp_path: Path) -> None:
    """systemd takes no relative path in ``RequiresMountsFor=``: the one offered is absolute, the
    file as this process looks for it."""
    (tmp_path / "work").mkdir()
    said = run_error(tmp_path, "clips/drive.mp4", tmp_path / "work")
    assert mounts_for(said) == str(tmp_path / "work" / "clips" / "drive.mp4"), said


def test_a_path_with_a_space_or_a_percent_is_one_path_to_systemd(tmp_path: Path) -> None:
    """Unquoted, ``/srv/my disk/a.mp4`` is two paths to systemd (the second, not absolute, ignored)
    and ``%b`` its boot id; checked by ``systemd-analyze verify`` where it is installed."""
    video = tmp_path / "my disk" / "it's 100%b \"x\".mp4"
    said = run_error(tmp_path, str(video).replace("'", "''"), tmp_path)
    assert mounts_for(said) == str(video), said
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    line = re.search(r"(RequiresMountsFor=.*) to the service", said)
    assert line, said
    unit = tmp_path / "probe.service"
    unit.write_text(f"[Unit]\n{line.group(1)}\n[Service]\nExecStart=/bin/true\n")
    checked = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                             timeout=60)
    assert "RequiresMountsFor" not in checked.stdout + checked.stderr, checked.stdout + checked.stderr


def test_no_mount_is_offered_where_a_file_is_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("x\n")
    said = run_error(tmp_path, str(tmp_path / "notes" / "drive.mp4"), tmp_path)
    assert f"'{tmp_path / 'notes'}' is a file, not a folder" in said, said
    assert "RequiresMountsFor" not in said, said
