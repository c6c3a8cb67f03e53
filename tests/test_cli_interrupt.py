"""Ctrl-C while the ``edge-alpr`` command starts (its imports: about 0.1 s, more on a Pi) exits
130 with nothing said, as a Ctrl-C later does.  Before, it was Python's ``KeyboardInterrupt``
traceback and an exit by the signal (-2), measured with SIGINT 0.08 to 0.15 s after the start.

A real subprocess, started as the installed command is (setup.cfg's console script, the wrapper
pip writes; and ``python -m edge_alpr``), and a real SIGINT, which it sends itself at the moment
a module of its start is being imported: so the test hits that window on a loaded machine too.
"""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = sorted((ROOT / "edge_alpr" / "samples").glob("*.jpg"))[0]

# sends SIGINT to this process as ``TARGET`` begins to be imported (nothing else changed)
HOOK = """\
import importlib.abc, os, signal, sys
class _Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == {target!r}:
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, _Interrupt())
"""


MODULE = "import runpy\nrunpy.run_module('edge_alpr', run_name='__main__')\n"  # python -m edge_alpr


def _console_script() -> str:
    """What pip's ``edge-alpr`` wrapper runs: ``from <module> import <function>; sys.exit(<function>())``."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    line = next(x for x in parser["options.entry_points"]["console_scripts"].splitlines() if x.strip())
    name, target = (part.strip() for part in line.split("="))
    assert name == "edge-alpr"
    module, function = target.split(":")
    return f"import sys\nfrom {module} import {function}\nsys.exit({function}())\n"


def _as_from_a_terminal() -> None:
    """The child starts with Ctrl-C's default action, as a command typed at a terminal does,
    whatever this test run inherited (a CI job in the background starts with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("target", ["yaml", "edge_alpr.config"])
@pytest.mark.parametrize("how", ["command", "python -m"])
def test_ctrl_c_while_the_command_starts_exits_130_quietly(tmp_path: Path, how: str, target: str) -> None:
    start = _console_script() if how == "command" else MODULE
    done = subprocess.run([sys.executable, "-c", HOOK.format(target=target) + start, "read", str(SAMPLE)],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, preexec_fn=_as_from_a_terminal)
    assert (done.returncode, done.stderr, done.stdout) == (130, "", ""), done


def test_the_command_still_works_once_started(tmp_path: Path) -> None:
    """The SIGINT handling of the start is given back: the command runs and reads the plate."""
    done = subprocess.run([sys.executable, "-c", _console_script(), "read", str(SAMPLE), "--json"],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"plate"' in done.stdout


def test_a_command_started_with_ctrl_c_ignored_keeps_ignoring_it(tmp_path: Path) -> None:
    """A background job of a script starts with SIGINT ignored (POSIX): a SIGINT during its
    imports must not end it, as it did not before the start's handling existed."""
    ignore = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    done = subprocess.run([sys.executable, "-c", ignore + HOOK.format(target="yaml") + _console_script(), "--version"],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done
    assert "edge-alpr" in done.stdout
