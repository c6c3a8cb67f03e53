"""Plate layouts for the synthetic generator: formats, sizes, colours and bands per region.

Each layout describes one real-world plate family well enough to teach the reader its
character shapes, spacing and colours.  Formats use ``L`` (letter), ``N`` (digit), ``X``
(either) and a space or ``-`` for a visible gap that is not part of the plate text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WHITE, BLACK, YELLOW = (240, 240, 236), (20, 20, 24), (245, 200, 30)
EU_BLUE, NAVY, RED = (20, 60, 160), (20, 30, 90), (170, 30, 30)

US_STATES = {
    "al": "ALABAMA",
    "ak": "ALASKA",
    "az": "ARIZONA",
    "ar": "ARKANSAS",
    "ca": "California",
    "co": "COLORADO",
    "ct": "CONNECTICUT",
    "de": "DELAWARE",
    "dc": "DISTRICT OF COLUMBIA",
    "fl": "FLORIDA",
    "ga": "GEORGIA",
    "hi": "HAWAII",
    "id": "IDAHO",
    "il": "ILLINOIS",
    "in": "INDIANA",
    "ia": "IOWA",
    "ks": "KANSAS",
    "ky": "KENTUCKY",
    "la": "LOUISIANA",
    "me": "MAINE",
    "md": "MARYLAND",
    "ma": "MASSACHUSETTS",
    "mi": "MICHIGAN",
    "mn": "MINNESOTA",
    "ms": "MISSISSIPPI",
    "mo": "MISSOURI",
    "mt": "MONTANA",
    "ne": "NEBRASKA",
    "nv": "NEVADA",
    "nh": "NEW HAMPSHIRE",
    "nj": "NEW JERSEY",
    "nm": "NEW MEXICO",
    "ny": "NEW YORK",
    "nc": "NORTH CAROLINA",
    "nd": "NORTH DAKOTA",
    "oh": "OHIO",
    "ok": "OKLAHOMA",
    "or": "OREGON",
    "pa": "PENNSYLVANIA",
    "ri": "RHODE ISLAND",
    "sc": "SOUTH CAROLINA",
    "sd": "SOUTH DAKOTA",
    "tn": "TENNESSEE",
    "tx": "TEXAS",
    "ut": "UTAH",
    "vt": "VERMONT",
    "va": "VIRGINIA",
    "wa": "WASHINGTON",
    "wv": "WEST VIRGINIA",
    "wi": "WISCONSIN",
    "wy": "WYOMING",
}


@dataclass(frozen=True)
class Layout:
    """One plate family."""

    region: str  # label the reader learns (country, or us-<state>)
    formats: tuple[str, ...]
    aspect: float  # width / height of a one-line plate
    bgs: tuple[tuple[int, int, int], ...] = (WHITE,)
    fgs: tuple[tuple[int, int, int], ...] = (BLACK,)
    band: str = ""  # EU band letters ("" = no band)
    right_band: bool = False  # Italy's second blue band
    header: tuple[str, ...] = ()  # small text above the characters
    two_line: float = 0.0  # probability of a two-line (square) variant
    fonts: tuple[str, ...] = ()  # preferred fonts ("" = any)
    extra: dict[str, str] = field(default_factory=dict)


def _eu(region: str, band: str, formats: tuple[str, ...], **kw: Any) -> Layout:
    return Layout(region=region, formats=formats, aspect=4.7, band=band, **kw)


LAYOUTS: tuple[Layout, ...] = (
    _eu("gb", "UK", ("LLNN LLL",), bgs=(WHITE, YELLOW), two_line=0.15),
    _eu(
        "de",
        "D",
        ("LL LL NNNN", "L LL NNN", "LLL L NNNN", "LL L NN", "L LL NNNN"),
        two_line=0.1,
        fonts=("OSP-DIN.ttf",),
    ),
    _eu("fr", "F", ("LL-NNN-LL",), two_line=0.1),
    _eu("it", "I", ("LL NNN LL",), right_band=True),
    _eu("es", "E", ("NNNN LLL",), two_line=0.1),
    _eu("nl", "NL", ("NN-LLL-N", "N-LLL-NN", "LL-NNN-L", "NN-LL-NN", "L-NNN-LL", "NNN-LL-N"), bgs=(YELLOW,)),
    _eu("pl", "PL", ("LL NNNNN", "LLL NNNN", "LL NNNLL", "LLL NLNN")),
    _eu("ro", "RO", ("LL NN LLL", "L NN LLL", "L NNN LLL")),
    Layout(
        "br",
        ("LLL-NNNN",),
        aspect=3.08,
        bgs=((200, 200, 200), (190, 40, 40), WHITE),
        fgs=(BLACK, WHITE),
        header=("PR - PARANAGUA", "SP - SAO PAULO", "MG - BELO HORIZONTE", "RS - PORTO ALEGRE"),
    ),
    Layout("br", ("LLLNLNN",), aspect=3.08, header=("BRASIL",), band="BR"),
    Layout("ar", ("LLL NNN",), aspect=2.3, bgs=(BLACK,), fgs=(WHITE,), header=("ARGENTINA",)),
    Layout("ar", ("LL NNN LL",), aspect=3.08, header=("REPUBLICA ARGENTINA",), band="RA"),
    Layout("in", ("LL NN LL NNNN", "LL NN L NNNN"), aspect=4.2, bgs=(WHITE, YELLOW), two_line=0.3),
    Layout(
        "au",
        ("LLL-NNN", "NLL-NNN", "LL-NN-LL", "NNN-LLL"),
        aspect=2.75,
        fgs=(BLACK, NAVY, (20, 110, 40), RED),
        header=("NSW", "VICTORIA", "QUEENSLAND", "SOUTH AUSTRALIA", "WESTERN AUSTRALIA"),
    ),
    Layout(
        "ca",
        ("LLLL NNN", "LLL NNN", "NNN LLL"),
        aspect=2.0,
        fgs=(NAVY, BLACK, RED),
        header=("ONTARIO", "QUEBEC", "ALBERTA", "BRITISH COLUMBIA"),
    ),
    Layout(
        "mx",
        ("LLL-NNN-L", "LLL-NN-NN"),
        aspect=2.0,
        fgs=(BLACK, (120, 20, 40), NAVY),
        header=("MEXICO", "JALISCO", "CDMX", "NUEVO LEON"),
    ),
) + tuple(
    Layout(
        f"us-{code}",
        ("NLLLNNN", "LLL NNNN", "LLL NNN", "NNN LLL", "LLNNNNN", "NLL NNN", "XXXXXXX", "XXXXX"),
        aspect=2.0,
        fgs=(NAVY, BLACK, RED, (20, 90, 40)),
        bgs=(WHITE, (235, 230, 200), (220, 235, 245)),
        header=(name,),
    )
    for code, name in US_STATES.items()
)
