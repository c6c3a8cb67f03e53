"""The vehicle type the API returns on real scenes, not only on the vehicles set's crops.

Through the API the classifier sees the box ``VehicleBoxFactors`` cuts around a plate (a close
front or rear view). A classifier trained only on elevated roadside crops called nearly every
car there a truck or a van, so these tests classify real car scenes: the bundled samples, the
labelled dev scenes of the fixture set (tests/data) and, marked ``data``, those of the full data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_alpr.engine.runtime import model_path
from edge_alpr.engine.vehicle import VehicleBoxFactors, VehicleClassifier
from edge_alpr.imaging import decode
from edge_alpr.recognizer import RecognizeOptions
from edge_alpr.types import Box
from scripts.eval import vehicle_scenes

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "edge_alpr" / "samples"

# The bundled samples are rear views of cars (edge_alpr/samples/README.md).
CAR_SAMPLES = sorted(p.name for p in SAMPLES.glob("*.jpg"))


@pytest.fixture(scope="module")
def classifier() -> VehicleClassifier:
    return VehicleClassifier(model_path(None, "vehicle"))


@pytest.mark.parametrize("name", CAR_SAMPLES)
def test_car_scene_is_a_car(classifier: VehicleClassifier, sample_labels: dict[str, Any], name: str) -> None:
    """The box the service cuts around the labelled plate of a car photo is classified ``Car``."""
    image = decode((SAMPLES / name).read_bytes(), 10**8)
    plate = Box(*sample_labels[name]["plates"][0]["box"])
    read = classifier.classify(image, VehicleBoxFactors().around(plate, image.shape[1], image.shape[0]))
    assert read.type == "Car", f"{name}: {read.type} ({read.score:.2f})"


def test_api_reports_a_car_on_a_car_photo(recognizer: Any) -> None:
    """End to end: the recognizer's result for a car photo carries vehicle type ``Car``."""
    image = decode((SAMPLES / CAR_SAMPLES[3]).read_bytes(), 10**8)
    results = recognizer.recognize(image, RecognizeOptions())
    assert results, "no plate found on the sample"
    assert [r.vehicle.type for r in results] == ["Car"] * len(results)


def test_scene_labels_are_well_formed() -> None:
    """Every label names a detection set, a box, one of the classifier's classes (or skip) and a split."""
    side = json.loads(model_path(None, "vehicle").with_suffix(".json").read_text())
    rows = [json.loads(x) for x in vehicle_scenes.LABELS.read_text().splitlines() if x.strip()]
    assert len({(r["set"], r["image"]) for r in rows}) == len(rows), "an image is labelled twice"
    for r in rows:
        assert r["class"] in {*side["labels"], "skip"} and r["split"] in {"train", "dev"}
        x1, y1, x2, y2 = r["box"]
        assert 0 <= x1 < x2 and 0 <= y1 < y2


def test_held_out_scenes_are_a_fixed_fifth_of_train() -> None:
    """The held-out scenes (used to choose models) never overlap the trained-on ones."""
    train = vehicle_scenes.scene_items("train")
    held = vehicle_scenes.scene_items("held_out")
    assert not {(i.path, i.box) for i in train} & {(i.path, i.box) for i in held}
    assert len(held) == (len(train) + len(held)) // vehicle_scenes.HOLD_EVERY


def test_fixture_scene_cars_are_cars(classifier: VehicleClassifier) -> None:
    """The labelled dev scenes that the fixture set holds (12 Romanian frames, all cars: the
    shipped model calls all 12 ``Car``) come back ``Car``."""
    cars = [i for i in vehicle_scenes.scene_items("dev") if i.label == "car" and i.path.exists()]
    m = vehicle_scenes.measure(classifier, cars)
    assert m["n"] >= 12 and m["api_type_accuracy"] >= 0.8, m


@pytest.mark.data
def test_dev_scene_cars_are_cars(classifier: VehicleClassifier, full_data: Path) -> None:
    """On the labelled dev scenes most cars come back ``Car`` (the shipped model's floor)."""
    cars = [i for i in vehicle_scenes.scene_items("dev") if i.label == "car"]
    m = vehicle_scenes.measure(classifier, cars)
    assert m["n"] >= 100 and m["api_type_accuracy"] >= 0.8, m
