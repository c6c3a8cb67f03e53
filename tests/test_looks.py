"""Looks (``models.fine_pass: looks``): the finer pass only where the whole-image map points."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from data_paths import FIXTURE, plate_scenes

from edge_alpr.engine import looks
from edge_alpr.engine.detector import WholePass
from edge_alpr.engine.preprocess import Letterbox
from edge_alpr.imaging import decode
from edge_alpr.recognizer import RecognizeOptions
from edge_alpr.types import Box, Detection

ROMANIAN = FIXTURE / "detection" / "romanian"


def scenes() -> list[tuple[Path, list[Box]]]:
    return plate_scenes(ROMANIAN)


def lit(*cells: tuple[int, int, float]) -> WholePass:
    """A whole-image pass whose 80 x 80 map is dark but at ``cells`` (row, col, probability);
    canvas = image / 4, so cell (r, c) is centred on image pixel (16 c + 8, 16 r + 8)."""
    prob = np.zeros((80, 80), np.float32)
    for r, c, p in cells:
        prob[r, c] = p
    return WholePass([[]], prob, Letterbox(scale=0.25, pad_x=0, pad_y=0))


def centre(lk: looks.Look) -> tuple[float, float]:
    return lk.x0 + lk.w / 2, lk.y0 + lk.h / 2


def test_a_look_is_centred_on_each_lit_spot_and_stays_inside_the_image(recognizer: Any) -> None:
    det, (w, h) = recognizer.detector, (1280, 720)
    size = looks.look_size(det, w, h, 3, 0.2)
    assert size[0] == pytest.approx(2 * size[1], abs=1), "a look is as wide as two of its heights, as its canvas cell"
    placed = looks.place(det, lit((20, 40, 0.6), (2, 78, 0.5), (30, 10, 0.1)), 0.3, size, w, h, [], 9)
    assert len(placed) == 2, "the spot under the gate gets no look"
    first, corner = placed
    assert centre(first) == pytest.approx((648, 328), abs=1)  # the brighter spot first
    assert (corner.x0 + corner.w, corner.y0) == (w, 0), "a spot at the corner: the look is pushed inside"
    assert all(0 <= lk.x0 and lk.x0 + lk.w <= w and 0 <= lk.y0 and lk.y0 + lk.h <= h for lk in placed)


def test_a_spot_near_an_earlier_look_or_inside_a_found_plate_adds_no_look(recognizer: Any) -> None:
    det, (w, h) = recognizer.detector, (1280, 720)
    size = looks.look_size(det, w, h, 3, 0.2)
    near = lit((20, 40, 0.6), (21, 42, 0.5))  # 32 px right of and 16 px below the first: inside its look
    assert len(looks.place(det, near, 0.3, size, w, h, [], 9)) == 1
    far = lit((20, 40, 0.6), (20, 40 + size[0] // 16, 0.5))  # a whole look width to the right
    assert len(looks.place(det, far, 0.3, size, w, h, [], 9)) == 2
    found = [Detection(Box(600, 300, 700, 340), 0.9)]  # the whole-image pass found the plate there already
    assert looks.place(det, lit((20, 40, 0.6)), 0.3, size, w, h, found, 9) == []


def test_a_plate_is_found_in_either_cell_of_a_canvas_and_mapped_back(recognizer: Any, sample_images: list[Path],
                                                                      sample_labels: dict[str, Any]) -> None:
    """Looks are packed into one canvas; a plate in any of its cells comes back in image pixels."""
    det = recognizer.detector
    path = sample_images[0]
    image = decode(path.read_bytes(), 40_000_000)
    h, w = image.shape[:2]
    label = Box(*sample_labels[path.name]["plates"][0]["box"])
    lw, lh = looks.look_size(det, w, h, 3, 0.2)
    cx, cy = (label.xmin + label.xmax) // 2, (label.ymin + label.ymax) // 2
    on_plate = looks.Look(min(max(0, cx - lw // 2), w - lw), min(max(0, cy - lh // 2), h - lh), lw, lh)
    sky = looks.Look(0, 0, lw, lh)  # the top-left corner: no plate
    assert on_plate.x0 > 0 and on_plate.y0 > 0 and label.xmin > on_plate.x0 and label.xmax < on_plate.x0 + lw
    for order in ([on_plate, sky], [sky, on_plate]):
        found = looks.detect_looks(det, image, order, det.threshold)
        assert [d.box.iou(label) >= 0.5 for d in found] == [True], (order, found)
        assert not found[0].clipped


def test_looks_find_the_plates_tiles_find_with_fewer_detector_runs(recognizer: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixture's 960 px dash-cam frames in default mode: at least as many labelled plates as the
    tiles find, from well under the tiles' detector runs."""
    calls = [0]
    maps = recognizer.detector.maps

    def counted(canvas: np.ndarray) -> Any:
        calls[0] += 1
        return maps(canvas)

    monkeypatch.setattr(recognizer.detector, "maps", counted)
    cfg = recognizer.cfg
    found: dict[str, int] = {}
    runs: dict[str, int] = {}
    for fine in ("tiles", "looks"):
        monkeypatch.setattr(recognizer, "cfg", replace(cfg, fine_pass=fine))
        calls[0] = hits = 0
        for path, boxes in scenes():
            dets = recognizer.detect(decode(path.read_bytes(), 40_000_000), RecognizeOptions())
            hits += sum(any(d.box.iou(b) >= 0.5 for d in dets) for b in boxes)
        found[fine], runs[fine] = hits, calls[0]
    assert found["looks"] >= found["tiles"] >= 0.9 * sum(len(b) for _, b in scenes())
    assert runs["looks"] < 0.6 * runs["tiles"], runs


