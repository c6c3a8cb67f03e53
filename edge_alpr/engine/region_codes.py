"""Region codes of the Plate Recognizer country list, and checking a request's codes against it.

The codes are the reference's (``../shared/reference/plate-recognizer-api.md``); ``us`` and
``au`` are accepted as countries too because the reference lists them only through their states,
and ``xk`` (Kosovo, its ISO user-assigned code) because the reference has no code for a country
whose plates the reader learns.  Why a module of its own: the list is long data that the config,
the CLI and the API check codes against, apart from the plate patterns (``regions.py``) that
guide reading.
"""

from __future__ import annotations

import textwrap

from ..errors import InputError
from .region_hints import unknown

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


def normalise(code: str) -> str:
    """Lower-case and accept the reference's one ``br_sc`` spelling as ``br-sc``."""
    return code.strip().lower().replace("_", "-")


def validate_regions(codes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Return the normalised codes, or raise an ``InputError`` with a did-you-mean hint where one
    fits, or the nearest codes, and where the list is (``region_hints.py``)."""
    out = []
    for raw in codes:
        code = normalise(raw)
        if code not in ALL_REGIONS:
            raise InputError(unknown(raw, code, ALL_REGIONS))
        out.append(code)
    return tuple(out)


def country_of(code: str) -> str:
    """``us-ca`` -> ``us``; a country code stays as it is."""
    return code.split("-", 1)[0]


def listing(width: int = 78) -> str:
    """Every valid code, for ``edge-alpr regions``: the countries, then each country's states,
    wrapped to ``width`` columns."""
    lines = [f"countries ({len(COUNTRIES)}): " + " ".join(sorted(COUNTRIES))]
    for country in sorted({country_of(state) for state in STATES}):
        states = sorted(state for state in STATES if country_of(state) == country)
        lines.append(f"{country} states ({len(states)}): " + " ".join(states))
    return "\n".join(textwrap.fill(line, width, subsequent_indent="  ", break_on_hyphens=False) for line in lines)
