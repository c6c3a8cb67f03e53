"""Plate layouts for the synthetic generator: formats, sizes, colours and bands per region.

Each layout describes one real-world plate family well enough to teach the reader its
character shapes, spacing and colours, and the marks it must skip.  The format language and the
``Layout`` record live in ``synth_layout_base``; Europe's layouts in ``synth_layouts_eu``; this
module adds the rest of the world, the US states, and the mix ``synth.random_layout`` draws from.
"""

from __future__ import annotations

import numpy as np

from scripts.data.synth_layout_base import (
    BLACK,
    EU_BLUE,
    GREEN,
    IN_LETTERS,
    MX_LETTERS,
    NAVY,
    RED,
    WHITE,
    YELLOW,
    Layout,
    layout_name,
)
from scripts.data.synth_layouts_eu import EUROPE

__all__ = ["EU_BLUE", "LAYOUTS", "SHARES", "Layout", "US_STATES", "layout_name", "mix_group", "random_layout",
           "variants"]

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


# Slogans printed under the characters (a few states; the others get a generic line)
US_SLOGANS: dict[str, tuple[str, ...]] = {
    "az": ("GRAND CANYON STATE",),
    "ca": ("dmv.ca.gov", "Sunshine State"),
    "co": ("COLORFUL COLORADO",),
    "fl": ("SUNSHINE STATE", "MYFLORIDA.COM"),
    "ga": ("PEACH STATE", "IN GOD WE TRUST"),
    "id": ("FAMOUS POTATOES", "SCENIC IDAHO"),
    "il": ("LAND OF LINCOLN",),
    "mi": ("GREAT LAKES", "PURE MICHIGAN"),
    "mn": ("10,000 LAKES", "EXPLORE MINNESOTA"),
    "nc": ("FIRST IN FLIGHT", "FIRST IN FREEDOM"),
    "nh": ("LIVE FREE OR DIE",),
    "nj": ("GARDEN STATE",),
    "nm": ("LAND OF ENCHANTMENT",),
    "ny": ("EMPIRE STATE", "EXCELSIOR"),
    "oh": ("BIRTHPLACE OF AVIATION",),
    "pa": ("visitPA.com", "KEYSTONE STATE"),
    "sc": ("WHILE I BREATHE I HOPE",),
    "tx": ("THE LONE STAR STATE",),
    "va": ("VIRGINIA IS FOR LOVERS",),
    "wi": ("AMERICA'S DAIRYLAND",),
}
US_GENERIC = ("IN GOD WE TRUST", "COUNTY", "THE BEAUTIFUL", "STATE OF PRIDE")

# Indian plates open with the state's or territory's code
IN_CODES = ("AN", "AP", "AR", "AS", "BR", "CG", "CH", "DD", "DL", "GA", "GJ", "HP", "HR", "JH", "JK", "KA", "KL", "LA",
            "LD", "MH", "ML", "MN", "MP", "MZ", "NL", "OD", "PB", "PY", "RJ", "SK", "TN", "TR", "TS", "UK", "UP", "WB")

WORLD: tuple[Layout, ...] = (
    Layout(
        "br",
        ("LLL-NNNN",),
        aspect=3.08,
        bgs=((200, 200, 200), (190, 40, 40), WHITE),
        fgs=(BLACK, WHITE),
        header=("PR - PARANAGUA", "SP - SAO PAULO", "MG - BELO HORIZONTE", "RS - PORTO ALEGRE"),
        name="br-old",
    ),
    Layout("br", ("LLLNLNN",), aspect=3.08, header=("BRASIL",), band="BR", band_stars=False, name="br-mercosul"),
    Layout("ar", ("LLL NNN",), aspect=2.3, bgs=(BLACK,), fgs=(WHITE,), header=("ARGENTINA",), name="ar-old"),
    Layout("ar", ("LL NNN LL",), aspect=3.08, header=("REPUBLICA ARGENTINA",), band="RA", band_stars=False,
           name="ar-mercosur"),
    Layout("in", ("LL NN LL NNNN", "LL NN L NNNN"), aspect=4.2, bgs=(WHITE, YELLOW), two_line=0.3,
           letters=IN_LETTERS, prefixes=IN_CODES, prefix_share=1.0),
    Layout(
        "au",
        ("LLL-NNN", "NLL-NNN", "LL-NN-LL", "NNN-LLL"),
        aspect=2.75,
        fgs=(BLACK, NAVY, GREEN, RED),
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
        letters=MX_LETTERS,
    ),
)

US: tuple[Layout, ...] = tuple(
    Layout(
        f"us-{code}",
        ("NLLLNNN", "LLL NNNN", "LLL NNN", "NNN LLL", "LLNNNNN", "NLL NNN", "XXXXXXX", "XXXXX"),
        aspect=2.0,
        fgs=(NAVY, BLACK, RED, (20, 90, 40)),
        bgs=(WHITE, (235, 230, 200), (220, 235, 245)),
        header=(name,),
        footer=US_SLOGANS.get(code, US_GENERIC),
        us=True,
    )
    for code, name in US_STATES.items()
)

LAYOUTS: tuple[Layout, ...] = EUROPE + WORLD + US

# Shares of ``synth.random_layout``'s mix (besides ``us_share`` for the US states).  Brazil,
# Argentina and Spain carry the real evaluation sets, so each keeps about the share it had when
# Europe held eight layouts; Europe shares its part out per country, whatever its layout count.
SHARES: dict[str, float] = {"br": 0.13, "ar": 0.115, "es": 0.07, "world": 0.115, "europe": 0.57}


def mix_group(lay: Layout) -> str:
    """The ``SHARES`` group a layout is drawn from (US states: ``us``)."""
    if lay.us:
        return "us"
    if lay.region in SHARES:
        return lay.region
    return lay.group or "world"


def variants() -> list[tuple[str, Layout, bool]]:
    """Every renderable variant as (unique name, layout, two-row): one row for every layout, and
    a two-row one where the layout has it.  The US states are left out: 51 layouts of one family,
    which a benchmark pools (``bench_layouts.py``'s ``us-1row``)."""
    out: list[tuple[str, Layout, bool]] = []
    for lay in LAYOUTS:
        if lay.us:
            continue
        out.append((f"{layout_name(lay)}-1row", lay, False))
        if lay.two_line > 0:
            out.append((f"{layout_name(lay)}-2row", lay, True))
    return out


def random_layout(rng: np.random.Generator, us_share: float = 0.3) -> Layout:
    """Pick a layout: ``us_share`` of US states (many layouts, one family), the rest by the
    groups of ``synth_layouts.SHARES``; Europe by country first, so a country with several
    layouts (Germany's dealer plates) is not drawn more often than one with a single layout."""
    if rng.random() < us_share:
        return _US[rng.integers(len(_US))]
    names = list(SHARES)
    p = np.array([SHARES[g] for g in names])
    group = names[rng.choice(len(names), p=p / p.sum())]
    if group == "europe":
        countries = _GROUPS["europe"]
        country = list(countries)[rng.integers(len(countries))]
        pool = countries[country]
    else:
        pool = [lay for lays in _GROUPS[group].values() for lay in lays]
    return pool[rng.integers(len(pool))]


def _groups() -> dict[str, dict[str, list[Layout]]]:
    """Layouts by mix group, then by region."""
    out: dict[str, dict[str, list[Layout]]] = {}
    for lay in LAYOUTS:
        out.setdefault(mix_group(lay), {}).setdefault(lay.region, []).append(lay)
    return out


_GROUPS = _groups()
_US = [lay for lays in _GROUPS["us"].values() for lay in lays]
