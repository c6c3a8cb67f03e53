"""The normal form of plate text: what every comparison, search and watch list uses.

Upper case, ASCII letters and digits only (``AB-123 cd`` is ``AB123CD``).  ``fuzzy`` compares
plates in this form; it lives apart from ``fuzzy`` (which needs numpy) because the config's
watch lists are normalised while the config loads (``edge-alpr check-config``), which imports
no numpy.
"""

from __future__ import annotations

MAX_PLATE_CHARS = 16  # longest normalised plate accepted in a query or a watch list


def normalize(plate: str) -> str:
    """Upper case ASCII letters and digits only: the form every comparison uses."""
    return "".join(c for c in plate.upper() if c.isascii() and c.isalnum())
