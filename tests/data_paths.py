"""Where the tests find real images.

``FIXTURE`` is ``tests/data``, the small licensed fixture set in the repository (its README names
each file group's source and licence; ``scripts/data/make_test_fixtures.py`` regenerates it): every
test reads it by default, so a plain clone passes ``make test``.  ``FULL`` is the full data
(``../shared/data`` beside the checkout, or ``EDGE_ALPR_DATA``): only tests marked ``data``
read it (``make test-data``; ``.ci/run`` runs both), through the ``full_data`` fixture, which
fails when the data is missing.  Any other test's read of ``FULL`` fails (``GUARD``, an audit hook
installed here, once per process).

No test builds a path out of the repository itself (tests/test_fixture_data.py checks).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from scripts.data import datasets  # the one place that knows where the full data lives

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data"

FULL = datasets.DATA  # as the environment had it before conftest pointed the scripts at FIXTURE
# the folders a test without the ``data`` mark must never read (the default place too, in case
# EDGE_ALPR_DATA names another copy)
GUARDED = tuple(dict.fromkeys(p for p in (FULL, datasets.DEFAULT_DATA) if ROOT not in p.resolve().parents))


class FullDataRead(RuntimeError):
    """A test without the ``data`` mark read the full data."""


class _Guard:
    """Refuses opening or listing anything under ``GUARDED`` while ``active`` (conftest.py clears it
    for the tests marked ``data``).

    An audit hook sees every ``open`` (Python's and PIL's alike) and directory listing in this
    process, whether or not the file exists, so the check holds with the data present (CI) as
    well as without it.  Subprocesses are covered by ``EDGE_ALPR_DATA`` and the path scan.
    """

    def __init__(self, roots: tuple[Path, ...]) -> None:
        self.roots = tuple({os.path.join(os.path.abspath(r), "") for r in roots}
                           | {os.path.join(os.path.realpath(r), "") for r in roots})
        self.active = True

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active or event not in ("open", "os.scandir", "os.listdir") or not args:
            return
        path = args[0]
        if not isinstance(path, (str, bytes, os.PathLike)):
            return  # a file descriptor
        full = os.path.join(os.path.abspath(os.fsdecode(path)), "")
        if full.startswith(self.roots):
            raise FullDataRead(f"{os.fsdecode(path)}: only tests marked `data` may read the full data; "
                               f"read tests/data (tests/data_paths.py) instead")


GUARD = _Guard(GUARDED)
sys.addaudithook(GUARD)


def rows(labels: Path, split: str | None = None) -> list[dict]:
    """The rows of a ``labels.jsonl`` (of ``split`` only, if given), in file order."""
    out = [json.loads(x) for x in labels.read_text().splitlines() if x.strip()]
    return [r for r in out if split is None or r["split"] == split]


def plate_scenes(folder: Path) -> list[tuple[Path, list[Any]]]:
    """(image, labelled plate boxes as ``Box``) of a detection set's ``labels.jsonl`` in ``folder``."""
    from edge_alpr.types import Box

    return [(folder / r["image"], [Box(*p["box"]) for p in r["plates"]]) for r in rows(folder / "labels.jsonl")]
