"""European plate layouts: the current formats of the EU/EEA, the UK, Switzerland, the Balkans,
Ukraine, Moldova, Belarus and Turkey.

Why so much detail: readers trained on plain character strings misread the seals and coats of
arms that many countries print between character groups (a German registration seal read as
``O``, a Croatian shield as ``H``) and drop a real character to keep the length.  Every layout
here draws those emblems (``*`` in a format) where the real plate has them, and none of them is
ever in the text.  Format strings are described in ``synth_layout_base``.
"""

from __future__ import annotations

from dataclasses import replace

from scripts.data.synth_layout_base import (
    BLACK,
    BOSNIAN,
    CYRILLIC_SAFE,
    CZ_LETTERS,
    ES_LETTERS,
    EU_FONTS,
    FR_LETTERS,
    GB_LETTERS,
    GREEK_SAFE,
    GREEN,
    IT_LETTERS,
    NL_LETTERS,
    RED,
    SE_LETTERS,
    WHITE,
    YELLOW,
    Layout,
    eu,
)

BURGUNDY = (140, 20, 35)
UA_FLAG = ((0, 90, 180), (250, 215, 0))
MD_FLAG = ((0, 60, 160), (250, 210, 0), (200, 20, 40))
BY_FLAG = ((200, 30, 40), (200, 30, 40), (0, 140, 60))
NO_FLAG = ((190, 20, 40), (250, 250, 250), (0, 40, 110))
# district, canton and province codes (the first group of the plate)
DE_CODES = ("B", "M", "K", "F", "S", "D", "H", "E", "N", "L", "HH", "HB", "DO", "DD", "BN", "KA", "MA", "DU", "GE",
            "BO", "WI", "MZ", "KI", "HL", "OS", "AC", "BI", "MS", "RE", "LEV", "BAD", "GOE", "HGW", "NOH", "WES")
AT_CODES = ("W", "L", "G", "S", "K", "I", "B", "WU", "GU", "LL", "LA", "BN", "SZ", "KO", "MD", "BL", "VB", "FF",
            "GM", "KB", "KU", "LE", "SL", "VL", "ZE", "HL", "PE", "ME", "WN", "UU", "SP", "FK", "HA", "IL")
CH_CODES = ("AG", "AI", "AR", "BE", "BL", "BS", "FR", "GE", "GL", "GR", "JU", "LU", "NE", "NW", "OW", "SG", "SH",
            "SO", "SZ", "TG", "TI", "UR", "VD", "VS", "ZG", "ZH")
HR_CODES = ("ZG", "ST", "RI", "OS", "DU", "ZD", "PU", "SB", "KA", "VZ", "SK", "BJ", "KC", "VU", "PZ", "NG", "MA",
            "SI", "KR", "GS", "VK", "DA", "CK", "PS")
SK_CODES = ("BA", "BL", "KE", "KI", "NR", "TT", "TN", "ZA", "BB", "PO", "PP", "LM", "MT", "TO", "PD", "SC", "NZ",
            "KN", "MI", "TV", "BJ", "SN")
SI_CODES = ("LJ", "MB", "CE", "KR", "KP", "NM", "GO", "MS", "PO", "SG", "KK")
RS_CODES = ("BG", "NS", "NI", "KG", "SU", "ZR", "SA", "CA", "PA", "SM", "VA", "UE", "KV", "PO", "LE", "SO", "VR",
            "PI", "SD", "KS")
ME_CODES = ("PG", "NK", "BD", "BR", "BA", "HN", "KO", "PV", "PL", "UL", "TV", "CT", "DG")
MK_CODES = ("SK", "BT", "KU", "OH", "TE", "ST", "GV", "KO", "VE", "KA", "SR", "DE", "PP", "RE")
TR_CODES = tuple(f"{i:02d}" for i in range(1, 82))
XK_CODES = tuple(f"{i:02d}" for i in range(1, 8))
# Czech plates open with a digit 1-9 and the region's letter, then a digit or (in the regions that
# ran out of numbers) a second letter; Belgian plates with 1 or 2 (the series so far); Irish plates
# with the year (and half-year since 2013).
CZ_REGIONS = "ABCEHJKLMPSTUZ"
CZ_CODES = tuple(f"{d}{r}{x}" for d in range(1, 10) for r in CZ_REGIONS for x in "0123456789") + tuple(
    f"{d}{r}{x}" for d in range(1, 10) for r in "ABSTU" for x in CZ_LETTERS)
