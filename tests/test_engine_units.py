"""Unit tests of the model-free parts of the engine: box decoding, beam search, regions,
image decoding and request-config parsing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_alpr.engine import regions
from edge_alpr.engine.boxes import components, decode
from edge_alpr.engine.detector import Detector
from edge_alpr.engine.preprocess import Letterbox, letterbox, letterbox_to
from edge_alpr.engine.reader import rerank
from edge_alpr.engine.region_hints import ALPHA3
from edge_alpr.engine.runtime import model_path
from edge_alpr.engine.slots import beam, fit_templates
from edge_alpr.errors import InputError
from edge_alpr.imaging import decode as decode_image
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions
from edge_alpr.types import Box, Candidate, Detection


def test_components_are_4_connected() -> None:
    m = np.zeros((6, 6), bool)
    m[0, 0] = m[0, 1] = True  # one blob
    m[2, 2] = True  # diagonal neighbours are separate
    m[3, 3] = True
    assert sorted(len(c) for c in components(m)) == [1, 1, 2]


def test_decode_recovers_a_box_from_distances() -> None:
    prob = np.zeros((10, 10), np.float32)
    dist = np.zeros((10, 10, 4), np.float32)
    # a plate from x 8..24, y 12..20 (canvas px) seen by cells whose centres lie inside it
    for gy in range(10):
        for gx in range(10):
            cx, cy = (gx + 0.5) * 4, (gy + 0.5) * 4
            if 8 <= cx < 24 and 12 <= cy < 20:
                prob[gy, gx] = 0.9
                dist[gy, gx] = ((cx - 8) / 2, (cy - 12) / 2, (24 - cx) / 2, (20 - cy) / 2)
    dets = decode(prob, dist, 4, 2.0, 0.5, Letterbox(0.5, 0, 0), 100, 100)
    assert len(dets) == 1
    b = dets[0].box
    assert (b.xmin, b.ymin, b.xmax, b.ymax) == (16, 24, 48, 40)  # canvas / scale 0.5
    assert dets[0].score == pytest.approx(0.9)


def test_letterbox_maps_back() -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    canvas, lb = letterbox(img, 320)
    assert canvas.shape == (320, 320, 3)
    assert lb.to_image(lb.pad_x, lb.pad_y) == (0, 0)
    assert lb.to_image(320 - lb.pad_x, 320 - lb.pad_y) == pytest.approx((200, 100), abs=1)


def test_letterbox_to_a_wide_canvas_centres_and_maps_back() -> None:
    img = np.full((720, 1280, 3), 200, np.uint8)
    img[:, :640] = 10  # the left half dark: the placement is visible in the canvas
    canvas, lb = letterbox_to(img, 576, 352)
    assert canvas.shape == (352, 576, 3) and lb.scale == pytest.approx(0.45)
    assert (lb.pad_x, lb.pad_y) == (0, 14)  # 576x324 centred on 352 rows
    assert canvas[0, 0, 0] == 114 and canvas[14, 10, 0] == 10 and canvas[337, 570, 0] == 200
    assert canvas[338, 570, 0] == 114
    assert lb.to_image(576, 338) == pytest.approx((1280, 720), abs=1)


def test_beam_ranks_and_merges_pad_positions() -> None:
    alphabet, pad = "AB", 2
    probs = np.array([[0.9, 0.1, 0.0], [0.3, 0.6, 0.1], [0.0, 0.0, 1.0]])
    cands = beam(probs, alphabet, pad, width=4, top_n=3)
    assert [c.plate for c in cands][:2] == ["AB", "AA"]
    assert cands[0].score == pytest.approx(0.54)


def test_fit_templates_finds_the_best_reading_under_each_template() -> None:
    alphabet, pad = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ?", 37
    probs = np.full((10, 38), 0.001)
    # "GNF3490" where slot 0 is a close call between '5' (a digit) and 'G' (a letter)
    for i, c in enumerate("GNF3490"):
        probs[i, alphabet.index(c)] = 0.9
    probs[0, alphabet.index("G")], probs[0, alphabet.index("5")] = 0.3, 0.6
    probs[7:, pad] = 0.9
    assert beam(probs, alphabet, pad, width=1, top_n=1)[0].plate == "5NF3490"
    br = fit_templates(probs, alphabet, pad, regions.templates("br"))
    assert len(br) == len(regions.templates("br")) and "GNF3490" in {c.plate for c in br}
    best = max(br, key=lambda c: c.score)
    assert best.plate == "GNF3490" and 0 < best.score < 0.3
    assert fit_templates(probs, alphabet, pad, ("L" * 11,)) == []  # longer than the slots


def test_rerank_prefers_a_fitting_reading_unless_it_is_far_behind() -> None:
    beam_cands = [Candidate("5NF3490", 0.6), Candidate("GNF3490", 0.3)]
    fitted = [Candidate("GNF3490", 0.3), Candidate("GNF3A90", 0.0001)]
    out = rerank(beam_cands, fitted, ("br",), 0.05)
    assert [c.plate for c in out][:2] == ["GNF3490", "5NF3490"]
    assert len({c.plate for c in out}) == len(out)  # a plate appears once
    # a foreign plate read clearly stays as it is: the fitting reading is under 5 % of it
    clear = rerank([Candidate("AB12CDE", 0.9)], [Candidate("ABC1234", 0.01)], ("br",), 0.05)
    assert clear[0].plate == "AB12CDE"


def test_an_unknown_region_names_a_handful_of_near_codes_not_the_list() -> None:
    assert regions.validate_regions(["FR", "us-ca", "br_sc"]) == ("fr", "us-ca", "br-sc")
    for code in ("xx", "zz", "qqq", "uk"):
        with pytest.raises(InputError) as raised:
            regions.validate_regions([code])
        said = str(raised.value)
        assert said.startswith(f"unknown region {code!r}") and "edge-alpr regions" in said, said
        assert "GET /info/" in said, said  # where a remote client finds the list
        assert len(said) < 200, said  # a few codes, not the ~180
    with pytest.raises(InputError) as raised:
        regions.validate_regions(["zaxx"])
    near = str(raised.value).split("(near it: ", 1)[1].split(")", 1)[0].split(", ")
    assert 1 <= len(near) <= 5 and set(near) <= regions.ALL_REGIONS, near
    assert all("z" in code for code in near), near


def test_two_letters_get_no_near_codes_and_a_long_value_is_cut() -> None:
    """Two letters are one typo from dozens of codes: the near ones would be noise.  A client's
    long value is quoted cut (``names.shown``), not sent back whole."""
    with pytest.raises(InputError) as raised:
        regions.validate_regions(["zz"])
    assert "near it" not in str(raised.value) and "e.g. gb or fr" in str(raised.value), raised.value
    with pytest.raises(InputError) as raised:
        regions.validate_regions(["q" * 5000])
    assert "(5000 characters)" in str(raised.value) and len(str(raised.value)) < 400, raised.value


@pytest.mark.parametrize(("alpha3", "code"), [("IRL", "ie"), ("UKR", "ua"), ("EST", "ee"), ("AUT", "at"),
                                              ("GBR", "gb"), ("che", "ch"), ("XKX", "xk")])
def test_a_three_letter_iso_code_names_its_two_letter_code(alpha3: str, code: str) -> None:
    """A fuzzy match guessed another country for these (IRL: il, UKR: kr, EST: es, AUT: au)."""
    with pytest.raises(InputError) as raised:
        regions.validate_regions([alpha3])
    assert str(raised.value).startswith(f"unknown region {alpha3!r} (did you mean {code!r}?"), raised.value


def test_every_listed_country_has_its_three_letter_code() -> None:
    """Checked against the ISO 3166 table (Debian's iso-codes) where the machine has it."""
    assert set(ALPHA3.values()) == set(regions.COUNTRIES)
    table = Path("/usr/share/iso-codes/json/iso_3166-1.json")
    if not table.exists():
        pytest.skip("no ISO 3166 table (Debian's iso-codes) on this machine")
    iso = {e["alpha_3"].lower(): e["alpha_2"].lower() for e in json.loads(table.read_text())["3166-1"]}
    assert {a3: c for a3, c in ALPHA3.items() if c != "xk"} == {a3: iso[a3] for a3 in ALPHA3 if a3 != "xkx"}


def test_region_patterns() -> None:
    assert regions.matches("AB12CDE", "gb")
    assert not regions.matches("ABC1234", "gb")
    assert regions.matches("1234BCD", "es")
    assert regions.matches("anything", "za")  # no template known: never rejects


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_decode_rejects_bad_images() -> None:
    with pytest.raises(InputError, match="empty"):
        decode_image(b"", 10**6)
    with pytest.raises(InputError, match="not a supported image"):
        decode_image(b"hello world", 10**6)
    with pytest.raises(InputError, match="truncated"):
        decode_image(_png(50, 50)[:60], 10**6)
    with pytest.raises(InputError) as e:
        decode_image(_png(200, 200), 1000)
    assert e.value.status == 413 and "1000" in str(e.value)


def test_decode_applies_exif_orientation() -> None:
    im = Image.new("RGB", (40, 20), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    assert decode_image(buf.getvalue(), 10**6).shape[:2] == (40, 20)


def test_request_config_parsing() -> None:
    o = RecognizeOptions.from_request_config('{"mode":"fast","threshold_d":0.2,"region":"strict"}', ("gb",))
    assert (o.mode, o.threshold_d, o.region_strict, o.regions) == ("fast", 0.2, True, ("gb",))
    for bad, msg in [("{", "not valid JSON"), ('{"mode":"turbo"}', "turbo"), ('{"threshold_d":2}', "between 0 and 1"),
                     ('{"colour":1}', "unknown config key 'colour'"), ("[1]", "JSON object")]:
        with pytest.raises(InputError, match=msg):
            RecognizeOptions.from_request_config(bad)


def test_models_config_is_strict() -> None:
    from edge_alpr.errors import ConfigError

    assert ModelsConfig.from_dict({"threads": 2}).threads == 2
    with pytest.raises(ConfigError, match="unknown key 'thread'"):
        ModelsConfig.from_dict({"thread": 2})
    with pytest.raises(ConfigError, match="runtime"):
        ModelsConfig.from_dict({"runtime": "tensorflow"})


def _tiled_detector(monkeypatch: pytest.MonkeyPatch, found: list) -> Detector:
    """The real detector whose per-tile ``detect`` returns ``found`` (tile pixels) in every tile:
    the tiling geometry is what is under test, not the model."""
    det = Detector(model_path(None, "detector"))
    monkeypatch.setattr(det, "detect", lambda image, threshold=None: list(found))
    return det


def test_tile_boxes_at_inner_tile_borders_are_marked_clipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # 3 x 3 tiles over 400 x 400 with overlap 0.2: 153 px tiles at 0, 122 and 247 (ending at the edge)
    image = np.zeros((400, 400, 3), np.uint8)
    inside = Detection(Box(50, 50, 90, 70), 0.9)
    at_right = Detection(Box(113, 50, 153, 70), 0.9)  # touches its tile's right border
    out = _tiled_detector(monkeypatch, [inside, at_right]).detect_tiled(image, 3, 0.2)
    assert len(out) == 18
    assert not any(d.clipped for d in out if d.box.xmin - 50 in (0, 122, 247))
    right = {d.box.xmax: d.clipped for d in out if d.box.xmin - 113 in (0, 122, 247)}
    # the first two columns end inside the image: clipped; the last ends at the image's edge
    assert right == {153: True, 275: True, 400: False}


@pytest.mark.parametrize("side", ["left", "top", "right", "bottom"])
def test_each_inner_tile_border_clips(monkeypatch: pytest.MonkeyPatch, side: str) -> None:
    """Tiles at 0, 122 and 247 (153 px): a box at a tile's border is clipped unless that border is
    the image's own edge."""
    box = {"left": Box(0, 50, 40, 70), "top": Box(50, 0, 90, 20), "right": Box(113, 50, 153, 70),
           "bottom": Box(50, 133, 90, 153)}[side]
    out = _tiled_detector(monkeypatch, [Detection(box, 0.9)]).detect_tiled(np.zeros((400, 400, 3), np.uint8), 3, 0.2)
    axis = {"left": 0, "top": 1, "right": 0, "bottom": 1}[side]
    origin = {d: (d.box.xmin - box.xmin, d.box.ymin - box.ymin)[axis] for d in out}
    edge = 0 if side in ("left", "top") else 247  # the tile whose border here is the image's edge
    assert {o: d.clipped for d, o in origin.items()} == {0: edge != 0, 122: True, 247: edge != 247}


def test_merge_prefers_a_whole_box_to_a_higher_scoring_clipped_one() -> None:
    """A plate crossing a tile border is also found cut short by that tile; its characters
    beyond the border would be lost if the cut box won on score."""
    det = Detector(model_path(None, "detector"))
    whole = Detection(Box(100, 50, 300, 100), 0.86)
    cut = Detection(Box(100, 50, 250, 100), 0.97, clipped=True)  # IoU 0.75 with the whole box
    elsewhere = Detection(Box(400, 50, 480, 80), 0.99, clipped=True)  # no whole rival: kept
    assert det.merge([cut, whole, elsewhere]) == [elsewhere, whole]
    # without the flag the higher score wins, as plain NMS does
    plain = Detection(cut.box, cut.score)
    assert det.merge([plain, whole]) == [plain]


@pytest.mark.parametrize("alpha3", ["CHN", "SAU", "EGY", "PNG"])
def test_another_countrys_three_letter_code_names_no_near_country(alpha3: str) -> None:
    """CHN is one letter from hn and ch, SAU from au, EGY from gy: a near spelling of a country's
    three-letter code names another country, so none is named for a code we do not list."""
    with pytest.raises(InputError) as raised:
        regions.validate_regions([alpha3])
    said = str(raised.value)
    assert said.startswith(f"unknown region {alpha3!r} ({alpha3} is no listed country's"), said
    assert "did you mean" not in said and "near it" not in said, said


@pytest.mark.parametrize(("name", "code"), [("ENG", "gb"), ("sct", "gb"), ("nir", "gb"), ("GBZ", "gi")])
def test_the_uks_nations_and_gibraltars_plate_sign_name_their_code(name: str, code: str) -> None:
    with pytest.raises(InputError) as raised:
        regions.validate_regions([name])
    assert str(raised.value).startswith(f"unknown region {name!r} (did you mean {code!r}?"), raised.value
