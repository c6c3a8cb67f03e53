"""The tile gate: default mode runs the finer pass only where the whole-image map lights up."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from data_paths import FIXTURE, plate_scenes

from edge_alpr.engine.detector import WholePass
from edge_alpr.engine.preprocess import Letterbox
from edge_alpr.imaging import decode
from edge_alpr.recognizer import RecognizeOptions
from edge_alpr.types import Box

ROMANIAN = FIXTURE / "detection" / "romanian"


def scenes() -> list[tuple[Path, list[Box]]]:
    return plate_scenes(ROMANIAN)


def test_interest_is_the_map_maximum_inside_the_window(recognizer: Any) -> None:
    det = recognizer.detector
    prob = np.zeros((80, 80), np.float32)
    prob[10, 60] = 0.7  # map cell (row 10, col 60) = canvas pixel (240, 40) = image pixel (480, 80)
    whole = WholePass([[]], prob, Letterbox(scale=0.5, pad_x=0, pad_y=0))
    assert det.interest(whole, (400, 0, 200, 200)) == pytest.approx(0.7)
    assert det.interest(whole, (0, 0, 200, 200)) == 0.0
    assert det.interest(whole, (1000, 1000, 50, 50)) == 0.0  # outside the map: nothing to look at


def test_the_gate_keeps_every_plate_and_skips_dark_tiles(recognizer: Any) -> None:
    """960-px Romanian dash-cam frames (tiled in default mode): with the shipped gate the same
    labelled plates are found as with every tile, from fewer tiles."""
    runs: list[int] = []
    tiled = recognizer.detector.detect_tiled

    def counted(*a: Any, **kw: Any) -> Any:
        runs.append(len(a[4]))
        return tiled(*a, **kw)

    cfg = recognizer.cfg
    assert cfg.tile_gate > 0, "the shipped default gates the tiles"
    found: dict[float, int] = {}
    try:
        recognizer.detector.detect_tiled = counted
        for gate in (0.0, cfg.tile_gate):
            recognizer.cfg = replace(cfg, tile_gate=gate)
            hits = 0
            for path, boxes in scenes():
                dets = recognizer.detect(decode(path.read_bytes(), 40_000_000), RecognizeOptions())
                hits += sum(any(d.box.iou(b) >= 0.5 for d in dets) for b in boxes)
            found[gate] = hits
    finally:
        recognizer.cfg = cfg
        del recognizer.detector.detect_tiled
    n = len(scenes())
    every, gated = runs[:n], runs[n:]
    assert every == [9] * n
    assert found[cfg.tile_gate] == found[0.0] and found[0.0] >= 0.9 * sum(len(b) for _, b in scenes())
    assert sum(gated) < 0.6 * sum(every), gated


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_a_gate_outside_0_1_is_a_config_error_naming_the_key(value: float) -> None:
    from edge_alpr.errors import ConfigError
    from edge_alpr.models_config import ModelsConfig

    with pytest.raises(ConfigError, match="models.tile_gate"):
        ModelsConfig.from_dict({"tile_gate": value})
