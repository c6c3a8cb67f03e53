#!/usr/bin/env python3
"""Write the .deb's lock files (make lock): every wheel of the virtualenv pinned, with hashes.

One lock per supported Python (Debian bookworm's 3.11, trixie's 3.13), each valid on amd64 and
arm64: ``debian/requirements-py311.txt``, ``debian/requirements-py313.txt`` hold setup.cfg's
install_requires (with debian/constraints.txt) resolved by ``uv pip compile`` for that Python on
x86_64 and aarch64 (manylinux, glibc 2.36 = bookworm's); the two resolutions must pin the same
versions, and each pin carries the hashes of every file PyPI has for it (every platform's
wheel), so pip --require-hashes accepts the download on either architecture; each lock is then
checked against the index as pip will install it (tags, hashes, Requires-Python).
``debian/requirements-build.txt`` pins what building the edge-alpr wheel itself needs
(pyproject.toml's build-system requires).

debian/rules installs from them with pip --require-hashes --only-binary=:all:;
tests/test_lock.py fails when setup.cfg and the locks disagree.  Needs uv (make lock installs the
version below into .venv) and the network (PyPI, or UV_INDEX_URL).
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = {"3.11": "bookworm", "3.13": "trixie"}
ARCHES = ("x86_64", "aarch64")
GLIBC = "manylinux_2_36"  # bookworm's glibc; trixie's (2.41) runs these wheels too
UV_VERSION = "0.13.8"


def lock_path(python: str) -> Path:
    return ROOT / "debian" / f"requirements-py{python.replace('.', '')}.txt"


BUILD_LOCK = ROOT / "debian" / "requirements-build.txt"
# a pin of a compiled lock: name, version, its --hash lines
PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*)", re.M)


def runtime_requirements() -> list[str]:
    """setup.cfg's install_requires, one requirement string each (markers kept)."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return [line.strip() for line in cfg["options"]["install_requires"].splitlines() if line.strip()]


def build_requirements() -> list[str]:
    return list(tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"])


def header(kind: str, inputs: list[str], python: str) -> str:
    """The lock's first lines: what it was made from (tests/test_lock.py compares them)."""
    lines = [f"# {kind} lock for Python {python}, amd64 and arm64: written by `make lock` (debian/lock.py)",
             "# from these requirements; edit those and run it again, never this file:"]
    lines += [f"#   input: {req}" for req in inputs]
    return "\n".join(lines) + "\n"


def pins(text: str) -> list[str]:
    """``name==version`` lines of a compiled requirements text."""
    return re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*==\S+)", text, re.M)


