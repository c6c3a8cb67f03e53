"""The project's tools: data, training, evaluation, benchmarks and packaging (scripts/README.md).

Run them as modules from the repository root (``python -m scripts.eval.evaluate``), so that
``edge_alpr`` and every tool import from one root without path tricks.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # the repository root
SHARED = REPO.parent / "shared"  # ../shared: the data and the teachers, beside the checkout