def test_a_box_at_a_look_border_inside_the_image_is_clipped(recognizer: Any, sample_images: list[Path],
                                                            sample_labels: dict[str, Any]) -> None:
    """A look whose border cuts the plate marks its box ``clipped`` (the merge then prefers a whole
    box); the same cut at the image's own border is not a clip."""
    det = recognizer.detector
    path = sample_images[0]
    image = decode(path.read_bytes(), 40_000_000)
    label = Box(*sample_labels[path.name]["plates"][0]["box"])
    lw, lh = looks.look_size(det, image.shape[1], image.shape[0], 3, 0.2)
    cut = label.xmin + 2 * label.width // 3  # the look ends two thirds of the way into the plate
    y0 = (label.ymin + label.ymax - lh) // 2
    inside = looks.detect_looks(det, image, [looks.Look(cut - lw, y0, lw, lh)], 0.5)
    assert inside and all(d.clipped for d in inside if d.box.iou(label) > 0), inside
    edge = np.ascontiguousarray(image[:, :cut])  # the same cut, now the image's right edge
    at_edge = looks.detect_looks(det, edge, [looks.Look(cut - lw, y0, lw, lh)], 0.5)
    assert not any(d.clipped for d in at_edge), at_edge


def test_an_image_smaller_than_a_look_is_looked_at_whole(recognizer: Any) -> None:
    """A wide strip (a cropped camera view): looks shrink to the image instead of reading past it."""
    det = recognizer.detector
    image = np.full((120, 1400, 3), 90, np.uint8)
    size = looks.look_size(det, 1400, 120, 3, 0.2)
    assert size[1] > 120
    whole = WholePass([[]], np.full((80, 80), 0.5, np.float32), Letterbox(scale=320 / 1400, pad_x=0, pad_y=146))
    placed = looks.place(det, whole, 0.3, size, 1400, 120, [], 99)
    assert 0 < len(placed) <= 1400 // (size[0] // 4) + 1, "the map's padding above and below gets no look"
    assert all(lk.y0 == 0 and lk.h == 120 and lk.x0 + lk.w <= 1400 for lk in placed)
    assert looks.detect_looks(det, image, placed, det.threshold) == []  # a flat grey strip holds no plate


def test_an_unknown_fine_pass_is_a_config_error_naming_the_key_and_choices() -> None:
    from edge_alpr.errors import ConfigError
    from edge_alpr.models_config import ModelsConfig

    with pytest.raises(ConfigError, match="models.fine_pass.*tiles.*looks"):
        ModelsConfig.from_dict({"fine_pass": "grid"})


def test_a_map_lit_up_all_over_runs_the_gated_tiles_instead(recognizer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Looks never cost more detector runs than the tiles: where the looks would need more canvases
    than the gated tiles (a map lit up everywhere, e.g. a hostile image), the tiles run.  The map
    is replaced to stand for one lit up everywhere: the choice is what is under test."""
    det = recognizer.detector
    ran: list[str] = []
    monkeypatch.setattr(looks, "detect_looks", lambda *a, **kw: ran.append("looks") or [])
    monkeypatch.setattr(det, "detect_tiled", lambda *a, **kw: ran.append("tiles") or [])
    monkeypatch.setattr(det, "maps", lambda canvas: (np.full((80, 80), 0.4, np.float32),
                                                     np.zeros((80, 80, 4), np.float32)))
    image = np.full((720, 1280, 3), 90, np.uint8)
    monkeypatch.setattr(recognizer, "cfg", replace(recognizer.cfg, fine_pass="looks", tile_gate=0.3))
    recognizer.detect(image, RecognizeOptions())
    assert ran == ["tiles"], "every cell lit: more looks than 9 tiles' worth of canvases"
    placed = looks.place(det, det.detect_pass(image, (0.85,)), 0.3, looks.look_size(det, 1280, 720, 3, 0.2),
                         1280, 720, [], 18)
    assert len(placed) == 19, "placing stops once the looks are more than the tiles would cost"
    ran.clear()
    monkeypatch.setattr(recognizer, "cfg", replace(recognizer.cfg, tile_gate=0.0))
    recognizer.detect(image, RecognizeOptions())
    assert ran == ["tiles"], "without a gate every map cell would want a look: the tiles run"