def compile_lock(uv: str, inputs: list[str], constraints: Path | None, python: str, arch: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        infile = Path(tmp) / "requirements.in"
        infile.write_text("\n".join(inputs) + "\n")
        cmd = [uv, "pip", "compile", str(infile), "--python-version", python,
               "--python-platform", f"{arch}-{GLIBC}", "--generate-hashes", "--only-binary", ":all:",
               "--no-header", "--no-annotate"]
        if constraints is not None:
            cmd += ["-c", str(constraints)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"debian/lock.py: uv pip compile for Python {python} {arch} failed:\n{proc.stderr}")
        return proc.stdout


def resolve(uv: str, inputs: list[str], constraints: Path | None, python: str) -> str:
    """The lock text for ``python``: the same on every architecture, or exit naming the difference."""
    texts = {arch: compile_lock(uv, inputs, constraints, python, arch) for arch in ARCHES}
    first = texts[ARCHES[0]]
    for arch, text in texts.items():
        if text != first:
            only = sorted(set(pins(text)) ^ set(pins(first)))
            sys.exit(f"debian/lock.py: Python {python} resolves differently on {ARCHES[0]} and {arch}: {only}; "
                     "pin the package in debian/constraints.txt so both agree")
    return first


def _index_files(name: str) -> list[dict]:
    """The index's files of project ``name`` (PEP 691 JSON of the simple API)."""
    index = os.environ.get("UV_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    request = urllib.request.Request(f"{index}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return list(json.load(answer)["files"])


def verify(path: Path, python: str) -> None:
    """pip (what debian/rules runs) accepts the lock for ``python`` on every architecture: each pin
    has a wheel for that Python, platform and glibc whose hash is listed and whose Requires-Python
    admits it (uv ignores Requires-Python upper bounds; pip honours them)."""
    from packaging.specifiers import SpecifierSet
    from packaging.tags import compatible_tags, cpython_tags
    from packaging.utils import parse_wheel_filename

    glibc = int(GLIBC.rsplit("_", 1)[1])
    version = tuple(int(part) for part in python.split("."))
    text = path.read_text()
    problems = []
    for match in PIN_RE.finditer(text):
        name, pinned = match.group(1), match.group(2)
        hashes = set(re.findall(r"sha256:([0-9a-f]{64})", match.group(3)))
        files = _index_files(name)
        for arch in ARCHES:
            platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(glibc, 16, -1)] + [f"manylinux2014_{arch}"]
            wanted = {*cpython_tags(version, platforms=platforms), *compatible_tags(version, platforms=platforms)}
            ok = False
            for f in files:
                if not f["filename"].endswith(".whl"):
                    continue
                _, wheel_version, _, tags = parse_wheel_filename(f["filename"])
                if str(wheel_version) != pinned or f["hashes"].get("sha256") not in hashes or not tags & wanted:
                    continue
                requires = f.get("requires-python") or ""
                if SpecifierSet(requires).contains(f"{python}.0", prereleases=True):
                    ok = True
                    break
            if not ok:
                problems.append(f"{name}=={pinned} (Python {python}, {arch})")
    if problems:
        sys.exit(f"debian/lock.py: {path.name}: no wheel pip would install (tags, hash, Requires-Python) for "
                 f"{', '.join(problems)}: pin versions pip accepts in debian/constraints.txt and run make lock")


def check_venv(site: str) -> None:
    """pip check for the venv's own site-packages only (the system's, seen through
    --system-site-packages, are not the package's): every requirement of every distribution
    installed there is installed there, in a matching version."""
    from importlib.metadata import distributions

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions(path=[site])}
    problems = []
    for dist in distributions(path=[site]):
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            have = installed.get(canonicalize_name(req.name))
            if have is None or not req.specifier.contains(have, prereleases=True):
                problems.append(f"{dist.metadata['Name']} requires {req}, the venv has {have or 'none'}")
    if problems:
        sys.exit("debian/lock.py: the venv's requirements are not met (run make lock):\n  " + "\n  ".join(problems))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-venv", metavar="SITE_PACKAGES",
                        help="only check that the distributions in SITE_PACKAGES have what they require")
    parser.add_argument("--uv", default=shutil.which("uv") or os.path.join(os.path.dirname(sys.executable), "uv"),
                        help=f"the uv executable (uv {UV_VERSION}: pip install uv=={UV_VERSION})")
    args = parser.parse_args()
    if args.check_venv:
        check_venv(args.check_venv)
        return
    if not os.access(args.uv, os.X_OK):
        sys.exit(f"debian/lock.py: no uv at {args.uv}: pip install uv=={UV_VERSION} (make lock does) or pass --uv")
    constraints = ROOT / "debian" / "constraints.txt"
    runtime = runtime_requirements()
    for python in PYTHONS:
        text = resolve(args.uv, runtime, constraints, python)
        lock_path(python).write_text(header("runtime", runtime, python) + text)
        verify(lock_path(python), python)
        print(f"{lock_path(python).relative_to(ROOT)}: {len(pins(text))} pins ({PYTHONS[python]})")
    build = build_requirements()
    texts = {python: resolve(args.uv, build, None, python) for python in PYTHONS}
    if len(set(texts.values())) != 1:
        sys.exit(f"debian/lock.py: the build requirements {build} resolve differently per Python: "
                 f"{ {p: pins(t) for p, t in texts.items()} }")
    BUILD_LOCK.write_text(header("build", build, " and ".join(PYTHONS)) + texts["3.11"])
    for python in PYTHONS:
        verify(BUILD_LOCK, python)
    print(f"{BUILD_LOCK.relative_to(ROOT)}: {len(pins(texts['3.11']))} pins")


if __name__ == "__main__":
    main()
