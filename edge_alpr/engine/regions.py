"""Plate patterns per region, and the region codes of the Plate Recognizer country list.

The codes and their checking live in ``region_codes.py`` (long data of their own); they still
import from here, where the engine and the API have always found them.
The patterns guide reading (``regions=`` re-ranks candidates); they never force a reading.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from .region_codes import ALL_REGIONS, COUNTRIES, STATES, country_of, normalise, validate_regions

# what callers import from here, whichever of the region modules defines it
__all__ = ["ALL_REGIONS", "COUNTRIES", "PATTERNS", "STATES", "country_of", "has_patterns", "matcher", "matches",
           "normalise", "symbol_masks", "templates", "validate_regions"]

# Plate templates per country: L = letter, N = digit, X = either.  Compact forms without
# separators, as the reader outputs them.  Sources: the public plate formats of each country.
PATTERNS: dict[str, tuple[str, ...]] = {
    "us": ("NLLLNNN", "LLLNNNN", "LLLNNN", "NNNLLL", "LLNNNNN", "NLLNNN", "XXXXXXX", "XXXXXX", "XXXXX"),
    "gb": ("LLNNLLL",),
    # district (1-3 letters), 1-2 letters, 1-4 digits; E (electric) or H (historic) after the
    # digits; dealer plates 06 + digits
    "de": ("LNNNN", "LLNNNN", "LLLNNNN", "LLNNN", "LNNNNN", "LLLNNN", "LLLLNNNN", "LLLNNNNN", "LLNNNNN",
           "LLLNN", "LLLLNNN", "LLLLNNNL", "LLNNNL"),
    "fr": ("LLNNNLL",),
    # cars LLNNNLL, motorcycles LLNNNNN, trade (prova) plates
    "it": ("LLNNNLL", "LLNNNNN", "LNNNNNN", "LNNNNNL"),
    "es": ("NNNNLLL", "LNNNNLL", "LLNNNNLL"),
    "nl": ("NNLLLN", "NLLLNN", "LLNNNL", "LNNNLL", "LLNNLL", "NNLLNN", "NNNLLN", "NLLNNN"),
    "pl": ("LLNNNNN", "LLNNNLL", "LLLNNNN", "LLLNLNN", "LLNLLNN", "LLLNNLL"),
    "ro": ("LLNNLLL", "LNNLLL", "LNNNLLL", "LLNNNLLL"),
    "br": ("LLLNNNN", "LLLNLNN"),
    "ar": ("LLLNNN", "LLNNNLL", "NNNLLL", "LNNNLLL"),
    "in": ("LLNNLLNNNN", "LLNNLNNNN", "NNLLNNNNLL"),
    "au": ("LLLNNN", "NLLLNNN", "NNNLLL", "LLNNLL", "NLLNNN"),
    "ca": ("LLLLNNN", "LLLNNN", "NNNLLL", "LLLNNNN"),
    "mx": ("LLLNNNN", "LLLNNNL", "LNNLLL"),
    # Europe: the current formats, compact (emblems, seals, bands and hyphens are never read)
    "al": ("LLNNNLL",),
    "at": ("LLNNNLL", "LNNNNLL", "LLNNLLL", "LNNNNNL", "LNNNNL"),
    "ba": ("LNNLNNN",),
    "be": ("NLLLNNN",),
    "bg": ("LLNNNNLL", "LNNNNLL"),
    "by": ("NNNNLLN",),
    "ch": ("LLNNN", "LLNNNN", "LLNNNNN", "LLNNNNNN"),
    "cy": ("LLLNNN",),
    "cz": ("NLNNNNN", "NLLNNNN"),
    "dk": ("LLNNNNN",),
    "ee": ("NNNLLL",),
    "fi": ("LLLNNN", "LLNNN", "LLLNN"),
    "gr": ("LLLNNNN",),
    "hr": ("LLNNNLL", "LLNNNNLL", "LLNNNL", "LLNNNNL"),
    "hu": ("LLLLNNN", "LLLNNN"),
    "ie": ("NNNLNNNNN", "NNNLLNNNN", "NNLNNNN", "NNNLNNN"),
    "is": ("LLNNN", "LLLNN"),
    "li": ("LLNNNNN", "LLNNNN"),
    "lt": ("LLLNNN",),
    "lu": ("LLNNNN", "LNNNN", "NNNNN"),
    "lv": ("LLNNNN", "LLNNN"),
    "md": ("LLLNNN",),
    "me": ("LLLLNNN", "LLLNNN"),
    "mk": ("LLNNNNLL", "LLNNNLL"),
    "mt": ("LLLNNN",),
    "no": ("LLNNNNN",),
    "pt": ("LLNNLL", "NNLLNN", "NNNNLL", "LLNNNN"),
    "rs": ("LLNNNLL", "LLNNNNLL"),
    "se": ("LLLNNN", "LLLNNL"),
    "si": ("LLLLNNN", "LLNNLLL", "LLLNNNN"),
    "sk": ("LLNNNLL",),
    "tr": ("NNLNNNN", "NNLLNNN", "NNLLNNNN", "NNLLLNN", "NNLLLNNN"),
    "ua": ("LLNNNNLL",),
    "xk": ("NNNNNLL",),
}

_SYMBOL = {"L": "[A-Z?]", "N": "[0-9?]", "X": "[A-Z0-9?]"}


def symbol_masks(alphabet: str) -> dict[str, list[bool]]:
    """Which of a reader's characters each template symbol allows (``L`` letter, ``N`` digit, ``X``
    either), for the decoders that fit readings to templates."""
    return {"L": [c.isalpha() for c in alphabet], "N": [c.isdigit() for c in alphabet],
            "X": [c.isalnum() for c in alphabet]}


def _compile(templates: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for all of a country's templates (the decoder re-ranks with it on every read)."""
    return re.compile("(?:" + "|".join("".join(_SYMBOL[c] for c in t) for t in templates) + ")$")


# a country without templates has no pattern: it matches every plate, and gives no prior
_COMPILED: dict[str, re.Pattern[str]] = {k: _compile(v) for k, v in PATTERNS.items() if v}


def matches(plate: str, region: str) -> bool:
    """True when ``plate`` fits one of the region's templates (unknown templates: always)."""
    pat = _COMPILED.get(country_of(region))
    return pat is None or pat.match(plate.upper()) is not None


@functools.lru_cache(maxsize=256)
def matcher(regions: tuple[str, ...]) -> Callable[[str], bool]:
    """``plate -> any(matches(plate, r) for r in regions)``, made once per set of regions.

    Why: the decoder asks it of every candidate of every read, and looking up each region's
    pattern again per candidate cost more than the matching.
    """
    pats = [_COMPILED.get(country_of(r)) for r in regions]
    if any(p is None for p in pats):
        return lambda plate: True
    if not pats:
        return lambda plate: False
    either = re.compile("|".join(f"(?:{p.pattern})" for p in pats if p is not None))
    return lambda plate: either.match(plate.upper()) is not None


def templates(region: str) -> tuple[str, ...]:
    """The region's plate templates (``L`` letter, ``N`` digit, ``X`` either); () if unknown."""
    return PATTERNS.get(country_of(region), ())


def has_patterns(region: str) -> bool:
    """Whether re-ranking can use templates for this region."""
    return country_of(region) in _COMPILED
