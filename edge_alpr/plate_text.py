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
looks like, and now both are ``TU``.

Plates of Ukraine, Russia, Belarus, Kazakhstan, Bulgaria and Greece are written in letters that
look like Latin ones and were chosen so (Cyrillic ``АВЕІКМНОРСТУХ``, Greek ``ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ``); the
reader reads them as those Latin letters, so typed in their own script they are those letters too:
``АА1234ВС`` typed on a Ukrainian keyboard is ``AA1234BC``, where it was ``1234`` (the letters
dropped), a watch-list entry that matched other cars; and Latin letters that NFD does not take
apart are their base (``Đ`` ``D``, ``Ø`` ``O``, ``Æ`` ``AE``).  Letters without a Latin twin (``Ж``, ``Þ``)
and other look-alikes of digits (a superscript ``²``) are no plate's characters: ``foreign``
names them, so that a watch list or a search refuses them instead of losing them.
"""

from __future__ import annotations

import unicodedata

MAX_PLATE_CHARS = 16  # longest normalised plate accepted in a query or a watch list
# the fullwidth forms of ASCII's letters and digits (U+FF10-FF19, FF21-FF3A, FF41-FF5A), to them
_FULLWIDTH = {code + 0xFEE0: code for code in range(0x21, 0x7F) if chr(code).isalnum()}
# upper-case letters that plates use as the Latin letter they look like (after str.upper(), so
# typed in lower case too): Cyrillic, Greek, and the Latin letters NFD does not take apart
_TWINS = str.maketrans({**dict(zip("АВЕІЈКМНОРСТУХЅ" "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ" "ĐÐŁØĦ",
                                   "ABEIJKMHOPCTYXS" "ABEZHIKMNOPTYX" "DDLOH")),
                        "Æ": "AE", "Œ": "OE", "ẞ": "SS"})


def _latin(plate: str) -> str:
    """``plate`` upper case with accents taken off and every twin its Latin letter."""
    if plate.isascii():
        return plate.upper()
    # one character at a time: NFD of a whole text puts runs of combining marks in order with
    # an insertion sort, which took minutes for one 2 MB watch-list body of alternating marks
    # (the process held all the while); a plate's marks are dropped anyway, so their order is moot
    # marks dropped before upper(): a mark that upper() makes a letter (U+0345 is Greek iota's)
    # is no character of the plate
    bare = "".join(b for c in plate.translate(_FULLWIDTH) for b in unicodedata.normalize("NFD", c)
                   if not unicodedata.combining(b))
    return bare.upper().translate(_TWINS)


def normalize(plate: str) -> str:
    """Upper case ASCII letters and digits only: the form every comparison uses."""
    return "".join(c for c in _latin(plate) if c.isascii() and c.isalnum())


def earlier_forms(plate: str) -> list[str]:
    """The forms earlier versions stored ``plate`` as, where they differ from ``normalize``'s:
    its ASCII letters and digits alone (``TÜ123`` was ``T123``, ``АА1234ВС`` was ``1234``), and,
    before Cyrillic and Greek twins were read, its accents taken off (``ΤÜ1``, a Greek Τ, was ``U1``).  Why:
    a client removing a plate by the text it once sent must find the entry stored so."""
    if plate.isascii():
        return []
    ascii_only = "".join(c for c in plate.upper() if c.isascii() and c.isalnum())
    unaccented = "".join(b for c in plate.translate(_FULLWIDTH).upper()
                         for b in unicodedata.normalize("NFD", c) if b.isascii() and b.isalnum())
    return [form for form in dict.fromkeys((ascii_only, unaccented)) if form and form != normalize(plate)]


def foreign(plate: str) -> str:
    """The characters of ``plate``, as typed, that hold a letter or digit no plate reading
    holds (``normalize`` would drop it, changing the plate: ``Ж``, ``가``, ``²``), in order, each
    once; "" where there are none.  As typed: the admin typed ``가``, not its decomposed jamo."""
    return "".join(dict.fromkeys(c for c in plate if any(b.isalnum() and not b.isascii() for b in _latin(c))))


def foreign_said(plate: str, odd: str) -> str:
    """What to say of ``plate`` holding the ``foreign`` characters ``odd``: which, what earlier
    versions matched it as (they dropped such characters), and the fix."""
    shown = ", ".join(repr(c) for c in odd[:5])
    was = "".join(c for c in plate.upper() if c.isascii() and c.isalnum())
    before = f"; earlier versions dropped them and matched it as {was!r}" if was else ""
    return (f"holds {shown}, which no plate reading holds (plates are read as the letters A-Z and "
            "the digits 0-9; Cyrillic and Greek letters that look like Latin ones count as those)"
            f"{before}: write the plate as the reader reads it, in Latin letters, or remove it")
