"""The motion gate: still scenes skip recognition, a vehicle entering never does.

Frames are real dev images (edge_alpr/samples) with real sensor-like noise added; the loop
test runs the real recognizer and counts how often it was called.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from edge_alpr.errors import ConfigError
from edge_alpr.stream.config import CameraConfig, EventConfig
from edge_alpr.stream.loop import CameraLoop, ZoneMask
from edge_alpr.stream.motion import MotionConfig, MotionGate
from edge_alpr.stream.sources import FrameSource
from edge_alpr.types import Frame

SAMPLES = Path(__file__).resolve().parent.parent / "edge_alpr" / "samples"
H, W = 480, 640


def scene(name: str) -> np.ndarray:
    return np.asarray(Image.open(SAMPLES / name).convert("RGB").resize((W, H)))


def noisy(image: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    """Sensor noise of a real camera on a still scene."""
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def with_car(background: np.ndarray, car: np.ndarray, x: int, width: int = W // 2) -> np.ndarray:
    """A half-scale vehicle image, ``width`` columns of it, pasted over the background at ``x``."""
    out = background.copy()
    small = car[::2, ::2][: H // 2, :width]
    out[H // 4 : H // 4 + small.shape[0], x : x + small.shape[1]] = small
    return out


def test_still_frames_are_skipped_until_refresh_and_motion_wakes_it() -> None:
    rng = np.random.default_rng(0)
    empty, car = scene("01_romanian_t37.jpg"), scene("02_romanian_t485.jpg")
    gate = MotionGate(MotionConfig(refresh_s=2.0))
    assert gate.wants(noisy(empty, rng), 0.0, following=False)  # first frame: no reference
    still = [gate.wants(noisy(empty, rng), 0.1 * i, following=False) for i in range(1, 15)]
    assert not any(still), "sensor noise on a still scene must not wake the detector"
    assert gate.wants(noisy(empty, rng), 2.05, following=False)  # the refresh
    assert gate.wants(noisy(with_car(empty, car, 100), rng), 2.1, following=False)
    assert gate.wants(noisy(with_car(empty, car, 100), rng), 2.2, following=True)  # following
    assert gate.skipped == 14


def test_a_clock_stepping_back_counts_as_a_refresh() -> None:
    image = scene("05_romanian_night_t155.jpg")
    gate = MotionGate(MotionConfig(refresh_s=2.0))
    assert gate.wants(image, 100.0, following=False)
    assert not gate.wants(image, 100.5, following=False)
    assert gate.wants(image, 40.0, following=False)  # NTP stepped the clock back a minute
    assert not gate.wants(image, 40.5, following=False)


def test_motion_outside_the_zone_is_ignored() -> None:
    rng = np.random.default_rng(1)
    empty, car = scene("03_romanian_t604.jpg"), scene("04_romanian_t891.jpg")
    right_half = ZoneMask(((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)))
    gate = MotionGate(MotionConfig(), right_half.mask)
    assert gate.wants(empty, 0.0, following=False)
    # left half only (two thumbnail blocks clear of the zone's edge)
    assert not gate.wants(noisy(with_car(empty, car, 0, W // 2 - 32), rng), 0.1, following=False)
    assert gate.wants(noisy(with_car(empty, car, W // 2), rng), 0.2, following=False)  # right


def test_threshold_zero_turns_the_gate_off_and_config_is_checked() -> None:
    image = scene("05_romanian_night_t155.jpg")
    gate = MotionGate(MotionConfig(threshold=0))
    assert all(gate.wants(image, 0.1 * i, following=False) for i in range(5))
    camera = CameraConfig.from_dict({"id": "c", "source": {"kind": "folder"}, "motion": {"threshold": 0}}, "t")
    assert camera.motion.threshold == 0
    with pytest.raises(ConfigError, match="motion.min_area"):
        CameraConfig.from_dict({"id": "c", "source": {"kind": "folder"}, "motion": {"min_area": 2}}, "t")
    with pytest.raises(ConfigError, match="'treshold'"):
        CameraConfig.from_dict({"id": "c", "source": {"kind": "folder"}, "motion": {"treshold": 5}}, "t")


class ListSource(FrameSource):
    """An in-memory frame source (a file-like source: not live) over prepared frames."""

    def __init__(self, frames: list[np.ndarray], fps: float) -> None:
        super().__init__("gate")
        start = datetime(2026, 11, 26, tzinfo=timezone.utc)
        self.frames = [Frame(f, timestamp=start + timedelta(seconds=i / fps), index=i,
                             camera_id="gate") for i, f in enumerate(frames)]

    def read(self, timeout: float) -> Frame | None:
        from edge_alpr.stream.sources import SourceEnded

        if not self.frames:
            raise SourceEnded()
        return self.frames.pop(0)

    def close(self) -> None:
        self.frames = []


def test_loop_skips_a_still_scene_but_reports_the_vehicle(recognizer: Any, sample_labels: Any) -> None:
    rng = np.random.default_rng(2)
    name = "06_romanian_t773.jpg"
    car = np.asarray(Image.open(SAMPLES / name).convert("RGB"))
    empty = np.full_like(car, 95)
    frames = [noisy(empty, rng) for _ in range(40)] + [noisy(car, rng) for _ in range(5)] + \
             [noisy(empty, rng) for _ in range(40)]
    calls: list[int] = []

    def recognize(image: np.ndarray) -> Any:
        calls.append(1)
        return recognizer.recognize(image)

    events: list[Any] = []
    loop = CameraLoop(CameraConfig(id="gate"), EventConfig(max_prediction_delay=0.3),
                      ListSource(frames, fps=10), recognize, events.append, threading.Event())
    loop.run()
    assert loop.stats.frames_still >= 60, loop.stats
    assert len(calls) == loop.stats.frames_processed <= 25
    expected = sample_labels[name]["plates"][0]["text"].upper()
    assert len(events) == 1
    read = events[0].result.read.plate.upper()
    assert len(read) == len(expected) and \
        sum(r != e for r, e in zip(read, expected, strict=True) if e != "?") <= 1, (read, expected)
