"""The .deb's locks agree with setup.cfg (``make lock`` writes them; debian/rules installs them).

debian/requirements-py311.txt (bookworm) and -py313.txt (trixie) pin, with hashes, what
setup.cfg's install_requires (and debian/constraints.txt) resolve to on amd64 and arm64;
debian/requirements-build.txt what pyproject.toml's build-system requires.  These tests fail when
a requirement is added, removed or changed without ``make lock``, or a pin falls outside it.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib", reason="the locks are made and checked on Python 3.11+ (tomllib)")

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("debian_lock", ROOT / "debian" / "lock.py")
assert _spec and _spec.loader
lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock)


def _inputs(path: Path) -> list[str]:
    return re.findall(r"^#   input: (.*)$", path.read_text(), re.M)


def _pins(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a lock file."""
    text = path.read_text()
    out = {}
    for match in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*)",
                             text, re.M):
        out[canonicalize_name(match.group(1))] = (match.group(2), re.findall(r"sha256:([0-9a-f]{64})", match.group(3)))
    return out


def _install_requires() -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return [line.strip() for line in cfg["options"]["install_requires"].splitlines() if line.strip()]


def _constraints() -> list[Requirement]:
    lines = (ROOT / "debian" / "constraints.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_a_lock_per_supported_python() -> None:
    assert set(lock.PYTHONS) == {"3.11", "3.13"}, lock.PYTHONS  # bookworm, trixie
    for python in lock.PYTHONS:
        assert lock.lock_path(python).is_file(), f"no {lock.lock_path(python)}: run make lock"
    rules = (ROOT / "debian" / "rules").read_text()
    assert re.search(r"pip install [^\n]*--only-binary=:all:[^\n]*--require-hashes", rules), \
        "debian/rules does not install with --only-binary=:all: --require-hashes"
    assert "-r $(LOCK)" in rules and "LOCK := debian/requirements-py$(subst .,,$(PYVER)).txt" in rules


@pytest.mark.parametrize("python", ["3.11", "3.13"])
def test_runtime_lock_matches_setup_cfg(python: str) -> None:
    path = lock.lock_path(python)
    requires = _install_requires()
    assert _inputs(path) == requires, (
        f"{path.name} was made from {_inputs(path)}, setup.cfg's install_requires are {requires}: run make lock")
    pins = _pins(path)
    assert pins, f"{path.name} pins nothing"
    for name, (version, hashes) in pins.items():
        assert hashes, f"{path.name}: {name}=={version} has no --hash (pip --require-hashes refuses it)"
    for machine in ("x86_64", "aarch64"):
        env = {"python_version": python, "python_full_version": f"{python}.0", "platform_system": "Linux",
               "sys_platform": "linux", "platform_machine": machine, "os_name": "posix",
               "implementation_name": "cpython", "platform_python_implementation": "CPython"}
        for req in [Requirement(r) for r in requires] + _constraints():
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            name = canonicalize_name(req.name)
            assert name in pins, f"{path.name} lacks {req} (Python {python}, {machine}): run make lock"
            version = pins[name][0]
            assert req.specifier.contains(version, prereleases=True), \
                f"{path.name} pins {name}=={version}, outside {req} (Python {python}, {machine}): run make lock"


def test_build_lock_matches_pyproject() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert _inputs(lock.BUILD_LOCK) == requires, \
        f"{lock.BUILD_LOCK.name} was made from {_inputs(lock.BUILD_LOCK)}, pyproject.toml says {requires}: make lock"
    pins = _pins(lock.BUILD_LOCK)
    for req in map(Requirement, requires):
        name = canonicalize_name(req.name)
        assert name in pins and req.specifier.contains(pins[name][0]), (req, pins.get(name))
        assert pins[name][1], f"{name} has no hash"


def test_disagreement_is_caught(tmp_path: Path) -> None:
    """The parser sees a pin without hashes and a header that no longer matches (the test can fail)."""
    good = lock.lock_path("3.11").read_text()
    bad = tmp_path / "requirements-py311.txt"
    bad.write_text(good.replace("#   input: cheroot\n", "") + "extra-package==1.0\n")
    assert "cheroot" not in _inputs(bad) and _pins(bad)["extra-package"] == ("1.0", [])