BE_CODES = ("1", "2")
IE_CODES = tuple(f"{y:02d}{h}" for y in range(13, 27) for h in (1, 2)) + tuple(
    f"{y % 100:02d}" for y in range(1987, 2013))
ANY = ()  # any bundled font: the countries the old layouts drew with every font

EUROPE: tuple[Layout, ...] = (
    # the layouts the generator had before, with their emblems and two-row forms added
    eu("gb", "UK", ("LLNN LLL",), bgs=(WHITE, YELLOW), two_line=0.15, rows2=("LLNN|LLL",), fonts=ANY,
       letters=GB_LETTERS),
    eu("de", "D", ("LL*LL NNNN", "L*LL NNN", "LLL*L NNNN", "LL*L NN", "L*LL NNNN", "LL*LL NNNE", "L*L NNNH"),
       prefixes=DE_CODES, two_line=0.1, rows2=("LL*|LL NNN", "L*|LL NNNN", "LLL*|L NNN"), emblem="seal",
       fonts=("OSP-DIN.ttf", "dinish/DINishCondensed-Medium.ttf")),
    eu("de", "D", ("LL*06NNN", "L*06NNN", "LLL*06NN"), prefixes=DE_CODES, fgs=(RED,), emblem="seal", name="de-dealer",
       fonts=("OSP-DIN.ttf", "dinish/DINishCondensed-Medium.ttf")),
    eu("fr", "F", ("LL-NNN-LL",), two_line=0.1, rows2=("LL-NNN|LL",), fonts=ANY, letters=FR_LETTERS),
    eu("it", "I", ("LL NNN LL",), right_band=True, two_line=0.1, rows2=("LL|NNNNN",), fonts=ANY, letters=IT_LETTERS),
    eu("it", "I", ("LN NNNNN", "LN NNNNL"), header=("PROVA",), fgs=(BLACK,), name="it-prova", letters=IT_LETTERS),
    eu("es", "E", ("NNNN LLL",), two_line=0.1, rows2=("NNNN|LLL",), fonts=ANY, letters=ES_LETTERS),
    eu("nl", "NL", ("NN-LLL-N", "N-LLL-NN", "LL-NNN-L", "NN-LL-NN", "L-NNN-LL", "NNN-LL-N"), bgs=(YELLOW,),
       fonts=ANY, letters=NL_LETTERS),
    eu("nl", "NL", ("NN-LL-NN", "LL-NN-LL"), bgs=(GREEN,), fgs=(WHITE,), name="nl-dealer", band_stars=False,
       letters=NL_LETTERS),
    eu("pl", "PL", ("LL NNNNN", "LLL NNNN", "LL NNNLL", "LLL NLNN"), two_line=0.1, rows2=("LL|NNNNN", "LLL|NNNN"),
       fonts=ANY),
    eu("ro", "RO", ("LL NN LLL", "L NN LLL", "L NNN LLL"), fonts=ANY),
    # EU and EEA
    eu("at", "A", ("LL*NNN LL", "L*NNNN LL", "LL*NN LLL", "L*NNNNN L"), prefixes=AT_CODES, stripes=RED, emblem="shield",
       two_line=0.15, rows2=("LL*|NNN LL", "L*|NNNN L")),
    eu("be", "B", ("N-LLL-NNN",), fgs=(BURGUNDY,), two_line=0.1, rows2=("N-LLL|NNN",), prefixes=BE_CODES,
       prefix_share=1.0),
    eu("bg", "BG", ("LL NNNN LL", "L NNNN LL"), letters=CYRILLIC_SAFE),
    eu("cy", "CY", ("LLL NNN",), bgs=(WHITE, YELLOW)),
    eu("cz", "CZ", ("NLN NNNN", "NLL NNNN"), two_line=0.15, rows2=("NLN|NNNN",), letters=CZ_LETTERS,
       prefixes=CZ_CODES, prefix_share=1.0),
    eu("dk", "DK", ("LL NN NNN",), border=RED),
    eu("ee", "EST", ("NNN LLL",)),
    eu("fi", "FIN", ("LLL-NNN", "LL-NNN", "LLL-NN"), two_line=0.1, rows2=("LLL|NNN",)),
    eu("gr", "GR", ("LLL-NNNN",), letters=GREEK_SAFE),
    eu("hr", "HR", ("LL*NNN-LL", "LL*NNNN-LL", "LL*NNN-L", "LL*NNNN-L"), prefixes=HR_CODES, emblem="checker",
       two_line=0.1, rows2=("LL*|NNN-LL",)),
    eu("hu", "H", ("LL*LL-NNN", "LLL-NNN"), emblem="shield"),
    eu("ie", "IRL", ("NNN-L-NNNNN", "NNN-LL-NNNN", "NN-L-NNNN", "NNN-L-NNN"),
       header=("BAILE ATHA CLIATH", "CORCAIGH", "GAILLIMH", "LUIMNEACH", "CILL DARA"), prefixes=IE_CODES,
       prefix_share=1.0),
    eu("is", "IS", ("LL*NNN", "LL*LNN"), emblem="flag", aspect=4.3),
    eu("lt", "LT", ("LLL NNN",)),
    eu("lu", "L", ("LL NNNN", "L NNNN", "NNNNN"), bgs=(YELLOW,)),
    eu("lv", "LV", ("LL-NNNN", "LL-NNN")),
    eu("mt", "M", ("LLL NNN",)),
    eu("no", "N", ("LL NNNNN",), band_stars=False, band_flag=NO_FLAG, two_line=0.15, rows2=("LL|NNNNN",)),
    eu("pt", "P", ("LL-NN-LL", "NN-LL-NN", "NN-NN-LL", "LL-NN-NN")),
    eu("se", "S", ("LLL NNN", "LLL NNL"), two_line=0.1, rows2=("LLL|NNN",), letters=SE_LETTERS),
    eu("si", "SLO", ("LL*LL-NNN", "LL*NN-LLL", "LL*L-NNNN"), prefixes=SI_CODES, emblem="shield", border=GREEN,
       two_line=0.1, rows2=("LL*|LL-NNN",)),
    eu("sk", "SK", ("LL*NNNLL", "LL*NNN LL"), prefixes=SK_CODES, emblem="shield", two_line=0.1, rows2=("LL*|NNNLL",)),
    # outside the EU
    Layout("ch", ("*LL.NNNNNN*", "*LL.NNNNN*", "*LL.NNNN*", "*LL.NNN*"), prefixes=CH_CODES, aspect=3.75,
           emblem="canton", fonts=EU_FONTS, two_line=0.2, rows2=("*LL*|NNNNN", "*LL*|NNNN"), name="ch-rear"),
    Layout("ch", ("LL NNNNNN", "LL NNNNN", "LL NNNN"), prefixes=CH_CODES, aspect=4.5, fonts=EU_FONTS, name="ch-front"),
    Layout("li", ("LL*NNNNN", "LL*NNNN"), prefixes=("FL",), prefix_share=1.0, aspect=3.75, bgs=(BLACK,),
           fgs=(WHITE,), emblem="shield", fonts=EU_FONTS),
    eu("al", "AL", ("LL NNN LL",), band_stars=False, band_flag=((200, 20, 30),)),
    eu("ba", "BIH", ("LNN-L-NNN",), band_stars=False, letters=BOSNIAN),
    eu("me", "MNE", ("LL*LLNNN", "LL*LNNN"), prefixes=ME_CODES, band_stars=False, emblem="eagle"),
    eu("mk", "NMK", ("LL NNNN-LL", "LL NNN-LL"), prefixes=MK_CODES, band_stars=False),
    eu("rs", "SRB", ("LL*NNN-LL", "LL*NNNN-LL"), prefixes=RS_CODES, band_stars=False, emblem="eagle", two_line=0.1,
       rows2=("LL*|NNN-LL",)),
    eu("xk", "RKS", ("NN*NNN-LL",), prefixes=XK_CODES, band_stars=False, emblem="map"),
    eu("ua", "UA", ("LL NNNN LL",), band_stars=False, band_flag=UA_FLAG, letters=CYRILLIC_SAFE),
    eu("md", "MD", ("LLL NNN",), band_stars=False, band_flag=MD_FLAG),
    eu("by", "BY", ("NNNN LL-N",), band_stars=False, band_flag=BY_FLAG, letters=CYRILLIC_SAFE),
    eu("tr", "TR", ("NN L NNNN", "NN LL NNN", "NN LL NNNN", "NN LLL NN", "NN LLL NNN"), prefixes=TR_CODES,
       band_stars=False, two_line=0.1, rows2=("NN|LL NNN", "NN|L NNNN")),
)
# one mix group: random_layout shares Europe out per country (Spain keeps its own share)
EUROPE = tuple(replace(lay, group="europe") for lay in EUROPE)
