"""debian/copyright covers every distribution the .deb's virtualenv installs.

debian/copyright_check.py runs at build time on the built virtualenv (debian/rules); these tests
check, without building, that the file is well-formed, that each runtime pin of the locks
(debian/requirements-py311.txt, -py313.txt) has a paragraph, and, for the pins installed here at
the locked version, that the paragraph names the licence the distribution declares and each
library its wheel bundles.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("debian_copyright_check", ROOT / "debian" / "copyright_check.py")
assert _spec and _spec.loader
check = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = check  # dataclasses look their module up
_spec.loader.exec_module(check)

COPYRIGHT = ROOT / "debian" / "copyright"
LOCKS = sorted((ROOT / "debian").glob("requirements-py3*.txt"))
SITE = f"{check.VENV}/lib/python3.11/site-packages"


@pytest.fixture(scope="module")
def paragraphs() -> list:
    return check.parse(COPYRIGHT.read_text())


def test_copyright_is_machine_readable(paragraphs: list) -> None:
    assert check.check_format(paragraphs) == []
    names = {p.license_name for p in paragraphs if "files" not in p.fields}
    # texts Debian does not ship in /usr/share/common-licenses are given in full
    assert {"Expat", "PSF-2.0", "EPL-2.0", "GPL-3+ with GCC-exception-3.1 exception"} <= names


@pytest.mark.parametrize("lock", LOCKS, ids=[p.name for p in LOCKS])
def test_every_runtime_pin_has_a_paragraph(paragraphs: list, lock: Path) -> None:
    assert check.lock_pins(lock), f"no pins read from {lock}"
    assert check.check_lock(paragraphs, lock) == []


def test_a_pin_without_a_paragraph_is_named(tmp_path: Path) -> None:
    text = COPYRIGHT.read_text()
    without_tqdm = "\n\n".join(p for p in text.split("\n\n") if "site-packages/tqdm/" not in p)
    errors = check.check_lock(check.parse(without_tqdm), ROOT / "debian" / "requirements-py311.txt")
    assert len(errors) == 1 and errors[0].startswith("tqdm==")
    # debian/rules removes ml_dtypes from the venv: it needs no paragraph
    assert "ml_dtypes" in check.pruned_distributions()


def _installed_at_locked_version() -> list[importlib.metadata.Distribution]:
    pins: dict[str, set[str]] = {}
    for lock in LOCKS:
        for name, version in check.lock_pins(lock).items():
            pins.setdefault(name, set()).add(version)
    out = []
    for name, versions in sorted(pins.items()):
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if dist.version in versions:
            out.append(dist)
    return out


def test_declared_licences_and_bundled_libraries(paragraphs: list) -> None:
    """What the installed wheels (at the locked versions) declare and bundle is in debian/copyright."""
    dists = _installed_at_locked_version()
    if not dists:
        pytest.skip("no distribution of the locks is installed here at its locked version")
    errors = []
    libs = 0
    for dist in dists:
        info = Path(str(dist._path)).name  # type: ignore[attr-defined]
        name = check._dist_name(info)
        if name.lower().replace("-", "_") in check.pruned_distributions():
            continue
        metadata = dist.read_text("METADATA") or ""
        errors += check.check_distribution(paragraphs, name, f"{SITE}/{info}/METADATA", metadata)
        for file in dist.files or []:
            if ".libs/" not in file.as_posix() and ".dylibs/" not in file.as_posix():
                continue
            libs += 1
            path = f"{SITE}/{file.as_posix()}"
            paragraph = check.governing(paragraphs, path)
            if paragraph is None or paragraph is paragraphs[1]:
                errors.append(f"{name}: bundled library {file} has no paragraph")
            elif not check._matching_pattern(paragraph, path).split(".libs/", 1)[-1].strip("*?"):
                errors.append(f"{name}: bundled library {file} is not named by its paragraph")
    assert errors == []
    assert libs or not any(d.metadata["Name"].lower() in {"numpy", "pillow"} for d in dists)
