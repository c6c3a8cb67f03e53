"""The plate renderer's layouts (``scripts/synth*.py``) against the region templates.

Why these checks: the reader learns exactly what the renderer labels.  A seal, a band's country
letters or a hyphen that slipped into the text would teach it to read them; a layout whose text
fits none of its region's templates would make a region hint push real plates away from the
right reading.  The fonts are the fixture set's copy (tests/data/fonts: the seven common plate
fonts, SIL OFL 1.1); a layout whose preferred fonts live only in the full data's font folders
falls back to them, as the renderer does with any smaller copy of the fonts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from data_paths import FIXTURE

from edge_alpr.engine import regions
from scripts.data import synth
from scripts.data.synth_layouts import LAYOUTS, SHARES, layout_name, mix_group, variants


@pytest.fixture(autouse=True)
def fixture_fonts() -> Iterator[None]:
    before = synth.FONT_DIR
    synth.set_font_dir(FIXTURE / "fonts")
    yield
    synth.set_font_dir(before)


PER_VARIANT = 12
PLATE_TEXT = re.compile(r"[A-Z0-9]{2,10}")


def test_every_variant_renders_plain_text_that_fits_its_region_templates() -> None:
    rng = np.random.default_rng(11)
    for name, lay, two in variants():
        assert regions.has_patterns(lay.region), f"{name}: region {lay.region} has no templates"
        assert regions.validate_regions([lay.region]) == (lay.region,)
        for _ in range(PER_VARIANT):
            img, text = synth.render(lay, rng, two=two)
            assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
            assert PLATE_TEXT.fullmatch(text), f"{name}: {text!r} is not upper-case A-Z0-9"
            assert regions.matches(text, lay.region), f"{name}: {text} fits no template of {lay.region}"


def test_us_states_and_crops_keep_their_contract() -> None:
    """``plate_crop(rng, bg) -> (img, text, region)`` as the reader's data and benchmarks call it."""
    rng = np.random.default_rng(12)
    bg = np.full((300, 400, 3), 90, np.uint8)
    for _ in range(40):
        img, text, region = synth.plate_crop(rng, bg)
        assert img.ndim == 3 and PLATE_TEXT.fullmatch(text) and regions.matches(text, region)
    for lay in [lay for lay in LAYOUTS if lay.us][:10]:
        _, text = synth.render(lay, rng)
        assert regions.matches(text, lay.region)


def test_layout_names_are_unique() -> None:
    names = [name for name, _, _ in variants()]
    assert len(names) == len(set(names))
    assert len({layout_name(lay) for lay in LAYOUTS}) == len(LAYOUTS)


def test_two_row_plates_are_taller_and_squarer() -> None:
    rng = np.random.default_rng(13)
    two_row = [lay for _, lay, two in variants() if two]
    assert len({lay.region for lay in two_row}) >= 8
    for lay in two_row:
        one, _ = synth.render(lay, rng, two=False)
        two, _ = synth.render(lay, rng, two=True)
        assert two.shape[0] > 1.5 * one.shape[0]
        assert two.shape[1] / two.shape[0] < one.shape[1] / one.shape[0]


def test_emblems_are_drawn_between_the_character_groups() -> None:
    """The same plate with and without its emblem differs, and (but for the Swiss shields at
    the ends) only inside the character area: the emblem sits between groups."""
    for name, lay, two in variants():
        if not lay.emblem:
            continue
        fmts = tuple(f for f in lay.formats if "*" in f)
        lay = replace(lay, formats=fmts, rows2=tuple(f for f in lay.rows2 if "*" in f) or lay.rows2)
        for seed in range(3):
            with_emblem, text = synth.render(lay, np.random.default_rng(seed), two=two, emblems=True)
            without, text2 = synth.render(lay, np.random.default_rng(seed), two=two, emblems=False)
            assert text == text2
            diff = np.abs(with_emblem.astype(np.int16) - without.astype(np.int16)).sum(-1) > 30
            assert diff.sum() > 0.004 * diff.size, f"{name}: no emblem drawn"
            if lay.region == "ch":
                continue
            cols = np.flatnonzero(diff.any(0))
            w = diff.shape[1]
            assert cols.min() > 0.1 * w and cols.max() < 0.9 * w, f"{name}: emblem not between groups"


def test_the_mix_keeps_every_group_and_spreads_europe() -> None:
    rng = np.random.default_rng(14)
    draws = [synth.random_layout(rng) for _ in range(4000)]
    share = {g: sum(mix_group(lay) == g for lay in draws) / len(draws) for g in [*SHARES, "us"]}
    assert 0.25 < share["us"] < 0.35
    for group in ("br", "ar", "es"):
        assert share[group] > 0.03, group
    europe = {lay.region for lay in draws if mix_group(lay) == "europe"}
    assert len(europe) >= 40


# What each country issues, from its registration rules (not from the renderer's tables): the
# letters never on a plate, and how the plate opens.
NEVER_ISSUED = {
    "es": "AEIOUQ",  # no vowels, Q or Ñ since 2000
    "it": "IOQU",
    "fr": "IOU",
    "gb": "IQ",
    "nl": "AEIOUYCQ",  # no vowels or Y, C and Q pass for 0
    "se": "IQV",
    "cz": "GOQW",
    "mx": "IOQ",
}
OPENS = {
    "cz": re.compile(r"[1-9][ABCEHJKLMPSTUZ]"),  # series digit 1-9, then the region's letter
    "be": re.compile(r"[12][A-Z]"),  # the 1- and 2- series
    "ie": re.compile(r"(1[3-9][12]|2[0-6][12]|8[7-9]|9[0-9]|0[0-9]|1[0-2])[A-Z]"),  # the year (and half)
    "in": re.compile(r"[A-Z]{2}[0-9]{2}[A-HJ-NP-Z]{1,2}[0-9]{4}"),  # state, district, series without I O
}


def test_plates_carry_only_what_their_country_issues() -> None:
    """A letter no real plate of a country carries teaches the reader an ambiguity its real
    plates do not have (a Spanish ``O`` beside a ``0``), and the layout benchmark then scores
    plates that cannot exist."""
    rng = np.random.default_rng(15)
    checked = set()
    for name, lay, two in variants():
        country = lay.region
        if country not in NEVER_ISSUED and country not in OPENS:
            continue
        checked.add(country)
        for _ in range(60):
            _, text = synth.render(lay, rng, two=two)
            banned = set(NEVER_ISSUED.get(country, "")) & set(text)
            assert not banned, f"{name}: {text} carries {''.join(sorted(banned))}"
            if country in OPENS:
                assert OPENS[country].match(text), f"{name}: {text} does not open as {country} plates do"
    assert checked == set(NEVER_ISSUED) | set(OPENS)
