"""The normal form of plate text: what every comparison, search and watch list uses.

Upper case, ASCII letters and digits only (``AB-123 cd`` is ``AB123CD``).  ``fuzzy`` compares
plates in this form; it lives apart from ``fuzzy`` (which needs numpy) because the config's
watch lists are normalised while the config loads (``edge-alpr check-config``), which imports
no numpy.

Text that is not ASCII is first taken apart (Unicode NFD): a letter keeps its base and loses
its accents; and a fullwidth letter or digit (``ＡＢ１``, an East Asian input method's) is its
ASCII one.  Why: ``TÜ`` typed on one keyboard is one character and on a Mac (or pasted from a
file name) two, ``U`` and a combining diaeresis; without this the first was the plate ``T`` and
the second ``TU``, and ``ＡＢ１`` was nothing at all.  The reader reads a ``Ü`` as the ``U`` it
looks like, and now both are ``TU``.  Other look-alikes stay what they are, not letters or
digits of a plate: a superscript ``²`` (NFKD would make it ``2``), a Cyrillic ``А``.
"""

from __future__ import annotations

import unicodedata

MAX_PLATE_CHARS = 16  # longest normalised plate accepted in a query or a watch list
# the fullwidth forms of ASCII's letters and digits (U+FF10-FF19, FF21-FF3A, FF41-FF5A), to them
_FULLWIDTH = {code + 0xFEE0: code for code in range(0x21, 0x7F) if chr(code).isalnum()}


def normalize(plate: str) -> str:
    """Upper case ASCII letters and digits only: the form every comparison uses."""
    if not plate.isascii():
        plate = unicodedata.normalize("NFD", plate).translate(_FULLWIDTH)
    return "".join(c for c in plate.upper() if c.isascii() and c.isalnum())
