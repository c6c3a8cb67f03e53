"""The install recipes in the docs do what they say (static checks: no Jetson here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_jetson_recipe_installs_the_file_it_copies() -> None:
    text = (ROOT / "scripts" / "image" / "jetson.md").read_text()
    copied = re.findall(r"cp \S+\.deb rootfs(/tmp/\S+\.deb)", text)
    installed = re.findall(r"apt-get install [^\n]*?(/tmp/\S+\.deb)", text)
    removed = re.findall(r"rm rootfs(/tmp/\S+\.deb)", text)
    assert copied and installed and copied == installed == removed, (copied, installed, removed)


def test_jetson_recipe_supports_only_pythons_the_package_installs_on() -> None:
    """setup.cfg's python_requires decides which L4T releases can run edge-alpr."""
    minimum = re.search(r"python_requires\s*=\s*>=\s*3\.(\d+)", (ROOT / "setup.cfg").read_text())
    assert minimum
    text = (ROOT / "scripts" / "image" / "jetson.md").read_text()
    for minor in re.findall(r"[Uu]se [^.]*Python 3\.(\d+)|for r\d+ \(Python 3\.(\d+)\) use", text):
        assert all(not m or int(m) >= int(minimum.group(1)) for m in minor), minor


def test_the_quick_start_first_installs_what_it_runs() -> None:
    """A minimal Debian has neither make nor git: the quick start's first command installs them,
    before the first `make`; and the README stays within its 200 lines."""
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert re.match(r"sudo apt install (git make|make git)\b", quick[0]), quick
    assert quick[1].startswith("make "), quick
    assert len(text.splitlines()) <= 200
