"""The plate-layout record and its shared colours and fonts.

Why a module of its own: the world layouts (``synth_layouts.py``) and the European ones
(``synth_layouts_eu.py``) both build ``Layout`` records, and the renderer reads them; keeping the
record here lets each of those import it without importing one another.

Format strings use ``L`` (letter), ``N`` (digit), ``X`` (either); any other letter or digit is
printed as it is and belongs to the plate text (the ``06`` of a German dealer plate).  A fixed
code made of those three letters (Liechtenstein's ``FL``) is a ``prefixes`` entry instead.  Everything
else is drawn but never read: a space is a gap, ``-`` a hyphen, ``.`` a small dot, ``*`` the
layout's emblem or seal, and ``|`` splits the two rows of a two-row format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Rgb = tuple[int, int, int]

WHITE, BLACK, YELLOW = (240, 240, 236), (20, 20, 24), (245, 200, 30)
EU_BLUE, NAVY, RED = (20, 60, 160), (20, 30, 90), (170, 30, 30)
GREEN = (20, 110, 50)
STAR_YELLOW = (250, 215, 30)

# DIN-like and condensed grotesques: the families European plate fonts (FE-Schrift, DIN 1451,
# Charles Wright, the Austrian and Swiss alphabets) resemble among the bundled fonts.
EU_FONTS: tuple[str, ...] = (
    "OSP-DIN.ttf",
    "dinish/DINishCondensed-Medium.ttf",
    "dinish/DINish-Medium.ttf",
    "BarlowSemiCondensed-Medium.ttf",
    "roboto_condensed/RobotoCondensed-Medium.ttf",
    "Barlow-Medium.ttf",
)
# The letters that read the same in Latin and Cyrillic (or Greek) script: the only ones the
# plates of Ukraine, Belarus, Bulgaria, Bosnia and Greece use.
CYRILLIC_SAFE = "ABCEHIKMOPTXY"
GREEK_SAFE = "ABEHIKMNOPTXYZ"
BOSNIAN = "AEJKMOT"


def without(excluded: str) -> str:
    """A-Z less the letters a country never issues."""
    return "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in excluded)


# The letters issued where a country leaves some out (mostly those that pass for a digit, I O Q,
# and vowels, which would spell words).  Drawing a letter no real plate carries teaches the reader
# an ambiguity (a Spanish O beside a 0) that real plates of that country do not have.
ES_LETTERS = without("AEIOUQ")  # no vowels, no Q (nor Ñ)
IT_LETTERS = without("IOQU")
FR_LETTERS = without("IOU")
GB_LETTERS = without("IQ")
NL_LETTERS = without("AEIOUYCQMW")  # no vowels or Y, no C or Q; M (motorcycles) and W (trailers) not on cars
SE_LETTERS = without("IQV")  # nor Å Ä Ö
CZ_LETTERS = without("GOQW")
MX_LETTERS = without("IOQ")
IN_LETTERS = without("IO")  # the series letters after the district number


@dataclass(frozen=True)
class Layout:
    """One plate family: its formats, shape, colours and the decorations that are never read."""

    region: str  # label the reader learns (country, or us-<state>)
    formats: tuple[str, ...]
    aspect: float  # width / height of a one-row plate
    bgs: tuple[Rgb, ...] = (WHITE,)
    fgs: tuple[Rgb, ...] = (BLACK,)
    band: str = ""  # letters on the blue band at the left ("" = no band)
    right_band: bool = False  # Italy's second blue band
    header: tuple[str, ...] = ()  # small text above the characters (state, county)
    two_line: float = 0.0  # probability of a two-row (square, motorcycle) variant
    fonts: tuple[str, ...] = ()  # preferred fonts (() = any)
    extra: dict[str, str] = field(default_factory=dict)
    name: str = ""  # unique layout name ("" = the region); see ``layout_name``
    rows2: tuple[str, ...] = ()  # two-row formats "TOP|BOTTOM" (() = split the one-row format)
    emblem: str = ""  # what a ``*`` draws: seal, shield, checker, canton, flag, eagle, map
    letters: str = ""  # the letters the country issues ("" = A-Z)
    band_stars: bool = True  # the EU circle of stars on the band (False: a national band)
    band_flag: tuple[Rgb, ...] = ()  # flag stripes on the band instead of the stars
    border: Rgb | None = None  # a coloured rim (Denmark red, Slovenia green)
    stripes: Rgb | None = None  # bars along the top and bottom edge (Austria red)
    footer: tuple[str, ...] = ()  # slogans under the characters (US states)
    us: bool = False  # US dressing: frames, registration stickers, stacked small letters
    group: str = ""  # mix group of ``random_layout`` ("" = the region's own rule)
    prefixes: tuple[str, ...] = ()  # real district / canton / province codes for the first group
    prefix_share: float = 0.8  # the share of plates that show one of ``prefixes`` (the rest: random)


def layout_name(lay: Layout) -> str:
    """The name a layout is reported under (benchmarks, docs): its own, else its region."""
    return lay.name or lay.region


def eu(region: str, band: str, formats: tuple[str, ...], aspect: float = 4.7, **kw: object) -> Layout:
    """A plate with the EU band at the left and the European proportions (520 x 110 mm)."""
    kw.setdefault("fonts", EU_FONTS)
    return Layout(region=region, formats=formats, aspect=aspect, band=band, **kw)  # type: ignore[arg-type]
