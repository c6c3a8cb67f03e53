"""Command-line options that several tools share, defined once so their help and defaults agree."""

from __future__ import annotations

import argparse

from edge_alpr.models_config import FINE_PASSES, ModelsConfig


def add_fine_pass(ap: argparse.ArgumentParser, what: str = "default mode's finer pass, tiles or looks") -> None:
    """``--fine-pass``: the ``models.fine_pass`` a tool runs (``what`` says what it means there)."""
    ap.add_argument("--fine-pass", default=ModelsConfig.fine_pass, choices=FINE_PASSES,
                    help=f"models.fine_pass: {what} (default: the config's, %(default)s)")
