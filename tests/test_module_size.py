"""Every module of the package stays within 300 lines: one that grows past it is split along a
seam (the house rule), so that each can be read at a sitting."""

from __future__ import annotations

from pathlib import Path

import edge_alpr

MAX_LINES = 300


def test_every_module_of_the_package_is_within_300_lines() -> None:
    root = Path(edge_alpr.__file__).parent
    long = {str(path.relative_to(root)): n for path in sorted(root.rglob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these modules along a seam: {long}"
