"""Did-you-mean hints for a region code that is not on the reference's list.

Why: the codes are ISO 3166 (the United Kingdom is ``gb``, not ``uk``), and an error that lists
~200 codes leaves the user to find the one they meant: the error names the likely code, or a few
near ones, and ``edge-alpr regions`` (the list) instead of the list itself.  Only an unknown code gets a hint; every
code the reference lists is accepted as before (``regions.validate_regions``).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

# common names for a listed country that are not its code: (the code, why)
ALIASES: dict[str, tuple[str, str]] = {
    **{name: ("gb", "the United Kingdom's code is gb, as in ISO 3166")
       for name in ("uk", "gbr", "england", "scotland", "wales", "britain", "great-britain")},
    "usa": ("us", "the United States' code is us; a state is us-<state>, e.g. us-ca"),
    "deu": ("de", "Germany's code is de"),
    "ger": ("de", "Germany's code is de"),
    "el": ("gr", "Greece's code is gr; el is the EU's"),
    "kos": ("xk", "Kosovo's code is xk"),
    "ks": ("xk", "Kosovo's code is xk"),
}


def hint(code: str, known: Collection[str]) -> str:
    """`` (did you mean ...?)`` for an unknown normalised ``code``, or "" without a good guess:
    an alias, a state given without its country (``tx``: ``us-tx``), a close spelling
    (``us-cal``: ``us-ca``), or a known country with an unknown subdivision (``gb-eng``: ``gb``)."""
    if code in ALIASES:
        target, why = ALIASES[code]
        return f" (did you mean {target!r}? {why})"
    guesses = sorted(k for k in known if k.endswith(f"-{code}"))
    if not guesses and len(code) > 2:  # two letters are one typo from dozens of codes
        guesses = difflib.get_close_matches(code, list(known), n=2, cutoff=0.75)
    country = code.split("-", 1)[0]
    if not guesses and "-" in code and country in known:
        guesses = [country]
    if not guesses:
        return ""
    return f" (did you mean {' or '.join(repr(g) for g in guesses)}?)"


NEAREST = 5  # codes named for an unknown code without a hint: a handful, not the list


def unknown(raw: str, code: str, known: Collection[str]) -> str:
    """The error for ``raw`` (normalised: ``code``), not one of ``known``: the hint where one
    fits, else up to ``NEAREST`` codes close in spelling, and where to see them all."""
    found = hint(code, known)
    near = [] if found else difflib.get_close_matches(code, sorted(known), n=NEAREST, cutoff=0.5)
    said = (found if found else f" (near it: {', '.join(near)})" if near
            else " (codes are ISO 3166 countries, e.g. gb or fr, and some states, e.g. us-ca)")
    return f"unknown region {raw!r}{said}; the {len(known)} valid codes: edge-alpr regions"
