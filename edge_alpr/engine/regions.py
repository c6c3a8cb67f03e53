"""Region codes of the Plate Recognizer country list, and plate patterns per region.

The codes are the reference's (``../shared/reference/plate-recognizer-api.md``); ``us`` and
``au`` are accepted as countries too because the reference lists them only through their states,
and ``xk`` (Kosovo, its ISO user-assigned code) because the reference has no code for a country
whose plates the reader learns.
The patterns guide reading (``regions=`` re-ranks candidates); they never force a reading.
"""

from __future__ import annotations

import re

from ..errors import InputError
from .region_hints import hint

COUNTRIES: tuple[str, ...] = (
    "al",
    "ad",
    "ao",
    "ar",
    "am",
    "at",
    "az",
    "by",
    "be",
    "bz",
    "bo",
    "ba",
    "br",
    "bn",
    "bg",
    "ca",
    "cl",
    "co",
    "cr",
    "hr",
    "cy",
    "cz",
    "dk",
    "ec",
    "sv",
    "ee",
    "fi",
    "fr",
    "gf",
    "ge",
    "de",
    "gi",
    "gr",
    "gp",
    "gy",
    "va",
    "hn",
    "hu",
    "is",
    "il",
    "in",
    "id",
    "ie",
    "it",
    "jo",
    "kz",
    "ke",
    "kr",
    "lv",
    "lb",
    "li",
    "lt",
    "lu",
    "my",
    "mv",
    "mt",
    "mx",
    "md",
    "mc",
    "me",
    "np",
    "nl",
    "nz",
    "ni",
    "ng",
    "mk",
    "no",
    "pa",
    "py",
    "pe",
    "ph",
    "pl",
    "pt",
    "qa",
    "ro",
    "ru",
    "sm",
    "rs",
    "sg",
    "sk",
    "si",
    "za",
    "es",
    "sr",
    "se",
    "ch",
    "tz",
    "tr",
    "ua",
    "ae",
    "gb",
    "uy",
    "uz",
    "ve",
    "vn",
    "zm",
    "us",
    "au",
    "xk",
)

STATES: tuple[str, ...] = (
    "us-al",
    "us-ak",
    "us-az",
    "us-ar",
    "us-ca",
    "us-co",
    "us-ct",
    "us-de",
    "us-dc",
    "us-fl",
    "us-ga",
    "us-hi",
    "us-id",
    "us-il",
    "us-in",
    "us-ia",
    "us-ks",
    "us-ky",
    "us-la",
    "us-me",
    "us-md",
    "us-ma",
    "us-mi",
    "us-mn",
    "us-ms",
    "us-mo",
    "us-mt",
    "us-ne",
    "us-nv",
    "us-nh",
    "us-nj",
    "us-nm",
    "us-ny",
    "us-nc",
    "us-nd",
    "us-oh",
    "us-ok",
    "us-or",
    "us-pa",
    "us-ri",
    "us-sc",
    "us-sd",
    "us-tn",
    "us-tx",
    "us-ut",
    "us-vt",
    "us-va",
    "us-wa",
    "us-wv",
    "us-wi",
    "us-wy",
    "au-nsw",
    "au-qld",
    "au-sa",
    "au-tas",
    "au-vic",
    "au-wa",
    "br-ac",
    "br-al",
    "br-ap",
    "br-am",
    "br-ba",
    "br-ce",
    "br-df",
    "br-es",
    "br-go",
    "br-mg",
    "br-ma",
    "br-ms",
    "br-mt",
    "br-pe",
    "br-pa",
    "br-pb",
    "br-pr",
    "br-pi",
    "br-rj",
    "br-rn",
    "br-rs",
    "br-ro",
    "br-rr",
    "br-sp",
    "br-se",
    "br-sc",
    "br-to",
)

ALL_REGIONS: frozenset[str] = frozenset(COUNTRIES + STATES)

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


def normalise(code: str) -> str:
    """Lower-case and accept the reference's one ``br_sc`` spelling as ``br-sc``."""
    return code.strip().lower().replace("_", "-")


def validate_regions(codes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Return the normalised codes, or raise an ``InputError`` listing the valid ones (with a
    did-you-mean hint where one fits: ``region_hints.py``)."""
    out = []
    for raw in codes:
        code = normalise(raw)
        if code not in ALL_REGIONS:
            raise InputError(f"unknown region {raw!r}{hint(code, ALL_REGIONS)}; valid region codes are: "
                             f"{', '.join(sorted(ALL_REGIONS))}")
        out.append(code)
    return tuple(out)


def country_of(code: str) -> str:
    """``us-ca`` -> ``us``; a country code stays as it is."""
    return code.split("-", 1)[0]


def _compile(templates: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for all of a country's templates (the decoder re-ranks with it on every read)."""
    return re.compile("(?:" + "|".join("".join(_SYMBOL[c] for c in t) for t in templates) + ")$")


# a country without templates has no pattern: it matches every plate, and gives no prior
_COMPILED: dict[str, re.Pattern[str]] = {k: _compile(v) for k, v in PATTERNS.items() if v}


def matches(plate: str, region: str) -> bool:
    """True when ``plate`` fits one of the region's templates (unknown templates: always)."""
    pat = _COMPILED.get(country_of(region))
    return pat is None or pat.match(plate.upper()) is not None


def templates(region: str) -> tuple[str, ...]:
    """The region's plate templates (``L`` letter, ``N`` digit, ``X`` either); () if unknown."""
    return PATTERNS.get(country_of(region), ())


def has_patterns(region: str) -> bool:
    """Whether re-ranking can use templates for this region."""
    return country_of(region) in _COMPILED
