"""Did-you-mean hints for a region code that is not on the reference's list.

Why: the codes are ISO 3166 (the United Kingdom is ``gb``, not ``uk``), and an error that lists
~200 codes leaves the user to find the one they meant: the error names the likely code (an ISO 3166
three-letter code by its table, ``ALPHA3``), or a few near ones, and where the list is (``GET
/info/``, ``edge-alpr regions``) instead of the list itself.  Only an unknown code gets a hint; every
code the reference lists is accepted as before (``regions.validate_regions``).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

from ..names import shown

# common names for a listed country that are not its code: (the code, why)
ALIASES: dict[str, tuple[str, str]] = {
    **{name: ("gb", "the United Kingdom's code is gb, as in ISO 3166")
       for name in ("uk", "gbr", "england", "scotland", "wales", "britain", "great-britain",
                    "eng", "sct", "wls", "nir", "gb-eng", "gb-sct", "gb-wls", "gb-nir")},
    "gbz": ("gi", "Gibraltar's code is gi (GBZ is its plates' oval sign)"),
    "usa": ("us", "the United States' code is us; a state is us-<state>, e.g. us-ca"),
    "deu": ("de", "Germany's code is de"),
    "ger": ("de", "Germany's code is de"),
    "el": ("gr", "Greece's code is gr; el is the EU's"),
    "kos": ("xk", "Kosovo's code is xk"),
    "ks": ("xk", "Kosovo's code is xk"),
}

# ISO 3166's three-letter code of each listed country (Kosovo's: the user-assigned XKX) -> its
# code here.  Why: a fuzzy match of a three-letter code guesses another country (IRL is one
# letter from il, Israel; UKR from kr, Korea; EST from es, Spain), so these are named exactly.
ALPHA3: dict[str, str] = {
    "ago": "ao", "alb": "al", "and": "ad", "are": "ae", "arg": "ar", "arm": "am", "aus": "au",
    "aut": "at", "aze": "az", "bel": "be", "bgr": "bg", "bih": "ba", "blr": "by", "blz": "bz",
    "bol": "bo", "bra": "br", "brn": "bn", "can": "ca", "che": "ch", "chl": "cl", "col": "co",
    "cri": "cr", "cyp": "cy", "cze": "cz", "deu": "de", "dnk": "dk", "ecu": "ec", "esp": "es",
    "est": "ee", "fin": "fi", "fra": "fr", "gbr": "gb", "geo": "ge", "gib": "gi", "glp": "gp",
    "grc": "gr", "guf": "gf", "guy": "gy", "hnd": "hn", "hrv": "hr", "hun": "hu", "idn": "id",
    "ind": "in", "irl": "ie", "isl": "is", "isr": "il", "ita": "it", "jor": "jo", "kaz": "kz",
    "ken": "ke", "kor": "kr", "lbn": "lb", "lie": "li", "ltu": "lt", "lux": "lu", "lva": "lv",
    "mco": "mc", "mda": "md", "mdv": "mv", "mex": "mx", "mkd": "mk", "mlt": "mt", "mne": "me",
    "mys": "my", "nga": "ng", "nic": "ni", "nld": "nl", "nor": "no", "npl": "np", "nzl": "nz",
    "pan": "pa", "per": "pe", "phl": "ph", "pol": "pl", "prt": "pt", "pry": "py", "qat": "qa",
    "rou": "ro", "rus": "ru", "sgp": "sg", "slv": "sv", "smr": "sm", "srb": "rs", "sur": "sr",
    "svk": "sk", "svn": "si", "swe": "se", "tur": "tr", "tza": "tz", "ukr": "ua", "ury": "uy",
    "usa": "us", "uzb": "uz", "vat": "va", "ven": "ve", "vnm": "vn", "xkx": "xk", "zaf": "za",
    "zmb": "zm",
}


def hint(code: str, known: Collection[str]) -> str:
    """`` (did you mean ...?)`` for an unknown normalised ``code``, or "" without a good guess:
    an alias, a state given without its country (``tx``: ``us-tx``), a close spelling
    (``us-cal``: ``us-ca``), or a known country with an unknown subdivision (``gb-eng``: ``gb``)."""
    if code in ALIASES:
        target, why = ALIASES[code]
        return f" (did you mean {target!r}? {why})"
    if code in ALPHA3:
        return (f" (did you mean {ALPHA3[code]!r}? {code.upper()} is ISO 3166's three-letter code; "
                "regions are its two-letter ones)")
    guesses = sorted(k for k in known if k.endswith(f"-{code}"))
    if not guesses and _alpha3(code):  # another country's ISO code: a near spelling is another country
        return ""
    if not guesses and len(code) > 2:  # two letters are one typo from dozens of codes
        guesses = difflib.get_close_matches(code, list(known), n=2, cutoff=0.75)
    country = code.split("-", 1)[0]
    if not guesses and "-" in code and country in known:
        guesses = [country]
    if not guesses:
        return ""
    return f" (did you mean {' or '.join(repr(g) for g in guesses)}?)"


NEAREST = 5  # codes named for an unknown code without a hint: a handful, not the list
# where the list is: the API's (remote clients) and the CLI's (on the device)
WHERE = "GET /info/ lists them (regions), as does edge-alpr regions"


def unknown(raw: str, code: str, known: Collection[str]) -> str:
    """The error for ``raw`` (normalised: ``code``), not one of ``known``: the hint where one
    fits, else, for a code of 3 or more characters, up to ``NEAREST`` codes close in spelling
    (two letters are one typo from dozens of codes: the near ones would be noise), and where to
    see them all (``WHERE``: a remote client cannot run the CLI)."""
    found = hint(code, known)
    near = ([] if found or len(code) < 3 or _alpha3(code)
            else difflib.get_close_matches(code, sorted(known), n=NEAREST, cutoff=0.5))
    said = (found if found else f" (near it: {', '.join(near)})" if near
            else f" ({code.upper()} is no listed country's ISO 3166 three-letter code; regions are two-letter codes)"
            if _alpha3(code)
            else " (codes are ISO 3166 countries, e.g. gb or fr, and some states, e.g. us-ca)")
    return f"unknown region {shown(raw)}{said}; the {len(known)} valid codes: {WHERE}"


def _alpha3(code: str) -> bool:
    """Whether ``code`` has the shape of an ISO 3166 three-letter country code (CHN, SAU): one
    not in ``ALPHA3`` is a country with no region here, and a near spelling (hn, au) would name
    another country."""
    return len(code) == 3 and code.isascii() and code.isalpha()
